package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalOrdersEndToEnd runs the README's main command, scaled down:
// the dev stack's whole pipeline, 10 orders, a summary whose last line
// says all of them completed; once on linecookd built from the checkout,
// once on the linecookd taken out of the image the stack deploys.
func TestLocalOrdersEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		built string
	}{
		{"built", nil, "building linecookd…"},
		{"from the image", []string{"--from-image"}, "building the linecook image…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--orders", "10", "--rate", "10", "--time-scale", "10", "--no-dashboard"}, tc.args...)
			out, err := execute(t, localCmd(), args...)
			if err != nil {
				t.Fatalf("linecook local %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if !strings.Contains(out, tc.built) {
				t.Errorf("output does not say %q\n%s", tc.built, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := ""
			for i := len(lines) - 1; i >= 0; i-- {
				if strings.HasPrefix(lines[i], "orders: ") {
					last = lines[i]
					break
				}
			}
			if !strings.HasPrefix(last, "orders: 10 sent, 10 completed, 0 lost, 0 dead-lettered; end-to-end p50 ") {
				t.Fatalf("summary line %q, want all 10 completed\n%s", last, out)
			}
		})
	}
}

// TestLocalExitsNonZeroWhenOrdersDoNotComplete: a stage whose workers
// cannot start leaves orders unfinished; the command must fail and say so.
func TestLocalExitsNonZeroWhenOrdersDoNotComplete(t *testing.T) {
	dir := t.TempDir()
	stack := `config:
  linecook:stages:
    - name: payment
      worker: payment
      env:
        LINECOOK_WORK_JITTER: "5"
`
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.broken.yaml"), []byte(stack), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execute(t, localCmd(), "--dir", dir, "--stack", "broken", "--orders", "3", "--time-scale", "10",
		"--timeout", "3s", "--no-dashboard")
	if err == nil {
		t.Fatalf("linecook local succeeded with a stage that cannot run:\n%s", out)
	}
	if !strings.Contains(out, "orders: 3 sent, 0 completed, 3 lost, 0 dead-lettered") {
		t.Errorf("summary does not report the 3 lost orders:\n%s", out)
	}
}
