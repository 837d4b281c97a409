// Command standin serves enginetest's recording stand-in as a Pulumi
// provider plugin, for tests that run the real Pulumi CLI
// (components/clitest). It is not AWS and validates nothing AWS would.
//
// Built as pulumi-resource-aws it is the aws provider; as
// pulumi-resource-awsx, the awsx provider: the package is the binary's
// name after "pulumi-resource-". With LINECOOK_STANDIN_JOURNAL set to a
// file, it appends every create, update, delete, read and construct to it
// (enginetest.StandIn.Journal).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/pkg/v3/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/linecook/linecook/components/enginetest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "standin: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	pkg, ok := strings.CutPrefix(name, "pulumi-resource-")
	if !ok {
		return fmt.Errorf("binary %q: name it pulumi-resource-aws or pulumi-resource-awsx", name)
	}
	s := enginetest.NewStandIn()
	if path := os.Getenv(enginetest.EnvJournal); path != "" {
		if err := s.Journal(path); err != nil {
			return err
		}
	}
	// A check before serving, so a wrong name fails at once, not at the
	// engine's first call.
	if _, err := s.Provider(pkg); err != nil {
		return err
	}
	// The engine starts a process per provider it loads and configures
	// each once, so one provider object serves the whole process.
	return provider.Main(pkg, func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		p, err := s.Provider(pkg)
		if err != nil {
			return nil, err
		}
		return plugin.NewProviderServer(p), nil
	})
}
