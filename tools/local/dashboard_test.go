package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/linecook/linecook/tools/local"
)

// chromium finds the browser scripts/setup.sh installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on PATH: run scripts/setup.sh (it installs Debian's chromium)")
	return ""
}

// artifacts is where tests leave files for people to look at: $LINECOOK_ARTIFACTS,
// or artifacts/ at the repository root.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LINECOOK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDashboardInChromium opens the live dashboard in headless Chromium,
// checks it shows every stage, places a rush of orders with the page's own
// button, and waits for the page's numbers to move as the orders flow
// through every stage. It leaves a screenshot in artifacts/.
func TestDashboardInChromium(t *testing.T) {
	r := start(t, local.Options{
		Config:        config(t, map[string]string{"linecook:scaling": `{"policy":"fixed","desired":1}`}),
		TimeScale:     10,
		DashboardAddr: "127.0.0.1:0",
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.DashboardURL()),
		chromedp.WaitVisible(chromedp.CSS(`.card.stage[data-stage="assemble"]`)),
	); err != nil {
		t.Fatalf("dashboard did not show the stages: %v", err)
	}
	stages, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.card.stage')].map(c => c.dataset.stage)`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stages, ","); got != "payment,grill,fry,assemble" {
		t.Fatalf("dashboard stages = %s, want payment,grill,fry,assemble", got)
	}

	done := func(stage string) int {
		txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.card.stage[data-stage="`+stage+`"] [data-field="succeeded"]`)))
		if err != nil {
			t.Fatalf("read %s done: %v", stage, err)
		}
		n, _ := strconv.Atoi(strings.ReplaceAll(txt, ",", ""))
		return n
	}
	if n := done("assemble"); n != 0 {
		t.Fatalf("assemble shows %d done before any order", n)
	}

	// The page's own rush button sends 50 orders through the API.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#burst`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#order-result').textContent.startsWith('rush:')`, chromedp.WithPollingTimeout(time.Minute)),
	); err != nil {
		t.Fatalf("rush button: %v", err)
	}
	result, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#order-result`)))
	if err != nil || !strings.HasPrefix(result, "rush: 50 accepted") {
		t.Fatalf("rush result %q (%v), want all 50 accepted", result, err)
	}

	// Every stage's count rises as the orders flow through, and the
	// totals and the recent-orders table follow.
	for _, stage := range stages {
		if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
			`Number(document.querySelector('.card.stage[data-stage="`+stage+`"] [data-field="succeeded"]').textContent.replace(/,/g, '')) >= 50`,
			chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
			t.Fatalf("%s never showed 50 done (shows %d): %v", stage, done(stage), err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		`document.querySelector('#t-completed').textContent === '50' && document.querySelectorAll('#orders tr[data-order]').length > 0`,
		chromedp.WithPollingTimeout(time.Minute))); err != nil {
		completed, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#t-completed`)))
		t.Fatalf("totals show %s completed, want 50, with recent orders listed: %v", completed, err)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is a PNG
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifacts(t), "dashboard.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
