// Package oidctest is a token issuer for tests: it publishes a JWKS over
// HTTP on the loopback address and signs tokens with its keys, so a test
// can make every kind of token a verifier must accept or refuse, rotate
// keys, and take the JWKS down.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/linecook/linecook/burger/oidc"
)

// Audience is the audience the issuer's default claims name.
const Audience = "linecook-orders"

// The keys New publishes.
const (
	RSAKey = "rsa-1"
	ECKey  = "ec-1"
)

// Issuer is the test issuer. Its methods are safe for concurrent use.
type Issuer struct {
	// URL is the issuer's identifier (its "iss") and JWKSURL where it
	// publishes its keys.
	URL, JWKSURL string

	mu        sync.Mutex
	keys      map[string]signer // every key made, published or not
	published []string          // the key ids in the JWKS, in order
	status    int               // what the JWKS answers: 200, or an outage's status
	delay     time.Duration     // how long the JWKS takes to answer
	fetches   atomic.Int64
}

type signer struct {
	method jwt.SigningMethod
	key    crypto.Signer
}

// New starts an issuer publishing an RS256 key (RSAKey) and an ES256 key
// (ECKey); it stops with the test.
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{keys: map[string]signer{}, status: http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(i.serveJWKS))
	t.Cleanup(srv.Close)
	i.URL, i.JWKSURL = srv.URL, srv.URL+"/.well-known/jwks.json"
	i.AddKey(t, RSAKey, "RS256")
	i.AddKey(t, ECKey, "ES256")
	return i
}

// Config is an oidc.Config accepting this issuer's tokens for Audience.
func (i *Issuer) Config() oidc.Config {
	return oidc.Config{Issuer: i.URL, Audience: Audience, JWKSURL: i.JWKSURL}
}

// AddKey makes a key for alg ("RS256" or "ES256") and publishes it.
func (i *Issuer) AddKey(t testing.TB, kid, alg string) {
	t.Helper()
	i.MakeKey(t, kid, alg)
	i.Publish(kid)
}

// MakeKey makes a key that signs tokens but is not published (until
// Publish), as a rotation's not yet announced would be.
func (i *Issuer) MakeKey(t testing.TB, kid, alg string) {
	t.Helper()
	var s signer
	var err error
	switch alg {
	case "RS256":
		s.method = jwt.SigningMethodRS256
		s.key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		s.method = jwt.SigningMethodES256
		s.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("oidctest: no %s keys", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys[kid] = s
}

// Publish adds a key made with MakeKey to the JWKS.
func (i *Issuer) Publish(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.published = append(i.published, kid)
}

// Unpublish removes a key from the JWKS (it still signs).
func (i *Issuer) Unpublish(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for n, k := range i.published {
		if k == kid {
			i.published = append(i.published[:n:n], i.published[n+1:]...)
			return
		}
	}
}

// Fail makes the JWKS answer status (http.StatusOK to recover).
func (i *Issuer) Fail(status int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.status = status
}

// Delay makes the JWKS take d to answer.
func (i *Issuer) Delay(d time.Duration) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.delay = d
}

// Fetches counts the requests for the JWKS so far.
func (i *Issuer) Fetches() int { return int(i.fetches.Load()) }

// Claims are valid claims for subject: this issuer, Audience, issued now,
// expiring in an hour.
func (i *Issuer) Claims(subject string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": i.URL, "aud": Audience, "sub": subject,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// Sign signs claims with the key kid, naming kid in the header.
func (i *Issuer) Sign(t testing.TB, kid string, claims jwt.MapClaims) string {
	t.Helper()
	s := i.signer(t, kid)
	tok := jwt.NewWithClaims(s.method, claims)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Forge signs claims with a new key of kid's algorithm that is not kid,
// naming kid in the header: an attacker's token, whose signature does not
// verify against the published key.
func (i *Issuer) Forge(t testing.TB, kid string, claims jwt.MapClaims) string {
	t.Helper()
	s := i.signer(t, kid)
	const forged = "oidctest-forged"
	i.MakeKey(t, forged, s.method.Alg())
	i.mu.Lock()
	f := i.keys[forged]
	delete(i.keys, forged)
	i.mu.Unlock()
	tok := jwt.NewWithClaims(f.method, claims)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(f.key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// SignString signs signingString (a token's "header.claims", built by
// hand) with the key kid, whatever the header says, and returns the token.
func (i *Issuer) SignString(t testing.TB, kid, signingString string) string {
	t.Helper()
	s := i.signer(t, kid)
	sig, err := s.method.Sign(signingString, s.key)
	if err != nil {
		t.Fatal(err)
	}
	return signingString + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// PublicKey is the public half of the key kid.
func (i *Issuer) PublicKey(t testing.TB, kid string) crypto.PublicKey {
	t.Helper()
	return i.signer(t, kid).key.Public()
}

func (i *Issuer) signer(t testing.TB, kid string) signer {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	s, ok := i.keys[kid]
	if !ok {
		t.Fatalf("oidctest: no key %q", kid)
	}
	return s
}

// Token is a valid token for subject, signed with RSAKey.
func (i *Issuer) Token(t testing.TB, subject string) string {
	t.Helper()
	return i.Sign(t, RSAKey, i.Claims(subject))
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	i.fetches.Add(1)
	i.mu.Lock()
	status, delay := i.status, i.delay
	var doc jwkset.JWKSMarshal
	for _, kid := range i.published {
		s := i.keys[kid]
		j, err := jwkset.NewJWKFromKey(s.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			KID: kid, ALG: jwkset.ALG(s.method.Alg()), USE: jwkset.UseSig,
		}})
		if err != nil {
			i.mu.Unlock()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		doc.Keys = append(doc.Keys, j.Marshal())
	}
	i.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != http.StatusOK {
		http.Error(w, "issuer down", status)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(doc)
}
