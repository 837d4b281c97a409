package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/oidc/oidctest"
)

// BenchmarkAuthenticate is what the credential check adds to every order
// request, with the issuer's keys cached: nothing configured, the API
// key, and a bearer token signed with each kind of key.
//
//	go test -run '^$' -bench Authenticate ./burger/api
func BenchmarkAuthenticate(b *testing.B) {
	iss := oidctest.New(b)
	base := Config{Port: 8080, NextQueueURL: "http://q", OrderTable: "t", AWSTimeout: time.Second, ShutdownTimeout: time.Second}
	jwtCfg := base
	c := iss.Config()
	jwtCfg.JWTIssuer, jwtCfg.JWTAudience, jwtCfg.JWTJWKSURL = c.Issuer, c.Audience, c.JWKSURL
	keyCfg := base
	keyCfg.APIKey = "s3cret-key"
	for _, tc := range []struct {
		name   string
		cfg    Config
		header [2]string
	}{
		{"none", base, [2]string{}},
		{"api-key", keyCfg, [2]string{HeaderAPIKey, "s3cret-key"}},
		{"bearer-RS256", jwtCfg, [2]string{HeaderAuth, "Bearer " + iss.Token(b, "bench")}},
		{"bearer-ES256", jwtCfg, [2]string{HeaderAuth, "Bearer " + iss.Sign(b, oidctest.ECKey, iss.Claims("bench"))}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := New(tc.cfg, nil, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			h := s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
			req := httptest.NewRequest("POST", "/orders", nil)
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusAccepted {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
