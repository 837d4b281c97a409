// Package oidc verifies the bearer tokens an OpenID Connect issuer signs:
// JWTs whose signature checks against one of the issuer's published keys
// (its JWKS), issued by that issuer, for this audience, and within their
// validity. The order API accepts them besides its API key.
//
// Cryptography and key decoding are libraries' (golang-jwt/jwt parses the
// token, checks its claims and verifies its signature; MicahParks/jwkset
// turns the JWKS's entries into public keys). What is this package's own
// is the cache policy, because the request path must not wait on the
// issuer:
//
//   - a token whose key id is cached is verified with no I/O, in tens of
//     microseconds (BenchmarkVerify, medians of 5 on the shared 2-core
//     test machine: 40 µs for RS256, 73 µs for ES256);
//   - the keys are fetched again every RefreshInterval by Run, and sooner
//     after a failure, so a rotation the issuer announces ahead (as every
//     OIDC issuer does) is cached before its first token arrives;
//   - a token signed with a key id not cached triggers one fetch, at most
//     one per MinRefreshInterval; requests that find a fetch running wait
//     for it (bounded by FetchTimeout) rather than fail, so the first
//     burst of tokens signed with a freshly rotated key is accepted, and
//     a flood of tokens with made-up key ids costs the issuer one request
//     per interval;
//   - a failed fetch keeps the keys already cached; a successful one
//     replaces them, dropping keys the issuer removed.
//
// Only asymmetric signatures are accepted: RS256 with an RSA key, ES256
// with a P-256 key, the key's own "alg" (when the JWKS states one) having
// to match the token's. "none", HMAC (whose "secret" an attacker would
// take from the public key) and every other algorithm are refused before
// any key is looked up.
package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/linecook/linecook/workers/logkey"
)

// Algorithms are the signature algorithms accepted, in the order error
// messages list them.
var Algorithms = []string{"RS256", "ES256"}

// Defaults of Config's durations.
const (
	DefaultRefreshInterval    = 15 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultLeeway             = 30 * time.Second
)

// maxJWKSBytes bounds the JWKS document: a real one is a few KiB.
const maxJWKSBytes = 1 << 20

// Config says which tokens a Verifier accepts and how it keeps the keys.
type Config struct {
	// Issuer must equal the token's "iss" exactly (a trailing slash
	// counts).
	Issuer string
	// Audience must be one of the token's "aud" values.
	Audience string
	// JWKSURL is where the issuer publishes its keys (its discovery
	// document's jwks_uri).
	JWKSURL string

	// RefreshInterval is how often Run fetches the keys; 0 means
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two fetches that
	// tokens with an unknown key id trigger (and Run's first retry after
	// a failure); 0 means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// FetchTimeout bounds one fetch of the keys; 0 means
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Leeway is the clock skew allowed on "exp", "nbf" and "iat"; 0 means
	// DefaultLeeway, negative none.
	Leeway time.Duration
	// Client fetches the keys; nil means a client of its own.
	Client *http.Client
	// Now is the clock tokens are checked against; nil means time.Now.
	Now func() time.Time
}

// ErrKeysUnavailable: the token could not be checked because the issuer's
// keys have never been fetched. It is the issuer's outage, not the
// token's fault: the API answers 503, not 401.
var ErrKeysUnavailable = errors.New("the token issuer's keys are unavailable")

// TokenError is a token refused. Reason says why, for the client.
type TokenError struct {
	Reason string
	Err    error
}

func (e *TokenError) Error() string { return e.Reason }
func (e *TokenError) Unwrap() error { return e.Err }

// Verifier verifies tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	log    *slog.Logger

	keys atomic.Pointer[keySet]

	mu       sync.Mutex
	inflight chan struct{} // closed when the running fetch ends; nil when none runs
	// lastOnDemand is when a token last started a fetch: Run's fetches
	// do not count, so a rotation just after one is still fetched.
	lastOnDemand time.Time
	lastErr      error
}

// keySet is one fetch's usable keys by key id.
type keySet struct {
	keys    map[string]publicKey
	fetched time.Time
}

type publicKey struct {
	alg string // one of Algorithms
	key any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// New returns a Verifier; it fetches nothing until Run starts or a token
// needs a key.
func New(cfg Config, log *slog.Logger) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.JWKSURL == "" {
		return nil, errors.New("oidc: issuer, audience and JWKS URL are all required")
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.FetchTimeout, CheckRedirect: sameSecurity}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods(Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	)
	return &Verifier{cfg: cfg, parser: parser, log: log}, nil
}

// Ready reports whether the issuer's keys have been fetched at least once.
func (v *Verifier) Ready() bool { return v.keys.Load() != nil }

// Verify checks a token (the part after "Bearer ") and returns its
// subject. A refused token is a *TokenError; ErrKeysUnavailable means it
// could not be checked. It does no I/O unless the token's key id is not
// cached (see the package documentation).
func (v *Verifier) Verify(ctx context.Context, token string) (subject string, err error) {
	var claims jwt.RegisteredClaims
	tok, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return "", v.refusal(tok, &claims, err)
	}
	if claims.Subject == "" {
		return "", &TokenError{Reason: `the bearer token has no subject ("sub")`}
	}
	return claims.Subject, nil
}

// keyError is why no key verifies a token, as the client is told.
type keyError struct{ reason string }

func (e *keyError) Error() string { return e.reason }

// key finds the key that signed t, fetching the keys again if its key id
// is not cached.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, hasKID := t.Header["kid"].(string)
	if !hasKID {
		// A lone key need not be named; with several, try those of
		// the token's algorithm.
		set := v.keys.Load()
		if set == nil {
			if err := v.refreshForUnknown(ctx); err != nil {
				return nil, err
			}
			set = v.keys.Load()
		}
		var ks jwt.VerificationKeySet
		for _, k := range set.keys {
			if k.alg == alg {
				ks.Keys = append(ks.Keys, k.key)
			}
		}
		if len(ks.Keys) == 0 {
			return nil, &keyError{fmt.Sprintf("the bearer token names no key id (kid) and the issuer has no %s key", alg)}
		}
		return ks, nil
	}
	k, ok := v.lookup(kid)
	if !ok {
		if err := v.refreshForUnknown(ctx); err != nil {
			return nil, err
		}
		if k, ok = v.lookup(kid); !ok {
			return nil, &keyError{fmt.Sprintf("the bearer token is signed with key id %q, which is not one of the issuer's keys", kid)}
		}
	}
	if k.alg != alg {
		return nil, &keyError{fmt.Sprintf("the bearer token says %s, but its key %q is an %s key", alg, kid, k.alg)}
	}
	return k.key, nil
}

func (v *Verifier) lookup(kid string) (publicKey, bool) {
	set := v.keys.Load()
	if set == nil {
		return publicKey{}, false
	}
	k, ok := set.keys[kid]
	return k, ok
}

// refreshForUnknown fetches the keys for a token whose key is not cached:
// it joins a fetch already running, starts one if the last began at least
// MinRefreshInterval ago, and otherwise returns at once. It fails only
// when no keys have ever been fetched.
func (v *Verifier) refreshForUnknown(ctx context.Context) error {
	if done := v.refresh(true); done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if v.keys.Load() == nil {
		v.mu.Lock()
		err := v.lastErr
		v.mu.Unlock()
		return fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	return nil
}

// refresh starts a fetch unless one is running. A fetch onDemand (for a
// token) is not started if a token started one less than
// MinRefreshInterval ago. It returns a channel closed when the fetch
// (started or joined) ends, or nil when none was.
func (v *Verifier) refresh(onDemand bool) <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inflight != nil {
		return v.inflight
	}
	if onDemand {
		now := time.Now()
		if !v.lastOnDemand.IsZero() && now.Sub(v.lastOnDemand) < v.cfg.MinRefreshInterval {
			return nil
		}
		v.lastOnDemand = now
	}
	done := make(chan struct{})
	v.inflight = done
	// Detached from any request: a client that leaves must not cancel
	// the fetch others are waiting for. FetchTimeout ends it.
	go func() {
		err := v.fetch()
		v.mu.Lock()
		v.inflight, v.lastErr = nil, err
		v.mu.Unlock()
		close(done)
	}()
	return done
}

// Run fetches the keys now and then every RefreshInterval until ctx ends.
// After a failed fetch it tries again sooner: after MinRefreshInterval,
// doubling up to RefreshInterval. Its fetches are not rate-limited like
// the tokens', nor count toward their limit; any fetch already running is
// shared.
func (v *Verifier) Run(ctx context.Context) {
	wait := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case <-v.refresh(false):
		case <-ctx.Done():
			return
		}
		v.mu.Lock()
		failed := v.lastErr != nil
		v.mu.Unlock()
		if failed {
			wait = min(max(2*wait, v.cfg.MinRefreshInterval), v.cfg.RefreshInterval)
		} else {
			wait = v.cfg.RefreshInterval
		}
		timer.Reset(wait)
	}
}

// fetch reads the JWKS and replaces the cached keys with its usable ones.
// A failure, or a JWKS with no usable key, keeps the cached keys.
func (v *Verifier) fetch() error {
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.FetchTimeout)
	defer cancel()
	err := v.fetchKeys(ctx)
	if err != nil {
		v.log.Warn("could not fetch the token issuer's keys; keeping those cached", logkey.JWKSURL, v.cfg.JWKSURL, logkey.Error, err)
	}
	return err
}

func (v *Verifier) fetchKeys(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch keys: GET %s: %s", v.cfg.JWKSURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("fetch keys: the JWKS is larger than %d bytes", maxJWKSBytes)
	}
	var doc jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("fetch keys: not a JWKS: %w", err)
	}
	keys := make(map[string]publicKey, len(doc.Keys))
	var skipped []string
	for _, m := range doc.Keys {
		k, err := usable(m)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%q (%v)", m.KID, err))
			continue
		}
		keys[m.KID] = k
	}
	if len(keys) == 0 {
		return fmt.Errorf("fetch keys: none of the JWKS's %d keys is an %s signing key: %s",
			len(doc.Keys), strings.Join(Algorithms, " or "), strings.Join(skipped, "; "))
	}
	old := v.keys.Swap(&keySet{keys: keys, fetched: time.Now()})
	if old == nil || !sameIDs(old.keys, keys) {
		// Rotations are rare and worth a line; routine fetches are not.
		v.log.Info("fetched the token issuer's keys", logkey.JWKSURL, v.cfg.JWKSURL, logkey.KeyIDs, ids(keys), logkey.SkippedKeys, len(skipped))
	}
	return nil
}

// sameSecurity follows redirects as http.Client does, except from https
// to http: the keys would then arrive where anyone on the way could
// replace them.
func sameSecurity(req *http.Request, via []*http.Request) error {
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing a redirect from %s to %s", via[0].URL, req.URL)
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// usable turns one JWKS entry into a key this package verifies with, or
// says why it cannot.
func usable(m jwkset.JWKMarshal) (publicKey, error) {
	if m.USE != "" && m.USE != jwkset.UseSig {
		return publicKey{}, fmt.Errorf("use %q, not sig", m.USE)
	}
	// Private: false: a JWKS that carelessly includes private parts
	// still yields only the public key.
	j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: false}, jwkset.JWKValidateOptions{})
	if err != nil {
		return publicKey{}, err
	}
	var k publicKey
	switch key := j.Key().(type) {
	case *rsa.PublicKey:
		k = publicKey{alg: "RS256", key: key}
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return publicKey{}, fmt.Errorf("curve %s, not P-256", key.Curve.Params().Name)
		}
		k = publicKey{alg: "ES256", key: key}
	default:
		return publicKey{}, fmt.Errorf("key type %s is not accepted", m.KTY)
	}
	if a := m.ALG.String(); a != "" && a != k.alg {
		return publicKey{}, fmt.Errorf("alg %s is not accepted", a)
	}
	return k, nil
}

// refusal turns the parser's error into the reason the client is told.
func (v *Verifier) refusal(tok *jwt.Token, claims *jwt.RegisteredClaims, err error) error {
	if errors.Is(err, ErrKeysUnavailable) {
		return err
	}
	refuse := func(format string, args ...any) error {
		return &TokenError{Reason: fmt.Sprintf(format, args...), Err: err}
	}
	// The algorithm is checked first, before any key is looked up.
	if tok != nil {
		if alg, _ := tok.Header["alg"].(string); !slices.Contains(Algorithms, alg) && !errors.Is(err, jwt.ErrTokenMalformed) {
			return refuse("the bearer token is signed with %q; accepted: %s", alg, strings.Join(Algorithms, ", "))
		}
	}
	var ke *keyError
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse("the bearer token is not a well-formed JWT")
	case errors.As(err, &ke):
		return refuse("%s", ke.reason)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse("the bearer token's signature does not verify")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return refuse("the bearer token cannot be verified: %v", err)
	// Claims: signature checked, so what they say is the issuer's.
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse("the bearer token expired at %s", when(claims.ExpiresAt))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse("the bearer token is not valid before %s", when(claims.NotBefore))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse("the bearer token is issued in the future (%s)", when(claims.IssuedAt))
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse("the bearer token's issuer %q is not %q", claims.Issuer, v.cfg.Issuer)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// "…: token is missing required claim: exp claim is required"
		msg := err.Error()
		return refuse("the bearer token is missing a required claim: %s", msg[strings.LastIndex(msg, ": ")+2:])
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse("the bearer token's audience %q does not include %q", []string(claims.Audience), v.cfg.Audience)
	}
	return refuse("the bearer token is invalid: %v", err)
}

func when(t *jwt.NumericDate) string {
	if t == nil {
		return "(unset)"
	}
	return t.UTC().Format(time.RFC3339)
}

func ids(keys map[string]publicKey) []string {
	out := make([]string, 0, len(keys))
	for id := range keys {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func sameIDs(a, b map[string]publicKey) bool {
	return slices.Equal(ids(a), ids(b))
}
