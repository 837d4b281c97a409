package oidc_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/linecook/linecook/burger/oidc"
	"github.com/linecook/linecook/burger/oidc/oidctest"
)

func newVerifier(t testing.TB, iss *oidctest.Issuer, change func(*oidc.Config)) *oidc.Verifier {
	t.Helper()
	cfg := iss.Config()
	if change != nil {
		change(&cfg)
	}
	v, err := oidc.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for n := 0; n < len(kv); n += 2 {
		if kv[n+1] == nil {
			delete(out, kv[n].(string))
			continue
		}
		out[kv[n].(string)] = kv[n+1]
	}
	return out
}

// tamper swaps the token's claims for others, keeping its header and
// signature.
func tamper(token string, claims jwt.MapClaims, t *testing.T) string {
	t.Helper()
	parts := strings.Split(token, ".")
	body, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + strings.Split(body, ".")[1] + "." + parts[2]
}

// TestVerify: every kind of token, signed here against the issuer's JWKS
// on the loopback address, accepted or refused with a reason that says
// why.
func TestVerify(t *testing.T) {
	iss := oidctest.New(t)
	iss.MakeKey(t, "never-published", "RS256")
	v := newVerifier(t, iss, nil)
	valid := iss.Claims("user-42")
	hour := time.Hour
	now := time.Now()

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// The classic confusion: HMAC keyed with the RSA public key, which
	// anyone can read from the JWKS.
	pub, err := x509.MarshalPKIXPublicKey(iss.PublicKey(t, oidctest.RSAKey))
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, valid)
	hs.Header["kid"] = oidctest.RSAKey
	hmac, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	if err != nil {
		t.Fatal(err)
	}
	// An RS256 token claiming the ES256 key.
	mixed := jwt.NewWithClaims(jwt.SigningMethodRS256, valid)
	mixed.Header["kid"] = oidctest.ECKey

	tests := []struct {
		name    string
		token   string
		subject string // when accepted
		reason  string // when refused
	}{
		{"valid RS256", iss.Token(t, "user-42"), "user-42", ""},
		{"valid ES256", iss.Sign(t, oidctest.ECKey, valid), "user-42", ""},
		{"audience among several", iss.Sign(t, oidctest.RSAKey, with(valid, "aud", []string{"other", oidctest.Audience})), "user-42", ""},
		{"expired within the leeway", iss.Sign(t, oidctest.RSAKey, with(valid, "exp", now.Add(-10*time.Second).Unix())), "user-42", ""},
		{"expired", iss.Sign(t, oidctest.RSAKey, with(valid, "exp", now.Add(-hour).Unix())), "", "expired at"},
		{"not yet valid", iss.Sign(t, oidctest.RSAKey, with(valid, "nbf", now.Add(hour).Unix())), "", "not valid before"},
		{"issued in the future", iss.Sign(t, oidctest.RSAKey, with(valid, "iat", now.Add(hour).Unix())), "", "issued in the future"},
		{"no expiry", iss.Sign(t, oidctest.RSAKey, with(valid, "exp", nil)), "", "missing a required claim: exp claim is required"},
		{"wrong issuer", iss.Sign(t, oidctest.RSAKey, with(valid, "iss", "https://evil.example.com")), "", `issuer "https://evil.example.com" is not`},
		{"issuer with a trailing slash", iss.Sign(t, oidctest.RSAKey, with(valid, "iss", iss.URL+"/")), "", "is not"},
		{"wrong audience", iss.Sign(t, oidctest.RSAKey, with(valid, "aud", "someone-else")), "", `audience ["someone-else"] does not include "linecook-orders"`},
		{"no audience", iss.Sign(t, oidctest.RSAKey, with(valid, "aud", nil)), "", "missing a required claim: aud claim is required"},
		{"no subject", iss.Sign(t, oidctest.RSAKey, with(valid, "sub", nil)), "", `no subject ("sub")`},
		{"unknown key id", iss.Sign(t, "never-published", valid), "", `key id "never-published", which is not one of the issuer's keys`},
		{"alg none", none, "", `signed with "none"; accepted: RS256, ES256`},
		{"HS256 keyed with the public key", hmac, "", `signed with "HS256"; accepted: RS256, ES256`},
		{"RS256 naming the ES256 key", signedAs(t, iss, mixed), "", `says RS256, but its key "ec-1" is an ES256 key`},
		{"bad signature", iss.Forge(t, oidctest.RSAKey, valid), "", "signature does not verify"},
		{"claims changed after signing", tamper(iss.Token(t, "user-42"), with(valid, "sub", "admin"), t), "", "signature does not verify"},
		{"not a JWT", "not-a-token", "", "not a well-formed JWT"},
		{"empty", "", "", "not a well-formed JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := v.Verify(context.Background(), tt.token)
			if tt.reason == "" {
				if err != nil || sub != tt.subject {
					t.Fatalf("Verify = %q, %v; want subject %q", sub, err, tt.subject)
				}
				return
			}
			var te *oidc.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("Verify = %q, %v; want a *TokenError saying %q", sub, err, tt.reason)
			}
			if sub != "" || !strings.Contains(te.Reason, tt.reason) {
				t.Errorf("refused with %q (subject %q), want a reason containing %q", te.Reason, sub, tt.reason)
			}
		})
	}
}

// signedAs signs tok's header and claims with the issuer's RSA key,
// whatever key and algorithm its header names.
func signedAs(t *testing.T, iss *oidctest.Issuer, tok *jwt.Token) string {
	t.Helper()
	hdr, err := tok.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return iss.SignString(t, oidctest.RSAKey, hdr)
}

// TestRotatedKeyIsAcceptedAfterOneFetch: a key the issuer publishes after
// the verifier cached its keys is fetched on its first token; the burst
// of tokens that arrives with it shares that one fetch, and none of them
// is refused.
func TestRotatedKeyIsAcceptedAfterOneFetch(t *testing.T) {
	iss := oidctest.New(t)
	v := newVerifier(t, iss, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the first fetch", v.Ready)
	if n := iss.Fetches(); n != 1 {
		t.Fatalf("%d fetches on start, want 1", n)
	}
	if _, err := v.Verify(ctx, iss.Token(t, "u")); err != nil || iss.Fetches() != 1 {
		t.Fatalf("second token with a cached key: %v, %d fetches; want accepted with no fetch", err, iss.Fetches())
	}

	iss.AddKey(t, "rsa-2", "RS256")
	iss.Delay(100 * time.Millisecond) // long enough for the burst to find the fetch running
	token := iss.Sign(t, "rsa-2", iss.Claims("rotated"))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(ctx, token); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a token of the rotated key was refused: %v", err)
	}
	if n := iss.Fetches(); n != 2 {
		t.Errorf("%d fetches after 20 concurrent tokens of a new key, want 2 (one more)", n)
	}
	// Tokens of the old key are still good: it is still published.
	if _, err := v.Verify(ctx, iss.Token(t, "u")); err != nil {
		t.Errorf("old key after the rotation: %v", err)
	}
}

// TestUnknownKeyFetchesAreRateLimited: tokens naming key ids the issuer
// never published, however many, fetch the JWKS once per
// MinRefreshInterval, and are refused at once in between.
func TestUnknownKeyFetchesAreRateLimited(t *testing.T) {
	iss := oidctest.New(t)
	// Long enough that a busy machine finishes the loop within it.
	v := newVerifier(t, iss, func(c *oidc.Config) { c.MinRefreshInterval = 2 * time.Second })
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.Token(t, "u")); err != nil {
		t.Fatal(err)
	}
	iss.MakeKey(t, "made-up", "RS256")
	token := iss.Sign(t, "made-up", iss.Claims("attacker"))
	start := time.Now()
	for range 200 {
		if _, err := v.Verify(ctx, token); err == nil {
			t.Fatal("a token of an unpublished key was accepted")
		}
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("200 refusals took %v: an unknown key id must not wait out the rate limit", took)
	}
	if n := iss.Fetches(); n != 1 {
		t.Errorf("%d fetches after 200 tokens of an unknown key, want 1 (the first token's)", n)
	}
	// Once the interval has passed, a key published meanwhile is found.
	iss.Publish("made-up")
	time.Sleep(2100 * time.Millisecond)
	if sub, err := v.Verify(ctx, token); err != nil || sub != "attacker" {
		t.Errorf("after the interval, a newly published key: %q, %v; want accepted", sub, err)
	}
	if n := iss.Fetches(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// TestRunRefreshesAndDropsRevokedKeys: Run fetches on start and every
// RefreshInterval; a key the issuer removed is refused after the next
// fetch, and a key it added is cached before its first token.
func TestRunRefreshesAndDropsRevokedKeys(t *testing.T) {
	iss := oidctest.New(t)
	v := newVerifier(t, iss, func(c *oidc.Config) { c.RefreshInterval = 100 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the first fetch", v.Ready)

	old := iss.Sign(t, oidctest.ECKey, iss.Claims("u"))
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	iss.Unpublish(oidctest.ECKey)
	iss.AddKey(t, "ec-2", "ES256")
	n := iss.Fetches()
	waitFor(t, "two more fetches", func() bool { return iss.Fetches() >= n+2 })
	var te *oidc.TokenError
	if _, err := v.Verify(ctx, old); !errors.As(err, &te) || !strings.Contains(te.Reason, "not one of the issuer's keys") {
		t.Errorf("token of a revoked key after a refresh: %v, want refused as an unknown key", err)
	}
	before := iss.Fetches()
	if _, err := v.Verify(ctx, iss.Sign(t, "ec-2", iss.Claims("u"))); err != nil {
		t.Errorf("token of a key published before the refresh: %v", err)
	}
	if iss.Fetches() > before+1 {
		t.Errorf("verifying a token of a refreshed key fetched the JWKS")
	}
}

// TestIssuerOutage: before any fetch succeeds tokens cannot be checked
// (ErrKeysUnavailable, not a refusal); once keys are cached, an outage
// keeps them; after it, Run's retries restore the keys without waiting a
// whole RefreshInterval.
func TestIssuerOutage(t *testing.T) {
	iss := oidctest.New(t)
	iss.Fail(http.StatusServiceUnavailable)
	v := newVerifier(t, iss, func(c *oidc.Config) {
		c.MinRefreshInterval, c.RefreshInterval = 50*time.Millisecond, time.Second
	})
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.Token(t, "u")); !errors.Is(err, oidc.ErrKeysUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Verify with the JWKS down = %v, want ErrKeysUnavailable naming the 503", err)
	}
	if v.Ready() {
		t.Error("Ready with no keys ever fetched")
	}

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); v.Run(rctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(120 * time.Millisecond)
	iss.Fail(http.StatusOK)
	recovered := time.Now()
	waitFor(t, "the keys after the outage", v.Ready)
	if took := time.Since(recovered); took > 900*time.Millisecond {
		t.Errorf("keys %v after the issuer recovered: Run's retries should come sooner than the 1 s RefreshInterval", took)
	}
	if _, err := v.Verify(ctx, iss.Token(t, "u")); err != nil {
		t.Fatalf("after the outage: %v", err)
	}

	iss.Fail(http.StatusInternalServerError)
	n := iss.Fetches()
	waitFor(t, "a failed refresh", func() bool { return iss.Fetches() > n })
	if _, err := v.Verify(ctx, iss.Token(t, "u")); err != nil {
		t.Errorf("a failed refresh dropped the cached keys: %v", err)
	}
}

// TestFetchTimeout: a JWKS that does not answer holds a token with an
// unknown key for FetchTimeout at most.
func TestFetchTimeout(t *testing.T) {
	iss := oidctest.New(t)
	iss.Delay(10 * time.Second)
	v := newVerifier(t, iss, func(c *oidc.Config) { c.FetchTimeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := v.Verify(context.Background(), iss.Token(t, "u"))
	if took := time.Since(start); !errors.Is(err, oidc.ErrKeysUnavailable) || took > 2*time.Second {
		t.Errorf("Verify with a silent JWKS = %v after %v, want ErrKeysUnavailable within the 200ms fetch timeout", err, took)
	}
}

// TestUnusableKeysAreSkipped: keys of other algorithms or uses in the JWKS
// are skipped, not fatal; a JWKS with none usable is a failed fetch that
// keeps nothing.
func TestUnusableKeysAreSkipped(t *testing.T) {
	iss := oidctest.New(t)
	good, err := jwkset.NewJWKFromKey(iss.PublicKey(t, oidctest.RSAKey), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: oidctest.RSAKey}})
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK, err := json.Marshal(good.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	const (
		hmac = `{"kty":"oct","kid":"h","k":"c2VjcmV0"}`
		enc  = `{"kty":"EC","kid":"e","use":"enc","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	)
	rs384 := strings.Replace(string(rsaJWK), `"kid":"rsa-1"`, `"kid":"rs384","alg":"RS384"`, 1)
	for _, tt := range []struct {
		name, jwks string
		usable     bool
	}{
		{"HMAC, encryption and RS384 keys beside an RS256 one", `{"keys":[` + hmac + `,` + enc + `,` + rs384 + `,` + string(rsaJWK) + `]}`, true},
		{"only HMAC, encryption and RS384 keys", `{"keys":[` + hmac + `,` + enc + `,` + rs384 + `]}`, false},
		{"not JSON", `<html>`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := oidc.New(oidc.Config{Issuer: iss.URL, Audience: oidctest.Audience, JWKSURL: serve(t, tt.jwks)}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), iss.Token(t, "u"))
			if tt.usable && err != nil {
				t.Errorf("Verify = %v, want the RS256 key used", err)
			}
			if !tt.usable && !errors.Is(err, oidc.ErrKeysUnavailable) {
				t.Errorf("Verify = %v, want ErrKeysUnavailable", err)
			}
		})
	}
}

func serve(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkVerify is what a bearer token adds to a request once its key
// is cached: parsing, claims checks and one signature verification.
func BenchmarkVerify(b *testing.B) {
	iss := oidctest.New(b)
	v := newVerifier(b, iss, nil)
	for _, kid := range []string{oidctest.RSAKey, oidctest.ECKey} {
		token := iss.Sign(b, kid, iss.Claims("user-42"))
		if _, err := v.Verify(context.Background(), token); err != nil {
			b.Fatal(err)
		}
		b.Run(kid, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
