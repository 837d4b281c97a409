// Package api is the order API: it validates new orders, writes them to
// the order table and sends them to the first stage's queue, and shows an
// order's progress through the stages.
//
//	POST /orders        accept an order: 202 {"id", "status", "traceId"}, Location /orders/{id}
//	POST /orders/sync   the reference system's synchronous path: pay inline, then answer
//	GET  /orders/{id}   status and per-stage timeline (orders.Timeline)
//	GET  /orders/stream server-sent events of the newest orders, for the live page (live.go)
//	GET  /healthz       liveness, no dependencies (the load balancer's check)
//	GET  /readyz        readiness: the table and the queue answer (and the token issuer's keys are fetched)
//	GET  /              the live order page, public, as are its assets and GET /menu (page.go)
//
// Errors are JSON: {"error": "...", "field": "items[1].item", "accepted": [...]}.
//
// # Credentials
//
// With neither an API key nor a token issuer configured, anyone may place
// and read orders. With an API key, a request needs it in X-Api-Key. With
// a token issuer, a request needs "Authorization: Bearer <JWT>" signed by
// one of the issuer's keys, for the configured audience, within its
// validity (package oidc). With both, either credential will do, but a
// bearer token that is presented must be valid: a request carrying a bad
// token is refused whatever else it carries, so a client learns its token
// is bad rather than having its orders recorded under the API key. The
// health checks need none (the load balancer has none), nor do the live
// page's files and the menu (page.go), which a browser loads before it
// has any; its event stream does. Each order
// records who placed it: the token's subject, or "api-key".
//
// # Never a half-written order
//
// Accepting an order takes two writes that cannot share a transaction: the
// order's record, then the message to the first stage. The API writes the
// record first (conditionally: it never overwrites), then sends; if either
// fails it withdraws the order and answers 503 with Retry-After, so a
// client never holds an id for an order that will not be made. A failed
// call may have happened all the same (only its answer timed out), so
// withdrawing leaves a tombstone rather than deleting: a write of the
// order that lands late writes nothing, and a message of it that reached
// the queue is dropped by the first stage (orders.ErrWithdrawn).
//
// What cannot be closed without a transaction is a crash of the API task
// between the two writes (or a failed withdrawal): the record stays
// "accepted" and no stage sees it. The Sweeper, running beside the server
// in every API task, closes it: it finds orders left accepted past
// SweepAfter through the table's sparse index of unstarted orders and
// sends them to the first stage again (sweep.go). Requests with an
// Idempotency-Key are also finished by the client's retry: a retry after
// IdempotencyWindow finds the claimed key unfinished and finishes the work
// itself. Either way an order may be sent twice, which the first stage
// absorbs: a message of an order whose stage another message holds is
// dropped (orders.ErrDuplicate), and one whose stage has ended skips it.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/linecook/linecook/burger/events"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/burger/oidc"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/workers/logkey"
)

// Store is what the API needs of the order store (orders/dynamo.Store).
type Store interface {
	Create(ctx context.Context, o orders.Order) error
	Get(ctx context.Context, id string) (orders.Order, error)
	Withdraw(ctx context.Context, id string, at time.Time) error
	PutIdempotency(ctx context.Context, rec orders.Idempotency) error
	GetIdempotency(ctx context.Context, key string) (orders.Idempotency, error)
	MarkIdempotencyDone(ctx context.Context, key string) error
	DeleteIdempotency(ctx context.Context, key, orderID string) error
	Ping(ctx context.Context) error
}

// Queue is what the API needs of SQS (*sqs.Client).
type Queue interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Headers the API reads and writes.
const (
	HeaderAPIKey      = "X-Api-Key"
	HeaderAuth        = "Authorization"
	HeaderIdempotency = "Idempotency-Key"
	HeaderReplayed    = "Idempotent-Replayed"
	HeaderTraceID     = "X-Trace-Id"
)

// retryAfter is what a 503 tells clients to wait, in seconds: about how
// long an SQS or DynamoDB hiccup lasts, not how long an outage does.
const retryAfter = "2"

// Server is the order API.
type Server struct {
	cfg    Config
	store  Store
	queue  Queue
	log    *slog.Logger
	now    func() time.Time
	rand   func() float64
	apiKey [sha256.Size]byte
	// events gets an order's placed event once it is sent.
	events events.Publisher
	// jwt verifies bearer tokens; nil when no issuer is configured.
	jwt *oidc.Verifier
	// exit ends the process (os.Exit) when a fault is injected.
	exit func(code int)
	// streams feeds the live page's event streams.
	streams streams
	// wrap, set by tests only, wraps the handler Serve serves.
	wrap func(http.Handler) http.Handler
}

// PublishEvents sends each accepted order's placed event to p (by
// default, none are sent). Publishing never delays or fails an order.
func (s *Server) PublishEvents(p events.Publisher) { s.events = p }

// New returns the API over store and queue; log receives its access and
// error logs. cfg must be valid (see Config.Validate); Port is only used
// by Run.
func New(cfg Config, store Store, queue Queue, log *slog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.IdempotencyWindow <= 0 {
		cfg.IdempotencyWindow = 10 * cfg.AWSTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, store: store, queue: queue, log: log, now: time.Now, rand: rand.Float64, events: events.Nop{}, exit: os.Exit}
	if cfg.APIKey != "" {
		s.apiKey = sha256.Sum256([]byte(cfg.APIKey))
	}
	if cfg.JWT() {
		v, err := oidc.New(oidc.Config{
			Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, JWKSURL: cfg.JWTJWKSURL, MinRefreshInterval: cfg.JWTMinRefreshInterval,
		}, log)
		if err != nil {
			return nil, err
		}
		s.jwt = v
	}
	return s, nil
}

// Handler returns the API's routes, wrapped in access logging, panic
// recovery and the credential check; the live page's files are served
// before the check, everything else after it. Serve also keeps the token
// issuer's keys fresh; without it, they are fetched when the first token
// needs them.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.postOrder)
	mux.HandleFunc("POST /orders/sync", s.postOrderSync)
	mux.HandleFunc("GET /orders/{id}", s.getOrder)
	mux.HandleFunc("GET /orders/stream", s.streamOrders)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/", s.notFound)
	return s.accessLog(s.recoverPanics(s.page(s.authenticate(mux))))
}

// routes lists each path's methods, for 405 answers (the catch-all route
// answers instead of the mux, to keep errors JSON).
var routes = []struct {
	match   func(path string) bool
	methods string
}{
	{func(p string) bool { return p == "/orders" || p == "/orders/sync" }, "POST"},
	{func(p string) bool {
		return strings.HasPrefix(p, "/orders/") && !strings.Contains(p[len("/orders/"):], "/")
	}, "GET, HEAD"},
	{func(p string) bool { return p == "/healthz" || p == "/readyz" }, "GET, HEAD"},
	{isPage, "GET, HEAD"},
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	for _, rt := range routes {
		if rt.match(r.URL.Path) {
			w.Header().Set("Allow", rt.methods)
			writeError(w, http.StatusMethodNotAllowed, &apiError{Message: fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rt.methods)})
			return
		}
	}
	writeError(w, http.StatusNotFound, &apiError{Message: fmt.Sprintf("no route %s %s (routes: POST /orders, POST /orders/sync, GET /orders/{id}, GET /orders/stream, GET /healthz, GET /readyz, GET /)", r.Method, r.URL.Path)})
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Message  string   `json:"error"`
	Field    string   `json:"field,omitempty"`
	Accepted []string `json:"accepted,omitempty"`
}

func fieldError(fe *orders.FieldError) *apiError {
	return &apiError{Message: fe.Error(), Field: fe.Field, Accepted: fe.Accepted}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The status is sent; an encoding error now means the client left.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e *apiError) {
	writeJSON(w, status, e)
}

// unavailable answers 503 for a dependency that failed, logging why; the
// client learns only what failed and when to retry.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), what+" unavailable", logkey.Error, err, logkey.TraceID, info(r.Context()).traceID)
	w.Header().Set("Retry-After", retryAfter)
	writeError(w, http.StatusServiceUnavailable, &apiError{Message: what + " is unavailable; retry after " + retryAfter + " s"})
}

// call bounds one SQS or DynamoDB call.
func (s *Server) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.AWSTimeout)
}

// decode checks a new-order request's content type and body, answering
// the error itself when it fails.
func (s *Server) decode(w http.ResponseWriter, r *http.Request) (orders.Request, bool) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, &apiError{
			Message: fmt.Sprintf("Content-Type must be application/json, got %q", ct), Field: "Content-Type", Accepted: []string{"application/json"},
		})
		return orders.Request{}, false
	}
	req, err := orders.DecodeRequest(http.MaxBytesReader(w, r.Body, orders.MaxBodyBytes))
	var fe *orders.FieldError
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return req, true
	case errors.Is(err, orders.ErrTooLarge) || errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, &apiError{Message: orders.ErrTooLarge.Error()})
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fieldError(fe))
	default:
		writeError(w, http.StatusBadRequest, &apiError{Message: "could not read the request body: " + err.Error()})
	}
	return orders.Request{}, false
}

// accepted is POST /orders' answer.
type accepted struct {
	ID      string        `json:"id"`
	Status  orders.Status `json:"status"`
	TraceID string        `json:"traceId"`
}

func (s *Server) answerAccepted(w http.ResponseWriter, r *http.Request, id, traceID string, replayed bool) {
	ri := info(r.Context())
	ri.orderID, ri.traceID = id, traceID
	w.Header().Set("Location", "/orders/"+id)
	w.Header().Set(HeaderTraceID, traceID)
	if replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	writeJSON(w, http.StatusAccepted, accepted{ID: id, Status: orders.Accepted, TraceID: traceID})
}

func (s *Server) postOrder(w http.ResponseWriter, r *http.Request) {
	_, hasKey := r.Header[HeaderIdempotency]
	key := r.Header.Get(HeaderIdempotency)
	if hasKey {
		if err := orders.ValidateIdempotencyKey(key); err != nil {
			var fe *orders.FieldError
			errors.As(err, &fe)
			writeError(w, http.StatusBadRequest, fieldError(fe))
			return
		}
	}
	req, ok := s.decode(w, r)
	if !ok {
		return
	}
	// From here on the outcome must not depend on the client staying
	// connected: a sequence cut short by a disconnect is exactly the
	// half-written order the compensation exists to prevent. Every call
	// is bounded by AWSTimeout instead.
	ctx := context.WithoutCancel(r.Context())
	o := orders.New(req, s.now())
	ri := info(r.Context())
	ri.traceID, o.PlacedBy = o.TraceID, ri.principal
	if !hasKey {
		s.accept(ctx, w, r, o, "")
		return
	}
	claim := orders.Idempotency{Key: key, OrderID: o.ID, TraceID: o.TraceID, RequestHash: req.Hash(), PlacedBy: o.PlacedBy, CreatedAt: o.CreatedAt}
	cctx, cancel := s.call(ctx)
	err := s.store.PutIdempotency(cctx, claim)
	cancel()
	switch {
	case err == nil:
		s.accept(ctx, w, r, o, key)
	case errors.Is(err, orders.ErrExists):
		s.replay(ctx, w, r, req, key)
	default:
		s.unavailable(w, r, "the order table", err)
	}
}

// paid is POST /orders/sync's answer.
type paid struct {
	ID        string        `json:"id"`
	Status    string        `json:"status"`
	TraceID   string        `json:"traceId"`
	Items     []orders.Line `json:"items"`
	PaymentMs float64       `json:"paymentMs"`
}

// postOrderSync is the synchronous baseline the async path is measured
// against (the reference system's 3024 ms vs 39 ms): the client waits for
// the payment. It writes nothing and enqueues nothing.
func (s *Server) postOrderSync(w http.ResponseWriter, r *http.Request) {
	req, ok := s.decode(w, r)
	if !ok {
		return
	}
	now := s.now()
	o := orders.New(req, now)
	ri := info(r.Context())
	ri.orderID, ri.traceID = o.ID, o.TraceID
	d := s.cfg.Payment(s.rand())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		// The client gave up; nobody is left to answer.
		return
	}
	w.Header().Set(HeaderTraceID, o.TraceID)
	writeJSON(w, http.StatusOK, paid{ID: o.ID, Status: "paid", TraceID: o.TraceID, Items: o.Items, PaymentMs: float64(s.now().Sub(now).Microseconds()) / 1000})
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	notFound := &apiError{Message: fmt.Sprintf("no order %s", strconv.Quote(clip(id))), Field: "id"}
	if !orders.ValidID(id) {
		writeError(w, http.StatusNotFound, notFound)
		return
	}
	ctx, cancel := s.call(r.Context())
	o, err := s.store.Get(ctx, id)
	cancel()
	switch {
	case errors.Is(err, orders.ErrNotFound):
		writeError(w, http.StatusNotFound, notFound)
		return
	case err != nil:
		s.unavailable(w, r, "the order table", err)
		return
	}
	ri := info(r.Context())
	ri.orderID, ri.traceID = o.ID, o.TraceID
	writeJSON(w, http.StatusOK, o.Timeline())
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// healthz is liveness: the process serves HTTP. It checks no dependency,
// so an SQS or DynamoDB outage does not make the load balancer kill every
// task at once.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz checks that the table and the queue answer, for operators and
// deploy checks. It needs dynamodb:GetItem on the table and
// sqs:GetQueueAttributes on the queue. With a token issuer configured, the
// API is not ready until it has the issuer's keys: it could check no
// token.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.jwt != nil && !s.jwt.Ready() {
		s.unavailable(w, r, "the token issuer's keys", oidc.ErrKeysUnavailable)
		return
	}
	ctx, cancel := s.call(r.Context())
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.unavailable(w, r, "the order table", err)
		return
	}
	if _, err := s.queue.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(s.cfg.NextQueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	}); err != nil {
		s.unavailable(w, r, "the order queue", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// authenticate checks the request's credentials when the API asks for
// any (see the package documentation) and records who made it. Health
// checks are exempt: the load balancer has no credentials.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.cfg.APIKey == "" && s.jwt == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			who, ok := s.principal(w, r)
			if !ok {
				return
			}
			info(r.Context()).principal = who
		}
		next.ServeHTTP(w, r)
	})
}

// principal returns who made the request, or answers it (401, or 503 when
// the token issuer's keys cannot be had) and returns false.
func (s *Server) principal(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.jwt != nil {
		if token, ok := bearer(r.Header.Get(HeaderAuth)); ok {
			sub, err := s.jwt.Verify(r.Context(), token)
			var te *oidc.TokenError
			switch {
			case err == nil:
				return sub, true
			case errors.As(err, &te):
				info(r.Context()).authErr = te.Reason
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, &apiError{Message: te.Reason, Field: HeaderAuth})
			case errors.Is(err, oidc.ErrKeysUnavailable):
				s.unavailable(w, r, "the token issuer's keys", err)
			default:
				// The client left while the issuer's keys were fetched.
				info(r.Context()).authErr = err.Error()
				writeError(w, http.StatusUnauthorized, &apiError{Message: "the bearer token could not be checked: " + err.Error(), Field: HeaderAuth})
			}
			return "", false
		}
	}
	if s.cfg.APIKey != "" {
		if _, sent := r.Header[HeaderAPIKey]; sent || s.jwt == nil {
			// Both sides are hashed before the constant-time
			// comparison, so neither the key's content nor its length
			// leaks through timing.
			got := sha256.Sum256([]byte(r.Header.Get(HeaderAPIKey)))
			if subtle.ConstantTimeCompare(got[:], s.apiKey[:]) != 1 {
				info(r.Context()).authErr = "wrong " + HeaderAPIKey
				writeError(w, http.StatusUnauthorized, &apiError{Message: "missing or wrong " + HeaderAPIKey + " header", Field: HeaderAPIKey})
				return "", false
			}
			return orders.PlacedByAPIKey, true
		}
	}
	msg := "missing credentials: send Authorization: Bearer <token>"
	if s.cfg.APIKey != "" {
		msg += " or the API key in " + HeaderAPIKey
	}
	info(r.Context()).authErr = "no credentials"
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeError(w, http.StatusUnauthorized, &apiError{Message: msg, Field: HeaderAuth})
	return "", false
}

// bearer is the token of an "Authorization: Bearer <token>" header (the
// scheme is case-insensitive, RFC 9110).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", logkey.Panic, fmt.Sprint(v), logkey.Path, r.URL.Path)
				writeError(w, http.StatusInternalServerError, &apiError{Message: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}
