package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/linecook/linecook/workers/logkey"
)

// requestInfo is what the credential check and the handlers tell the
// access log about a request: who made it (or why they were refused), and
// the order and trace it concerned. The handlers read the principal from
// it too.
type requestInfo struct {
	orderID, traceID string
	principal        string
	authErr          string
}

type infoKey struct{}

// info returns the request's requestInfo; outside accessLog, a throwaway.
func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// accessLog writes one JSON line per request, with the order and trace id
// the handler recorded, so a request can be followed into the workers'
// logs by its trace id.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
		if rec.status == 0 {
			// The handler wrote nothing: the client left before an
			// answer (nginx's 499).
			rec.status = 499
		}
		attrs := []any{
			logkey.Method, r.Method, logkey.Path, r.URL.Path, logkey.Status, rec.status, logkey.Bytes, rec.bytes,
			logkey.DurationMS, float64(time.Since(start).Microseconds()) / 1000,
			logkey.Client, client(r),
		}
		if ri.traceID != "" {
			attrs = append(attrs, logkey.TraceID, ri.traceID)
		}
		if ri.orderID != "" {
			attrs = append(attrs, logkey.OrderID, ri.orderID)
		}
		if ri.principal != "" {
			attrs = append(attrs, logkey.Principal, ri.principal)
		}
		if ri.authErr != "" {
			attrs = append(attrs, logkey.Error, ri.authErr)
		}
		if r.URL.Path == "/healthz" && rec.status == http.StatusOK {
			// The load balancer asks every few seconds; keep it out of
			// the way unless asked for.
			s.log.DebugContext(r.Context(), "request", attrs...)
			return
		}
		s.log.InfoContext(r.Context(), "request", attrs...)
	})
}

// client is the caller's address: behind the load balancer, the first
// address in X-Forwarded-For.
func client(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		return strings.TrimSpace(first)
	}
	return r.RemoteAddr
}
