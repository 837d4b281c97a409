package orders

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeRequest: decoding never panics, fails only with the documented
// errors, and whatever it accepts validates and survives a round trip
// through JSON unchanged. The seed corpus is in testdata/fuzz.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"items":[{"item":"burger","quantity":2},{"item":"fries"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(bytes.NewReader(data))
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("DecodeRequest(%q) = %T %v, want *FieldError or ErrTooLarge", data, err, err)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted %q but it does not validate: %v", data, err)
		}
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeRequest(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("accepted %q, re-encoded as %s, which is rejected: %v", data, enc, err)
		}
		if !reflect.DeepEqual(req, again) || req.Hash() != again.Hash() {
			t.Fatalf("round trip changed the order: %+v → %s → %+v", req, enc, again)
		}
	})
}
