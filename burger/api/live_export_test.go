package api

import "time"

// LiveForTest shortens the live stream's poll and heartbeat. Call it
// before the first stream opens.
func (s *Server) LiveForTest(poll, heartbeat time.Duration) {
	s.streams.poll, s.streams.heartbeat = poll, heartbeat
}

// MaxStreamsForTest lowers the most streams the server keeps open. Call
// it before the first stream opens.
func (s *Server) MaxStreamsForTest(n int) { s.streams.max = n }
