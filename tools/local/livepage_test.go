package local_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/linecook/linecook/tools/local"
)

// browser starts headless Chromium for the test, as the dashboard test
// does.
func browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
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
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

// TestLivePageInChromium opens the order API's own page (what the stack's
// apiUrl serves) on the local pipeline, in real time, places orders with
// its form and watches the last one go through every station, then checks
// the recent orders list every station's time for each. It leaves a
// screenshot, artifacts/live-page.png (docs/live-page.png is one).
func TestLivePageInChromium(t *testing.T) {
	r := start(t, local.Options{
		Config:    config(t, map[string]string{"linecook:scaling": `{"policy":"fixed","desired":1}`}),
		TimeScale: 1,
	})
	ctx := browser(t, 3*time.Minute)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(r.APIURL()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#q-cheeseburger`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#conn').textContent === '● live'`, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("the page did not load its menu and stream: %v", err)
	}

	// Three orders, as a customer would place them, the last one followed.
	var ids []string
	for _, quantities := range []map[string]string{
		{"burger": "1", "fries": "1", "soda": "1"},
		{"burger": "0", "fries": "0", "cheeseburger": "2", "onion-rings": "1"},
		{"cheeseburger": "0", "onion-rings": "0", "double-burger": "1", "fries": "2", "shake": "1"},
	} {
		var actions []chromedp.Action[chromedp.Void]
		for item, q := range quantities {
			actions = append(actions, chromedp.SetValue(chromedp.CSS(`#q-`+item), q))
		}
		actions = append(actions,
			chromedp.Click(chromedp.CSS(`#place`)),
			chromedp.Poll[chromedp.Void](`document.querySelector('#order-result').textContent.startsWith('accepted: ') &&
				document.querySelector('#order-result').dataset.order !== `+jsString(last(ids)), chromedp.WithPollingTimeout(30*time.Second)),
		)
		if err := chromedp.Do(ctx, actions...); err != nil {
			result, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#order-result`)))
			t.Fatalf("placing an order: %v (the page says %q)", err, result)
		}
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#order-result').dataset.order`))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	followed := last(ids)

	// The followed order goes through each station, in order, and
	// completes; the page shows how long each station took.
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		`document.querySelector('#tracker').dataset.order === `+jsString(followed)+` && document.querySelector('#tracker').dataset.status === 'completed'`,
		chromedp.WithPollingTimeout(time.Minute))); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#tracker`)))
		t.Fatalf("the followed order never showed completed: %v\n%s", err, status)
	}
	stations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#tracker .station')].map(s => s.dataset.stage + ' ' + s.dataset.state + ' ' + s.querySelector('.work').textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	timed := regexp.MustCompile(`^(payment|grill|fry|assemble) done (\d+\.\d\d) s$`)
	var names []string
	for _, s := range stations {
		m := timed.FindStringSubmatch(s)
		if m == nil || m[2] == "0.00" {
			t.Errorf("station %q, want done with its time", s)
			continue
		}
		names = append(names, m[1])
	}
	if got := strings.Join(names, ","); got != "payment,grill,fry,assemble" {
		t.Errorf("stations %v, want payment, grill, fry, assemble in that order", stations)
	}
	if total, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#end-to-end`))); err != nil || !strings.HasSuffix(total, " s") {
		t.Errorf("end to end = %q (%v), want a time", total, err)
	}

	// Every order placed is listed, completed, with every station's time.
	for _, id := range ids {
		if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
			`(r => r && r.dataset.status === 'completed' && r.querySelectorAll('.chip[data-stage]:not(.running)').length === 4)(document.querySelector('#recent tr[data-order="`+id+`"]'))`,
			chromedp.WithPollingTimeout(time.Minute))); err != nil {
			row, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#recent`)))
			t.Fatalf("order %s is not listed completed with four station times: %v\n%s", id, err, row)
		}
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is a PNG
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifacts(t), "live-page.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s; stations: %v", path, stations)
}

func last(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[len(ids)-1]
}

// jsString quotes an order id (base32: no quotes to escape) for a script.
func jsString(s string) string { return "'" + s + "'" }
