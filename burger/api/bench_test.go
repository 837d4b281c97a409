package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/linecook/linecook/burger/oidc/oidctest"
)

// BenchmarkPostOrder is the asynchronous path end to end on this machine:
// HTTP, validation, the conditional write to dynalite and the send to
// fauxqs (plus the claim and its completion with an Idempotency-Key, or
// the verification of a bearer token whose key is cached). Compare with
// the synchronous path, which waits for the payment (3 s by default).
//
//	go test -run '^$' -bench PostOrder ./api
func BenchmarkPostOrder(b *testing.B) {
	for _, name := range []string{"plain", "idempotency-key", "bearer-token"} {
		keyed := name == "idempotency-key"
		b.Run(name, func(b *testing.B) {
			var token string
			var change func(*deps)
			if name == "bearer-token" {
				iss := oidctest.New(b)
				token = iss.Token(b, "bench")
				change = withIssuer(iss)
			}
			f := start(b, change)
			i := 0
			for b.Loop() {
				i++
				req, err := http.NewRequest("POST", f.url+"/orders", strings.NewReader(burgerAndFries))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				if keyed {
					req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", i))
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Fatalf("POST = %d", resp.StatusCode)
				}
			}
		})
	}
}
