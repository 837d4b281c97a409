package orders

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Order ids are ULIDs: 26 characters of Crockford base32, a 48-bit
// millisecond timestamp followed by 80 random bits. They sort by creation
// time as strings, need no coordination between API tasks, and contain no
// character that needs escaping in a URL path.
const idLen = 26

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a new order id for an order created at t.
func NewID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	// crypto/rand.Read never returns an error (Go 1.24+); it panics if the
	// kernel cannot supply randomness.
	_, _ = rand.Read(b[6:])
	return encodeULID(b)
}

// encodeULID renders 128 bits as 26 base32 digits, most significant first
// (the first digit carries only 3 bits).
func encodeULID(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [idLen]byte
	for i := idLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// ValidID reports whether s has the shape of an order id. It keeps other
// records that share the table (idempotency keys) out of order lookups.
func ValidID(s string) bool {
	if len(s) != idLen || s[0] > '7' {
		return false
	}
	for i := range len(s) {
		if !isCrockford(s[i]) {
			return false
		}
	}
	return true
}

func isCrockford(c byte) bool {
	switch {
	case c >= '0' && c <= '9':
		return true
	case c >= 'A' && c <= 'Z':
		return c != 'I' && c != 'L' && c != 'O' && c != 'U'
	}
	return false
}

// IDTime returns the creation time encoded in a valid order id.
func IDTime(id string) time.Time {
	var ms uint64
	// The first 10 digits hold the 48-bit timestamp (50 bits, top 2 zero).
	for i := range 10 {
		ms = ms<<5 | uint64(indexCrockford(id[i]))
	}
	return time.UnixMilli(int64(ms))
}

func indexCrockford(c byte) int {
	for i := range len(crockford) {
		if crockford[i] == c {
			return i
		}
	}
	return 0
}

// NewTraceID returns a trace id: 16 random bytes in hex, the shape of a
// W3C trace-id, so it can be handed to a tracing system later unchanged.
func NewTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
