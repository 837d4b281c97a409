package local

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/linecook/linecook/tools/image"
)

// modulePath is linecook's Go module, whose cmd/linecookd is the binary of
// the image: the one program every local task runs.
const modulePath = "github.com/linecook/linecook"

// Linecookd returns the path of a linecookd binary to run tasks with.
// Inside linecook's own module (a checkout, where `go run ./cmd/linecook`
// runs) it builds cmd/linecookd into dir with the go tool, so a local run
// always runs the code beside it; elsewhere it takes the linecookd next to
// the running executable, then one on PATH.
func Linecookd(ctx context.Context, dir string) (string, error) {
	if root, ok := moduleRoot(); ok {
		out := filepath.Join(dir, "linecookd")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/linecookd")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("local: build linecookd: %v\n%s", err, b)
		}
		return out, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "linecookd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("linecookd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("local: no linecookd: run from a linecook checkout, or install it (go install %s/cmd/linecookd@latest)", modulePath)
}

// moduleRoot finds the directory of linecook's go.mod at or above the
// working directory.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			ok := sc.Scan() && strings.TrimSpace(sc.Text()) == "module "+modulePath
			f.Close()
			if ok {
				return dir, true
			}
			return "", false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// LinecookdFromImage builds the linecook image as `linecook image build`
// does and returns its linecookd for this machine's architecture,
// extracted into dir: byte for byte the binary ECS runs. The image is
// linux only.
func LinecookdFromImage(ctx context.Context, dir string) (string, error) {
	if runtime.GOOS != "linux" {
		return "", fmt.Errorf("local: the linecook image is linux only; this machine is %s", runtime.GOOS)
	}
	root, ok := moduleRoot()
	if !ok {
		return "", fmt.Errorf("local: --from-image builds the image from a linecook checkout; run from one")
	}
	platform := "linux/" + runtime.GOARCH
	idx, err := image.Build(ctx, image.Options{Dir: root, Platforms: []string{platform}})
	if err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	out := filepath.Join(dir, "linecookd")
	if err := image.ExtractBinary(idx, platform, out); err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	return out, nil
}
