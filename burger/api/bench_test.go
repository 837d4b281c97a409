package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkPostOrder is the asynchronous path end to end on this machine:
// HTTP, validation, the conditional write to dynalite and the send to
// fauxqs (plus the claim and its completion with an Idempotency-Key).
// Compare with the synchronous path, which waits for the payment (3 s by
// default).
//
//	go test -run '^$' -bench PostOrder ./api
func BenchmarkPostOrder(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "plain"
		if keyed {
			name = "idempotency-key"
		}
		b.Run(name, func(b *testing.B) {
			f := start(b, nil)
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
