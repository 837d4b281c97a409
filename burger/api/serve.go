package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/linecook/linecook/workers/logkey"
)

// Run listens on the configured port and serves until ctx ends, then shuts
// down gracefully (see Serve).
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", ":"+strconv.Itoa(s.cfg.Port))
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends. Then it stops accepting connections
// and gives in-flight requests ShutdownTimeout to finish (ECS sends
// SIGTERM after the load balancer has drained the task, and SIGKILL
// stopTimeout later) before closing what is left.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	h := s.Handler()
	if s.wrap != nil {
		h = s.wrap(h)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.writeTimeout(),
		// Longer than the load balancer's 60 s idle timeout, so the
		// balancer, not the task, closes idle connections (no 502s).
		IdleTimeout:    75 * time.Second,
		MaxHeaderBytes: 32 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.jwt != nil {
		// The keys stay fresh until Serve returns, through the drain
		// of in-flight requests too.
		kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		refreshed := make(chan struct{})
		go func() { defer close(refreshed); s.jwt.Run(kctx) }()
		defer func() { stop(); <-refreshed }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("order API listening", logkey.Addr, ln.Addr().String(), logkey.APIKey, s.cfg.APIKey != "", logkey.JWTIssuer, s.cfg.JWTIssuer)
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing in-flight requests", logkey.DrainTimeout, s.cfg.ShutdownTimeout.String())
	// Event streams never finish on their own: end them now, and their
	// pages reconnect to a task that is not stopping, rather than hold
	// the drain up until its deadline.
	s.streams.end()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		closeErr := srv.Close()
		<-errc
		return fmt.Errorf("api: in-flight requests cut off after %s: %w", s.cfg.ShutdownTimeout, errors.Join(err, closeErr))
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", err)
	}
	s.log.Info("shut down")
	return nil
}

// writeTimeout leaves the synchronous path room for its slowest payment.
func (s *Server) writeTimeout() time.Duration {
	longest := s.cfg.Scale(s.cfg.PaymentDelay, 1)
	return max(30*time.Second, 2*longest+10*time.Second)
}
