package api

import (
	"net/http"
	"time"
)

// WrapForTest makes Serve serve wrap(handler), so a test can see when a
// request reaches the handler.
func (s *Server) WrapForTest(wrap func(http.Handler) http.Handler) { s.wrap = wrap }

// ExitForTest replaces os.Exit, which an injected fault calls.
func (s *Server) ExitForTest(exit func(code int)) { s.exit = exit }

// ClockForTest replaces the sweeper's clock.
func (sw *Sweeper) ClockForTest(now func() time.Time) { sw.now = now }
