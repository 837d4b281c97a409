package enginetest

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/pkg/v3/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	"github.com/linecook/linecook/components/awstest"
)

// Serving the stand-in as a provider plugin binary, for the real Pulumi
// CLI (components/clitest): the binary under standin/ calls Provider and
// serves the result over gRPC. Everything the in-process harness does not
// need lives here.

// EnvJournal names the environment variable that, set to a file path,
// makes the stand-in binary keep a journal there (see StandIn.Journal).
const EnvJournal = "LINECOOK_STANDIN_JOURNAL"

// versions are the packages the stand-in serves, at the versions
// linecook's SDKs request.
var versions = map[string]semver.Version{"aws": AWSVersion, "awsx": AWSXVersion}

// schemas holds each package's schema: its resources' input and output
// property names and types, generated from the Go SDKs linecook builds
// with (schema_test.go regenerates and checks it). A language host that
// type-checks a program, as the YAML host does, needs it: without it a
// YAML program cannot name an aws resource at all.
//
//go:embed schema/*.json
var schemas embed.FS

// Schema returns the schema the stand-in serves for pkg.
func Schema(pkg string) ([]byte, error) {
	b, err := fs.ReadFile(schemas, "schema/"+pkg+".json")
	if err != nil {
		return nil, fmt.Errorf("enginetest: no schema for the package %q: %w", pkg, err)
	}
	return b, nil
}

// Provider returns a new provider on s for the package pkg ("aws" or
// "awsx"): it reports the version linecook's SDKs request and serves the
// package's schema. The engine configures every provider it loads once,
// so each load needs a new one.
func (s *StandIn) Provider(pkg string) (plugin.Provider, error) {
	v, ok := versions[pkg]
	if !ok {
		return nil, fmt.Errorf("enginetest: no stand-in for the package %q (stand-ins: aws, awsx)", pkg)
	}
	schema, err := Schema(pkg)
	if err != nil {
		return nil, err
	}
	p := s.provider()
	p.Name, p.Package, p.Version = pkg, tokens.Package(pkg), v
	p.GetSchemaF = func(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
		return plugin.GetSchemaResponse{Schema: schema}, nil
	}
	return p, nil
}

// Journal makes s append every call it records to the file at path, one
// JSON object (a Call) a line, and go on from the task definition
// revisions the file already records. Under the CLI every command starts
// new provider processes, so the journal is what carries the calls and
// the revisions from one command to the next: the engine hands a provider
// the old state in Diff, Update and Delete, so nothing else needs to
// carry over. Processes of one command may share the file: each call is
// one append-mode write.
func (s *StandIn) Journal(path string) error {
	calls, err := ReadJournal(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("enginetest: journal: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range calls {
		if c.Op == "create" && c.Type == awstest.ECSTaskDefinition {
			family, _ := c.Inputs["family"].(string)
			s.revisions[family]++
		}
	}
	s.journal = f
	return nil
}

// append writes c to the journal; s.mu is held.
func (s *StandIn) append(c Call) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("enginetest: journal %s %s: %w", c.Op, c.URN, err)
	}
	if _, err := s.journal.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("enginetest: journal %s %s: %w", c.Op, c.URN, err)
	}
	return nil
}

// ReadJournal returns the calls the journal at path records, in order.
func ReadJournal(path string) ([]Call, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("enginetest: journal: %w", err)
	}
	defer f.Close()
	var calls []Call
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("enginetest: journal %s line %d: %w", path, n, err)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("enginetest: journal %s: %w", path, err)
	}
	return calls, nil
}
