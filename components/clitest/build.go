package clitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The binaries a stack runs, as Build leaves them in its directory.
const (
	CLI      = "pulumi"
	YAMLHost = "pulumi-language-yaml"
	// StandIn is enginetest's stand-in provider; a stack puts it on PATH
	// as pulumi-resource-aws and pulumi-resource-awsx.
	StandIn = "linecook-standin"
)

// Where the tools come from, relative to the module root: the CLI and the
// stand-in build in the main module (go.mod's tool directive keeps the
// CLI's packages required); the YAML host only builds against the older
// pkg/sdk of its own go.mod, so it builds in that nested module.
const (
	cliPackage      = "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
	yamlHostPackage = "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
	yamlHostModule  = "components/clitest/yamlhost"
	standInPackage  = "./components/enginetest/standin"
	versionVar      = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
	yamlVersionVar  = "github.com/pulumi/pulumi-yaml/pkg/version.Version"
)

// Tools are the built binaries and how long building them took.
type Tools struct {
	// Dir holds CLI, YAMLHost and StandIn.
	Dir string
	// Took is how long each `go build` took, by binary: minutes cold, a
	// second or so when Go's build cache has everything.
	Took map[string]time.Duration
}

var (
	buildOnce  sync.Once
	builtTools Tools
	buildErr   error
)

// Build builds the Pulumi CLI (at the pkg version go.mod requires), the
// YAML language host and the stand-in provider from source, once per
// test process, into a directory under the user's cache directory (one
// per checkout, so two worktrees do not overwrite each other's). It runs
// `go build -o` every time and leaves it to Go to find the binary up to
// date: Go's build cache holds the compiled packages, so a warm build is
// a relink at most.
func Build() (Tools, error) {
	buildOnce.Do(func() { builtTools, buildErr = build(context.Background()) })
	return builtTools, buildErr
}

func build(ctx context.Context) (Tools, error) {
	root, dir, err := workspace(ctx)
	if err != nil {
		return Tools{}, err
	}
	version, err := goOutput(ctx, root, "list", "-m", "-f", "{{.Version}}", "github.com/pulumi/pulumi/pkg/v3")
	if err != nil {
		return Tools{}, err
	}
	yamlVersion, err := goOutput(ctx, filepath.Join(root, yamlHostModule), "list", "-m", "-f", "{{.Version}}", "github.com/pulumi/pulumi-yaml")
	if err != nil {
		return Tools{}, err
	}
	tools := Tools{Dir: dir, Took: map[string]time.Duration{}}
	for _, b := range []struct {
		name, dir, pkg, ldflags string
	}{
		// Without the version the CLI reports none, and treats itself as
		// a development build.
		{CLI, root, cliPackage, "-X " + versionVar + "=" + version},
		{YAMLHost, filepath.Join(root, yamlHostModule), yamlHostPackage, "-X " + yamlVersionVar + "=" + yamlVersion},
		{StandIn, root, standInPackage, ""},
	} {
		took, err := goBuild(ctx, b.dir, filepath.Join(dir, b.name), b.pkg, b.ldflags)
		if err != nil {
			return Tools{}, err
		}
		tools.Took[b.name] = took
	}
	return tools, nil
}

// BuildProvider builds a provider plugin binary from the main package pkg
// of the main module (a path such as "./cmd/pulumi-resource-linecook",
// relative to the module root) into the tools' directory as name, which
// must be pulumi-resource-<package>, and returns its path, for Providers.
// Like Build, it leaves it to go build to find the binary up to date.
func BuildProvider(t testing.TB, name, pkg string) string {
	t.Helper()
	if !strings.HasPrefix(name, "pulumi-resource-") {
		t.Fatalf("clitest: provider %s: the CLI finds a provider binary only by its name, pulumi-resource-<package>", name)
	}
	ctx := context.Background()
	root, dir, err := workspace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	took, err := goBuild(ctx, root, path, pkg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("clitest: go build %s: %s", name, took.Round(time.Millisecond))
	return path
}

// workspace returns the main module's root and the checkout's tools
// directory, which it creates.
func workspace(ctx context.Context) (root, dir string, err error) {
	root, err = moduleRoot(ctx)
	if err != nil {
		return "", "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("clitest: %w", err)
	}
	sum := sha256.Sum256([]byte(root))
	dir = filepath.Join(cache, "linecook", "clitest", hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("clitest: %w", err)
	}
	return root, dir, nil
}

// goBuild runs `go build -o out pkg` in dir, holding the tools
// directory's lock: `go test ./...` runs packages in parallel, and two
// that use clitest must not write the same binary at once.
func goBuild(ctx context.Context, dir, out, pkg, ldflags string) (time.Duration, error) {
	unlock, err := lock(filepath.Join(filepath.Dir(out), ".lock"))
	if err != nil {
		return 0, err
	}
	defer unlock()
	start := time.Now()
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	if _, err := goOutput(ctx, dir, append(args, pkg)...); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// moduleRoot is the directory of the main module's go.mod: tests run in
// their package's directory, inside it.
func moduleRoot(ctx context.Context) (string, error) {
	gomod, err := goOutput(ctx, ".", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("clitest: not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// goOutput runs the go command in dir and returns its trimmed output, or
// an error with what it printed.
func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("clitest: go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}
