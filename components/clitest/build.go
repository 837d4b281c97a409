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
	// few seconds when Go's build cache has everything.
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
	root, err := moduleRoot(ctx)
	if err != nil {
		return Tools{}, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return Tools{}, fmt.Errorf("clitest: %w", err)
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(cache, "linecook", "clitest", hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Tools{}, fmt.Errorf("clitest: %w", err)
	}
	unlock, err := lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return Tools{}, err
	}
	defer unlock()
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
		start := time.Now()
		args := []string{"build", "-o", filepath.Join(dir, b.name)}
		if b.ldflags != "" {
			args = append(args, "-ldflags", b.ldflags)
		}
		if _, err := goOutput(ctx, b.dir, append(args, b.pkg)...); err != nil {
			return Tools{}, err
		}
		tools.Took[b.name] = time.Since(start)
	}
	return tools, nil
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
