package capacity

import (
	"math"
	"time"
)

// ErlangB is the probability that an arrival finds all servers busy in an
// M/M/n/n loss system with offered load a Erlangs (arrival rate × mean
// service time). It uses the recurrence B(k) = a·B(k−1) / (k + a·B(k−1)),
// which stays within [0, 1] at every step, so it neither overflows (as
// aⁿ/n! does) nor loses precision for thousands of servers.
func ErlangB(n int, a float64) float64 {
	b := 1.0
	for k := 1; k <= n; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return b
}

// ErlangC is the probability that an arrival waits in an M/M/n queue with
// offered load a Erlangs: n·B / (n − a·(1 − B)) with B = ErlangB(n, a).
// At a ≥ n the queue grows without bound and every arrival waits: 1.
func ErlangC(n int, a float64) float64 {
	if a <= 0 {
		return 0
	}
	if n <= 0 || a >= float64(n) {
		return 1
	}
	b := ErlangB(n, a)
	return float64(n) * b / (float64(n) - a*(1-b))
}

// Queueing is what Erlang C predicts for n servers (in-flight slots) at
// rate messages per second that take service on average.
type Queueing struct {
	Servers int
	Load    float64 // offered load in Erlangs: rate × service
	// Utilization is Load ÷ Servers.
	Utilization float64
	// PWait is the probability a message waits at all.
	PWait float64
	// MeanWait is the mean wait in queue over all messages; infinite (as
	// the largest Duration) when Load ≥ Servers.
	MeanWait time.Duration
	// service is the mean service time, kept for PWaitLonger.
	service time.Duration
}

// MM is Erlang C's prediction for n servers.
func MM(n int, rate float64, service time.Duration) Queueing {
	a := rate * service.Seconds()
	q := Queueing{Servers: n, Load: a, PWait: ErlangC(n, a), service: service}
	if n > 0 {
		q.Utilization = a / float64(n)
	}
	if a >= float64(n) {
		q.MeanWait = time.Duration(math.MaxInt64)
		return q
	}
	q.MeanWait = time.Duration(q.PWait * service.Seconds() / (float64(n) - a) * float64(time.Second))
	return q
}

// PWaitLonger is the probability a message waits longer than t:
// C · e^(−(n−a)·t/S).
func (q Queueing) PWaitLonger(t time.Duration) float64 {
	if q.Load >= float64(q.Servers) {
		return 1
	}
	return q.PWait * math.Exp(-(float64(q.Servers)-q.Load)*t.Seconds()/q.service.Seconds())
}
