package api_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/linecook/linecook/burger/oidc/oidctest"
)

// browser starts headless Chromium (scripts/setup.sh installs it), as
// tools/local's dashboard test does.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("no Chromium on PATH: run scripts/setup.sh (it installs Debian's chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// TestLivePageAsksForTheKey: with an API key configured, the page loads
// without it, asks for it when the stream is refused, keeps it in the
// tab's sessionStorage and sends it with the stream and the order, and
// then follows the order it placed to completion. A JWT-shaped credential
// goes as a bearer token instead.
func TestLivePageAsksForTheKey(t *testing.T) {
	const key = "s3cret-key"
	f := start(t, func(d *deps) { d.cfg.APIKey = key })
	url := liveServer(t, f, nil, 200*time.Millisecond, time.Second)
	ctx := browser(t)
	poll := func(what, cond string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`)))
			t.Fatalf("%s: %v\npage:\n%s", what, err, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	poll("the page asks for the key, with the menu loaded", `!document.querySelector('#auth').hidden && document.querySelector('#q-burger') !== null`)
	if got := text(`#conn`); got != "needs a credential" {
		t.Errorf("connection status %q, want needs a credential", got)
	}

	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#credential`), "wrong"), chromedp.Click(chromedp.CSS(`#use-credential`))); err != nil {
		t.Fatal(err)
	}
	poll("a wrong key is refused", `document.querySelector('#auth-error').textContent.includes('X-Api-Key')`)

	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#credential`), key), chromedp.Click(chromedp.CSS(`#use-credential`))); err != nil {
		t.Fatal(err)
	}
	poll("the stream opens with the key", `document.querySelector('#conn').textContent === '● live' && document.querySelector('#auth').hidden`)
	if stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('linecook.credential')`)); err != nil || stored != key {
		t.Errorf("sessionStorage holds %q (%v), want the key", stored, err)
	}

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#place`))); err != nil {
		t.Fatal(err)
	}
	poll("the order is accepted", `document.querySelector('#order-result').textContent.startsWith('accepted: ')`)
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#order-result').dataset.order`))
	if err != nil {
		t.Fatal(err)
	}
	poll("the page follows its order", `document.querySelector('#tracker').dataset.order === '`+id+`' && document.querySelector('#recent tr[data-order="`+id+`"]') !== null`)

	// The stages, as the workers would run them.
	runStages(t, f.store, id, stages...)
	poll("the order completed with every station's time", `document.querySelector('#tracker').dataset.status === 'completed' &&
		document.querySelectorAll('#tracker .station[data-state="done"]').length === 4`)
	if got := text(`#tracker .station[data-stage="grill"] .work`); !strings.HasSuffix(got, " s") || got == "0.00 s" {
		t.Errorf("grill's time = %q, want the stage's duration", got)
	}

	// A reload in the same tab keeps the key and the followed order.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	poll("after a reload, live with no question and the order shown", `document.querySelector('#conn').textContent === '● live' &&
		document.querySelector('#auth').hidden && document.querySelector('#tracker').dataset.status === 'completed'`)

	// A JWT goes as a bearer token, an API key as X-Api-Key.
	headers, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const keep = sessionStorage.getItem('linecook.credential');
		sessionStorage.setItem('linecook.credential', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln');
		const jwt = authHeaders();
		sessionStorage.setItem('linecook.credential', keep);
		return JSON.stringify([jwt, authHeaders()]);
	})()`))
	if err != nil || headers != `[{"Authorization":"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"},{"X-Api-Key":"s3cret-key"}]` {
		t.Errorf("credential headers = %s (%v), want a JWT as a bearer token and the key as X-Api-Key", headers, err)
	}

	// Forgetting the key asks for it again.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#forget`))); err != nil {
		t.Fatal(err)
	}
	poll("forgotten, the key is asked for again", `!document.querySelector('#auth').hidden && sessionStorage.getItem('linecook.credential') === null`)
}

// TestLivePageWithABearerToken: with JWT sign-in, the same page takes a
// token from the issuer where it would take the key, sends it as a bearer
// token, and the order it places records the token's subject.
func TestLivePageWithABearerToken(t *testing.T) {
	iss := oidctest.New(t)
	f := start(t, withIssuer(iss))
	url := liveServer(t, f, nil, 200*time.Millisecond, time.Second)
	ctx := browser(t)
	poll := func(what, cond string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`)))
			t.Fatalf("%s: %v\npage:\n%s", what, err, page)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	poll("the page asks for a credential", `!document.querySelector('#auth').hidden`)

	expired := iss.Sign(t, oidctest.RSAKey, with(iss.Claims("user-42"), "exp", time.Now().Add(-time.Hour).Unix()))
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#credential`), expired), chromedp.Click(chromedp.CSS(`#use-credential`))); err != nil {
		t.Fatal(err)
	}
	poll("an expired token is refused, saying why", `document.querySelector('#auth-error').textContent.includes('expired')`)

	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#credential`), iss.Token(t, "user-42")), chromedp.Click(chromedp.CSS(`#use-credential`))); err != nil {
		t.Fatal(err)
	}
	poll("the stream opens with the token", `document.querySelector('#conn').textContent === '● live'`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#place`))); err != nil {
		t.Fatal(err)
	}
	poll("the order is accepted", `document.querySelector('#order-result').textContent.startsWith('accepted: ')`)
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#order-result').dataset.order`))
	if err != nil {
		t.Fatal(err)
	}
	poll("the page shows its order", `document.querySelector('#recent tr[data-order="`+id+`"]') !== null`)
	if o, err := f.store.Get(context.Background(), id); err != nil || o.PlacedBy != "user-42" {
		t.Errorf("order %s placed by %q (%v), want the token's subject user-42", id, o.PlacedBy, err)
	}
}
