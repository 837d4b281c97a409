package api

import "net/http"

// WrapForTest makes Serve serve wrap(handler), so a test can see when a
// request reaches the handler.
func (s *Server) WrapForTest(wrap func(http.Handler) http.Handler) { s.wrap = wrap }
