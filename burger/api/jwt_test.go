package api_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/oidc/oidctest"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/pipeline"
)

// withIssuer configures the API to accept iss's tokens.
func withIssuer(iss *oidctest.Issuer) func(*deps) {
	return func(d *deps) {
		c := iss.Config()
		d.cfg.JWTIssuer, d.cfg.JWTAudience, d.cfg.JWTJWKSURL = c.Issuer, c.Audience, c.JWKSURL
	}
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// TestBadBearerTokensAreRefusedAndWriteNothing: every kind of bad token,
// signed in the test against a JWKS on the loopback address, is a 401 in
// the API's error shape saying why, with WWW-Authenticate, and neither an
// order in the table nor a message in the queue.
func TestBadBearerTokensAreRefusedAndWriteNothing(t *testing.T) {
	iss := oidctest.New(t)
	f := start(t, withIssuer(iss))
	valid := iss.Claims("user-42")
	now := time.Now()
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	iss.MakeKey(t, "unpublished", "RS256")
	tests := []struct {
		name, authorization, reason string
	}{
		{"expired", "Bearer " + iss.Sign(t, oidctest.RSAKey, with(valid, "exp", now.Add(-time.Hour).Unix())), "the bearer token expired at"},
		{"not yet valid", "Bearer " + iss.Sign(t, oidctest.RSAKey, with(valid, "nbf", now.Add(time.Hour).Unix())), "the bearer token is not valid before"},
		{"wrong issuer", "Bearer " + iss.Sign(t, oidctest.RSAKey, with(valid, "iss", "https://other-issuer.example.com")), `issuer "https://other-issuer.example.com" is not`},
		{"wrong audience", "Bearer " + iss.Sign(t, oidctest.RSAKey, with(valid, "aud", "another-api")), `audience ["another-api"] does not include "linecook-orders"`},
		{"unknown key id", "Bearer " + iss.Sign(t, "unpublished", valid), `key id "unpublished", which is not one of the issuer's keys`},
		{"alg none", "Bearer " + none, `signed with "none"; accepted: RS256, ES256`},
		{"bad signature", "Bearer " + iss.Forge(t, oidctest.RSAKey, valid), "signature does not verify"},
		{"not a JWT", "Bearer hello", "not a well-formed JWT"},
		{"no token", "", "missing credentials: send Authorization: Bearer <token>"},
		{"another scheme", "Basic dXNlcjpwYXNz", "missing credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/orders", "/orders/sync"} {
				r := f.do(t, "POST", path, "application/json", map[string]string{"Authorization": tt.authorization}, []byte(burgerAndFries))
				msg, _ := r.body["error"].(string)
				if r.status != http.StatusUnauthorized || !strings.Contains(msg, tt.reason) || r.body["field"] != "Authorization" {
					t.Errorf("POST %s = %d %s, want 401 naming Authorization and saying %q", path, r.status, r.raw, tt.reason)
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("POST %s: WWW-Authenticate = %q, want a Bearer challenge", path, r.header.Get("WWW-Authenticate"))
				}
			}
			if r := f.do(t, "GET", "/orders/"+orders.NewID(time.Now()), "", map[string]string{"Authorization": tt.authorization}, nil); r.status != http.StatusUnauthorized {
				t.Errorf("GET /orders/{id} = %d, want 401", r.status)
			}
		})
	}
	if stored := f.orders(t); len(stored) != 0 {
		t.Errorf("refused requests wrote %d orders, want none", len(stored))
	}
	if msgs := f.received(t); len(msgs) != 0 {
		t.Errorf("refused requests enqueued %d messages, want none", len(msgs))
	}
	// Operators see why in the access log; the token itself is never logged.
	if log := f.log.String(); !strings.Contains(log, "signature does not verify") || strings.Contains(log, "eyJ") {
		t.Errorf("access log should give the reason of each 401 and no token:\n%s", log)
	}
	if r := f.do(t, "GET", "/healthz", "", nil, nil); r.status != http.StatusOK {
		t.Errorf("GET /healthz without a token = %d, want 200 (the load balancer has none)", r.status)
	}
}

// with is claims with the given keys set (nil: removed).
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

// TestOrderRecordsTheTokensSubject: a valid token places the order; the
// order records the token's subject, GET /orders/{id} shows it, and the
// access log names it.
func TestOrderRecordsTheTokensSubject(t *testing.T) {
	iss := oidctest.New(t)
	f := start(t, withIssuer(iss))
	for _, tc := range []struct{ kid, sub string }{{oidctest.RSAKey, "auth0|user-42"}, {oidctest.ECKey, "service-7"}} {
		token := iss.Sign(t, tc.kid, iss.Claims(tc.sub))
		r := f.post(t, burgerAndFries, bearer(token))
		if r.status != http.StatusAccepted {
			t.Fatalf("POST with a valid %s token = %d %s, want 202", tc.kid, r.status, r.raw)
		}
		id := r.body["id"].(string)
		got := f.do(t, "GET", "/orders/"+id, "", bearer(token), nil)
		if got.status != http.StatusOK || got.body["placedBy"] != tc.sub {
			t.Errorf("GET /orders/%s = %d %s, want placedBy %q", id, got.status, got.raw, tc.sub)
		}
		if !strings.Contains(f.log.String(), `"principal":"`+tc.sub+`"`) {
			t.Errorf("access log does not name the principal %s", tc.sub)
		}
	}
	stored := f.orders(t)
	if len(stored) != 2 || stored[0].PlacedBy != "service-7" || stored[1].PlacedBy != "auth0|user-42" {
		t.Errorf("table holds %+v, want two orders placed by their tokens' subjects", stored)
	}
	if msgs := f.received(t); len(msgs) != 2 {
		t.Errorf("queue holds %d messages, want 2", len(msgs))
	}
	// The issuer's keys were fetched once, on the first token.
	if n := iss.Fetches(); n != 1 {
		t.Errorf("the JWKS was fetched %d times for 4 requests, want once", n)
	}
}

// TestRotatedKeyIsAcceptedAfterRefresh: a token signed with a key the
// issuer published after the API cached its keys is refused only until
// the API has fetched the keys again, which that very token triggers.
func TestRotatedKeyIsAcceptedAfterRefresh(t *testing.T) {
	iss := oidctest.New(t)
	f := start(t, func(d *deps) { withIssuer(iss)(d); d.cfg.JWTMinRefreshInterval = 2 * time.Second })
	if r := f.post(t, burgerAndFries, bearer(iss.Token(t, "before"))); r.status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", r.status, r.raw)
	}
	iss.MakeKey(t, "rsa-2", "RS256")
	rotated := iss.Sign(t, "rsa-2", iss.Claims("after"))
	if r := f.post(t, burgerAndFries, bearer(rotated)); r.status != http.StatusUnauthorized || !strings.Contains(r.raw, `key id \"rsa-2\"`) {
		t.Errorf("POST with a key not yet published = %d %s, want 401 naming the key id", r.status, r.raw)
	}
	iss.Publish("rsa-2")
	// Published, but a token fetched the keys less than the minimum
	// interval ago: refused at once, without another fetch.
	fetches := iss.Fetches()
	if r := f.post(t, burgerAndFries, bearer(rotated)); r.status != http.StatusUnauthorized || iss.Fetches() != fetches {
		t.Errorf("POST within the refresh interval = %d, %d more fetches; want 401 and no fetch", r.status, iss.Fetches()-fetches)
	}
	time.Sleep(2100 * time.Millisecond)
	r := f.post(t, burgerAndFries, bearer(rotated))
	if r.status != http.StatusAccepted {
		t.Fatalf("POST with the rotated key after it was published = %d %s, want 202", r.status, r.raw)
	}
	if got := f.do(t, "GET", "/orders/"+r.body["id"].(string), "", bearer(rotated), nil); got.body["placedBy"] != "after" {
		t.Errorf("GET = %s, want placedBy after", got.raw)
	}
	if n := len(f.orders(t)); n != 2 {
		t.Errorf("table holds %d orders, want 2", n)
	}
}

// TestAPIKeyOrBearerToken: with both configured, either credential places
// an order; a bad one of either is refused, and so is a bad token beside
// a good key.
func TestAPIKeyOrBearerToken(t *testing.T) {
	iss := oidctest.New(t)
	f := start(t, func(d *deps) { withIssuer(iss)(d); d.cfg.APIKey = "s3cret-key" })
	good := iss.Token(t, "user-42")
	expired := iss.Sign(t, oidctest.RSAKey, with(iss.Claims("user-42"), "exp", time.Now().Add(-time.Hour).Unix()))
	tests := []struct {
		name     string
		headers  map[string]string
		status   int
		placedBy string
		field    string
	}{
		{"API key", map[string]string{"X-Api-Key": "s3cret-key"}, 202, orders.PlacedByAPIKey, ""},
		{"token", bearer(good), 202, "user-42", ""},
		{"both, good", map[string]string{"X-Api-Key": "s3cret-key", "Authorization": "Bearer " + good}, 202, "user-42", ""},
		{"wrong API key", map[string]string{"X-Api-Key": "wrong"}, 401, "", "X-Api-Key"},
		{"expired token", bearer(expired), 401, "", "Authorization"},
		{"expired token, good key", map[string]string{"X-Api-Key": "s3cret-key", "Authorization": "Bearer " + expired}, 401, "", "Authorization"},
		{"neither", nil, 401, "", "Authorization"},
	}
	want := 0
	for _, tt := range tests {
		r := f.post(t, burgerAndFries, tt.headers)
		if r.status != tt.status || (tt.field != "" && r.body["field"] != tt.field) {
			t.Errorf("%s: POST = %d %s, want %d (field %q)", tt.name, r.status, r.raw, tt.status, tt.field)
			continue
		}
		if tt.name == "neither" && !strings.Contains(r.raw, "or the API key in X-Api-Key") {
			t.Errorf("%s: %s, want the error to name both credentials", tt.name, r.raw)
		}
		if tt.status != 202 {
			continue
		}
		want++
		got := f.do(t, "GET", "/orders/"+r.body["id"].(string), "", tt.headers, nil)
		if got.body["placedBy"] != tt.placedBy {
			t.Errorf("%s: GET = %s, want placedBy %q", tt.name, got.raw, tt.placedBy)
		}
	}
	if n := len(f.orders(t)); n != want {
		t.Errorf("table holds %d orders, want the %d accepted", n, want)
	}
}

// TestOnlyBearerTokensConfigured: without an API key configured, a
// request needs a token; an X-Api-Key header is no credential.
func TestOnlyBearerTokensConfigured(t *testing.T) {
	iss := oidctest.New(t)
	f := start(t, withIssuer(iss))
	for _, headers := range []map[string]string{nil, {"X-Api-Key": "anything"}} {
		r := f.post(t, burgerAndFries, headers)
		if r.status != http.StatusUnauthorized || r.body["field"] != "Authorization" || strings.Contains(r.raw, "X-Api-Key") {
			t.Errorf("POST with %v = %d %s, want 401 asking for a bearer token only", headers, r.status, r.raw)
		}
	}
	if n := len(f.orders(t)); n != 0 {
		t.Errorf("table holds %d orders, want none", n)
	}
}

// TestIssuerUnreachable: when the issuer's keys have never been fetched,
// a token cannot be checked: 503 with Retry-After (the issuer's outage,
// not the client's fault), nothing written, and /readyz says so.
func TestIssuerUnreachable(t *testing.T) {
	iss := oidctest.New(t)
	iss.Fail(http.StatusBadGateway)
	f := start(t, withIssuer(iss))
	r := f.post(t, burgerAndFries, bearer(iss.Token(t, "user-42")))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.raw, "token issuer's keys") {
		t.Errorf("POST with the JWKS down = %d %s, want 503 with Retry-After naming the issuer's keys", r.status, r.raw)
	}
	if r := f.do(t, "GET", "/readyz", "", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz without the issuer's keys = %d, want 503", r.status)
	}
	if r := f.do(t, "GET", "/healthz", "", nil, nil); r.status != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", r.status)
	}
	if n := len(f.orders(t)); n != 0 {
		t.Errorf("table holds %d orders, want none", n)
	}
	if msgs := f.received(t); len(msgs) != 0 {
		t.Errorf("queue holds %d messages, want none", len(msgs))
	}
}

// TestIdempotencyKeyIsTheClaimantsOwn: another subject sending the same
// Idempotency-Key and the same order is refused, not answered with the
// first subject's order.
func TestIdempotencyKeyIsTheClaimantsOwn(t *testing.T) {
	iss := oidctest.New(t)
	f := start(t, withIssuer(iss))
	key := "shared-key-1"
	first := f.post(t, burgerAndFries, map[string]string{"Authorization": "Bearer " + iss.Token(t, "alice"), "Idempotency-Key": key})
	if first.status != http.StatusAccepted {
		t.Fatalf("alice's POST = %d %s", first.status, first.raw)
	}
	again := f.post(t, burgerAndFries, map[string]string{"Authorization": "Bearer " + iss.Token(t, "alice"), "Idempotency-Key": key})
	if again.status != http.StatusAccepted || again.body["id"] != first.body["id"] {
		t.Errorf("alice's retry = %d %s, want her order %v", again.status, again.raw, first.body["id"])
	}
	other := f.post(t, burgerAndFries, map[string]string{"Authorization": "Bearer " + iss.Token(t, "mallory"), "Idempotency-Key": key})
	if other.status != http.StatusUnprocessableEntity || other.body["field"] != "Idempotency-Key" || strings.Contains(other.raw, first.body["id"].(string)) {
		t.Errorf("mallory with alice's key = %d %s, want 422 not naming alice's order", other.status, other.raw)
	}
	if n := len(f.orders(t)); n != 1 {
		t.Errorf("table holds %d orders, want 1", n)
	}
}

func TestJWTConfigFromEnvironment(t *testing.T) {
	base := map[string]string{
		"LINECOOK_NEXT_QUEUE_URL": "http://sqs.local/000000000000/payment", "LINECOOK_ORDER_TABLE": "orders",
	}
	tests := []struct {
		name              string
		issuer, aud, jwks string
		wantErr           string
	}{
		{"none", "", "", "", ""},
		{"all three", "https://issuer.example.com/", "orders", "https://issuer.example.com/.well-known/jwks.json", ""},
		{"http to localhost", "http://127.0.0.1:9999", "orders", "http://localhost:9999/jwks", ""},
		{"no audience", "https://issuer.example.com/", "", "https://issuer.example.com/jwks", "LINECOOK_JWT_AUDIENCE is empty"},
		{"no JWKS URL", "https://issuer.example.com/", "orders", "", "LINECOOK_JWT_JWKS_URL is empty"},
		{"only the JWKS URL", "", "", "https://issuer.example.com/jwks", "LINECOOK_JWT_ISSUER is empty"},
		{"JWKS over http", "https://issuer.example.com/", "orders", "http://issuer.example.com/jwks", "LINECOOK_JWT_JWKS_URL=\"http://issuer.example.com/jwks\": must be https"},
		{"issuer not a URL", "issuer", "orders", "https://issuer.example.com/jwks", "LINECOOK_JWT_ISSUER=\"issuer\": not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"LINECOOK_JWT_ISSUER": tt.issuer, "LINECOOK_JWT_AUDIENCE": tt.aud, "LINECOOK_JWT_JWKS_URL": tt.jwks}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range env {
				t.Setenv(k, v)
				if v == "" {
					os.Unsetenv(k)
				}
			}
			cfg, err := api.LoadConfig()
			if tt.wantErr == "" {
				if err != nil || cfg.JWTIssuer != tt.issuer || cfg.JWTAudience != tt.aud || cfg.JWTJWKSURL != tt.jwks {
					t.Errorf("LoadConfig = %+v, %v", cfg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadConfig = %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestStackJWTConfigStartsTheAPI: what linecook:api.jwt accepts, the API
// task accepts from the environment the stack gives it.
func TestStackJWTConfigStartsTheAPI(t *testing.T) {
	cfg, err := pipeline.Parse(map[string]string{
		"linecook:api": `{"jwt":{"issuer":"https://login.example.com/","audience":"orders","jwksUrl":"https://login.example.com/.well-known/jwks.json"}}`,
	}, handlers.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range cfg.API.APIEnv("https://sqs.us-east-1.amazonaws.com/1/pay", "orders") {
		t.Setenv(k, v)
	}
	got, err := api.LoadConfig()
	if err != nil {
		t.Fatalf("the stack accepts linecook:api.jwt, but the API refuses to start: %v", err)
	}
	if got.JWTIssuer != "https://login.example.com/" || got.JWTAudience != "orders" || got.JWTJWKSURL != "https://login.example.com/.well-known/jwks.json" {
		t.Errorf("LoadConfig = %+v, want the stack's issuer, audience and JWKS URL", got)
	}
}
