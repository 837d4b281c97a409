// Package clitest runs a Pulumi YAML program through the real Pulumi CLI
// inside `go test`, offline: `pulumi up`, `pulumi config set`, `up` again,
// `pulumi destroy`, and then what the stack holds.
//
// What is real: the Pulumi CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
// at the version go.mod requires) with its engine, its file:// backend and
// its passphrase secrets; the YAML language host
// (github.com/pulumi/pulumi-yaml, in the nested module yamlhost), which
// parses and type-checks the program against the providers' schemas and
// registers its resources; and the provider plugin protocol: every
// provider is a separate process the CLI starts and talks gRPC to, one set
// per command. All three are built from source by Build and cached.
//
// What is not: the aws and awsx providers are components/enginetest's
// recording STAND-IN, served as a plugin binary (enginetest/standin). It
// serves a schema generated from the Go SDKs (so a YAML program names the
// same types and properties as against the real provider), returns
// plausible ids, ARNs and URLs, diffs old inputs against new ones, asks
// for a replacement where AWS could not update in place
// (enginetest.ReplaceKeys) and journals what it did (Calls). It validates
// NOTHING AWS would, and does not autoname: a resource's physical name is
// its logical name unless the program sets one. Other providers, such as
// linecook's own pulumi-resource-linecook, are built with BuildProvider
// and put on the PATH with Providers.
//
//	s := clitest.New(t, "testdata/queue", clitest.Config("aws:region", "us-east-1"))
//	up := s.Up()                       // preview, then update
//	up.Changes                         // {Create: 2, ...}, the CLI's summary
//	s.ConfigSet("timeout", "60")
//	s.Up().Ops()[urn]                  // "update"
//	s.Resources()                      // from `pulumi stack export`
//	s.Destroy()
//
// Build takes minutes the first time and about a second per binary once
// Go's build cache has them (then `go build -o` finds the binary up to
// date and does not even relink). Measured on the 2-core machine, with a
// fresh GOCACHE and the module cache kept, while another build ran: the
// CLI 253 s (2.2 GB peak), or 153 s when the engine is already compiled
// (as CI's test binaries leave it); the YAML host 83 s alone, 37 s after
// the CLI; the stand-in 6 s after enginetest. The demo test takes ~10 s
// warm. Tests using New skip under -short.
//
// Only tests import this package.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linecook/linecook/components/enginetest"
)

// Passphrase is the stack's secrets passphrase.
const Passphrase = "clitest"

// logBuild logs the build times in the first test that builds.
var logBuild sync.Once

// Stack is one Pulumi stack of a YAML program, in a file backend of its
// own, driven through the CLI.
type Stack struct {
	t       testing.TB
	name    string
	dir     string // the program's copy, where commands run
	env     []string
	journal string
	timeout time.Duration
	runs    int
}

// Option configures a Stack.
type Option func(*options)

type options struct {
	name      string
	config    [][2]string
	providers []string
	env       []string
	timeout   time.Duration
}

// Name names the stack (default "test").
func Name(name string) Option { return func(o *options) { o.name = name } }

// Config sets a config value ("namespace:key" or a key of the project's
// own namespace) before the first command, as `pulumi config set` does.
func Config(key, value string) Option {
	return func(o *options) { o.config = append(o.config, [2]string{key, value}) }
}

// Providers puts provider plugin binaries on the CLI's PATH, each under
// its own file name, which must be pulumi-resource-<package>: the CLI
// finds them there as ambient plugins (and says so in a warning). They
// come before the stand-ins, so one named pulumi-resource-aws replaces
// the aws stand-in.
func Providers(paths ...string) Option {
	return func(o *options) { o.providers = append(o.providers, paths...) }
}

// Env adds KEY=value environment variables to every command.
func Env(kv ...string) Option { return func(o *options) { o.env = append(o.env, kv...) } }

// Timeout bounds each command (default 5 minutes).
func Timeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// New builds the tools (Build), copies the program in dir to a temporary
// directory, sets up a PULUMI_HOME and a file:// backend of the test's
// own, and creates the stack. It skips the test under -short and fails it
// if anything does not work.
func New(t testing.TB, dir string, opts ...Option) *Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("clitest: builds and runs the real Pulumi CLI (minutes the first time); skipped under -short")
	}
	o := options{name: "test", timeout: 5 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	tools, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	logBuild.Do(func() {
		for _, name := range []string{CLI, YAMLHost, StandIn} {
			t.Logf("clitest: go build %s: %s", name, tools.Took[name].Round(time.Millisecond))
		}
	})
	tmp := t.TempDir()
	s := &Stack{t: t, name: o.name, dir: filepath.Join(tmp, "program"), journal: filepath.Join(tmp, "standin.jsonl"), timeout: o.timeout}
	if err := os.CopyFS(s.dir, os.DirFS(dir)); err != nil {
		t.Fatalf("clitest: copying the program %s: %v", dir, err)
	}
	bin := filepath.Join(tmp, "bin")
	if err := linkTools(bin, tools.Dir, o.providers); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(tmp, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	s.env = append(environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+filepath.Join(tmp, "home"),
		"PULUMI_BACKEND_URL=file://"+filepath.ToSlash(state),
		"PULUMI_CONFIG_PASSPHRASE="+Passphrase,
		"PULUMI_SKIP_UPDATE_CHECK=true",
		// Nothing is downloaded: a plugin that is not on the PATH is an
		// error, not a fetch from the internet.
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true",
		// --event-log, which Result is read from, exists only with the
		// debug commands on (the Automation API turns them on too).
		"PULUMI_DEBUG_COMMANDS=true",
		"NO_COLOR=1",
		enginetest.EnvJournal+"="+s.journal,
	)
	s.env = append(s.env, o.env...)
	if _, err := s.Run("stack", "init", s.name); err != nil {
		t.Fatal(err)
	}
	for _, kv := range o.config {
		s.ConfigSet(kv[0], kv[1])
	}
	return s
}

// environ is the test process's environment less what would point the CLI
// at another backend, home or passphrase.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PULUMI_") || k == "PATH" || k == enginetest.EnvJournal {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// linkTools makes bin the stack's PATH directory: the CLI and the YAML
// host, the stand-in under the names of the packages it serves, and the
// extra providers.
func linkTools(bin, tools string, providers []string) error {
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("clitest: %w", err)
	}
	links := map[string]string{
		CLI:                    filepath.Join(tools, CLI),
		YAMLHost:               filepath.Join(tools, YAMLHost),
		"pulumi-resource-aws":  filepath.Join(tools, StandIn),
		"pulumi-resource-awsx": filepath.Join(tools, StandIn),
	}
	for _, p := range providers {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("clitest: provider %s: %w", p, err)
		}
		name := filepath.Base(abs)
		if !strings.HasPrefix(name, "pulumi-resource-") {
			return fmt.Errorf("clitest: provider %s: the CLI finds a provider binary only by its name, pulumi-resource-<package>", p)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("clitest: provider: %w", err)
		}
		links[name] = abs
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			return fmt.Errorf("clitest: %w", err)
		}
	}
	return nil
}

// Dir is the directory the program was copied to, where the CLI runs.
func (s *Stack) Dir() string { return s.dir }

// Run runs `pulumi args...` in the program's directory with the stack's
// environment and returns its standard output. The error, if the command
// fails, includes what it printed.
func (s *Stack) Run(args ...string) (string, error) {
	s.t.Helper()
	stdout, stderr, err := s.run(args...)
	if err != nil {
		return stdout, cliError(args, err, stdout, stderr)
	}
	return stdout, nil
}

func (s *Stack) run(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	args = append(args, "--non-interactive", "--color=never")
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin(), CLI), args...)
	cmd.Dir = s.dir
	cmd.Env = s.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// The CLI stops its plugins when it gets an interrupt; a kill would
	// leave them running.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", s.timeout, err)
	}
	return plain(out.String()), plain(errb.String()), err
}

// ansi matches the terminal color codes the YAML host writes into its
// diagnostics whatever --color and NO_COLOR say.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func plain(s string) string { return ansi.ReplaceAllString(s, "") }

// Bin is the directory first on the CLI's PATH: links to the CLI, the
// YAML host, the stand-ins and the Providers.
func (s *Stack) Bin() string { return filepath.Join(filepath.Dir(s.dir), "bin") }

// cliError is a failed command's error: the command, and the end of what
// it printed (the CLI prints diagnostics on stdout, failures on stderr).
func cliError(args []string, err error, stdout, stderr string) error {
	tail := func(s string) string {
		const max = 8 << 10
		s = strings.TrimSpace(s)
		if len(s) > max {
			s = "…" + s[len(s)-max:]
		}
		return s
	}
	return fmt.Errorf("pulumi %s: %w\n--- stdout\n%s\n--- stderr\n%s", strings.Join(args, " "), err, tail(stdout), tail(stderr))
}

// ConfigSet runs `pulumi config set key value`; it fails the test if the
// CLI refuses.
func (s *Stack) ConfigSet(key, value string) {
	s.t.Helper()
	if _, err := s.Run("config", "set", key, value); err != nil {
		s.t.Fatal(err)
	}
}

// ConfigSetSecret runs `pulumi config set --secret key value`.
func (s *Stack) ConfigSetSecret(key, value string) {
	s.t.Helper()
	if _, err := s.Run("config", "set", "--secret", key, value); err != nil {
		s.t.Fatal(err)
	}
}

// Up runs `pulumi up --yes` (a preview, then the update) and fails the
// test if it fails.
func (s *Stack) Up(args ...string) *Result {
	s.t.Helper()
	return s.must(s.TryUp(args...))
}

// TryUp is Up, returning the CLI's error in the result instead of failing
// the test.
func (s *Stack) TryUp(args ...string) *Result {
	s.t.Helper()
	return s.operation("up", append([]string{"up", "--yes"}, args...))
}

// Preview runs `pulumi preview` and fails the test if it fails.
func (s *Stack) Preview(args ...string) *Result {
	s.t.Helper()
	return s.must(s.operation("preview", append([]string{"preview"}, args...)))
}

// Destroy runs `pulumi destroy --yes` and fails the test if it fails.
func (s *Stack) Destroy(args ...string) *Result {
	s.t.Helper()
	return s.must(s.TryDestroy(args...))
}

// TryDestroy is Destroy, returning the CLI's error in the result.
func (s *Stack) TryDestroy(args ...string) *Result {
	s.t.Helper()
	return s.operation("destroy", append([]string{"destroy", "--yes"}, args...))
}

func (s *Stack) must(r *Result) *Result {
	s.t.Helper()
	if r.Err != nil {
		s.t.Fatalf("%s #%d: %v", r.Op, s.runs, r.Err)
	}
	return r
}

// operation runs an engine command with an event log, and reads the
// engine's steps and summary from it.
func (s *Stack) operation(op string, args []string) *Result {
	s.t.Helper()
	s.runs++
	log := filepath.Join(filepath.Dir(s.dir), fmt.Sprintf("events-%d-%s.jsonl", s.runs, op))
	start := time.Now()
	stdout, stderr, err := s.run(append(args, "--event-log", log)...)
	r := &Result{Op: op, Stdout: stdout, Stderr: stderr, Duration: time.Since(start)}
	if err != nil {
		r.Err = cliError(args, err, stdout, stderr)
	}
	if perr := r.readEvents(log); perr != nil && !errors.Is(perr, fs.ErrNotExist) {
		r.Err = errors.Join(r.Err, perr)
	}
	return r
}

// Calls returns what the stand-in providers did so far, across every
// command, in order: its journal. Previews do nothing, so they are not
// in it.
func (s *Stack) Calls() []enginetest.Call {
	s.t.Helper()
	calls, err := enginetest.ReadJournal(s.journal)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return calls
}

// CallsOf returns the stand-in's calls with op ("create", "update",
// "delete"...).
func (s *Stack) CallsOf(op string) []enginetest.Call {
	s.t.Helper()
	return slices.DeleteFunc(s.Calls(), func(c enginetest.Call) bool { return c.Op != op })
}
