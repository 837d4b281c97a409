package oidc

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNoRedirectFromHTTPSToHTTP: a JWKS URL that redirects to plain HTTP
// is a failed fetch, not keys anyone on the way could have swapped.
func TestNoRedirectFromHTTPSToHTTP(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the plain-HTTP JWKS was fetched")
	}))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/jwks", http.StatusFound))
	defer tls.Close()
	v, err := New(Config{Issuer: "https://issuer.example.com", Audience: "a", JWKSURL: tls.URL + "/jwks"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	v.cfg.Client.Transport = tls.Client().Transport // trusts the test certificate; the redirect policy stays
	if err := v.fetchKeys(context.Background()); err == nil || !strings.Contains(err.Error(), "refusing a redirect") {
		t.Errorf("fetch through an https→http redirect = %v, want it refused", err)
	}
}
