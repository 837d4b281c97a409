package simulate

import (
	"math"
	"math/bits"
)

// serviceTable draws processing times, in ticks, from a lognormal
// distribution by inverse-CDF lookup: a table of quantiles at the midpoints
// of tableSize equal-probability slices. A draw is one random number and
// one load, which matters at millions of messages per simulated day. The
// table truncates the tails beyond the 1/(2·tableSize) quantiles and is
// rescaled so its mean is exactly the stage's processing time.
type serviceTable struct {
	ticks [tableSize]float64
	// fixed is ticks in 32.32 fixed point, so a draw is integer work.
	fixed [tableSize]uint64
	max   float64
}

const (
	tableBits = 12
	tableSize = 1 << tableBits
)

// newServiceTable builds the table for a mean of meanTicks and a
// coefficient of variation (standard deviation ÷ mean) of spread; spread 0
// is a fixed time.
func newServiceTable(meanTicks, spread float64) *serviceTable {
	t := &serviceTable{}
	if spread <= 0 {
		for i := range t.ticks {
			t.ticks[i] = meanTicks
		}
		t.max = meanTicks
		t.fix()
		return t
	}
	sigma2 := math.Log1p(spread * spread)
	sigma := math.Sqrt(sigma2)
	mu := math.Log(meanTicks) - sigma2/2
	sum := 0.0
	for i := range t.ticks {
		p := (float64(i) + 0.5) / tableSize
		z := math.Sqrt2 * math.Erfinv(2*p-1)
		t.ticks[i] = math.Exp(mu + sigma*z)
		sum += t.ticks[i]
	}
	scale := meanTicks / (sum / tableSize)
	for i := range t.ticks {
		t.ticks[i] *= scale
	}
	t.max = t.ticks[tableSize-1]
	t.fix()
	return t
}

func (t *serviceTable) fix() {
	for i, v := range t.ticks {
		t.fixed[i] = uint64(v * (1 << 32))
	}
}

// draw returns a whole number of ticks, at least one. The fraction is
// rounded stochastically (up with probability equal to it), so the mean
// stays exact however coarse the tick.
func (t *serviceTable) draw(r *rng) int64 {
	u := r.Uint64()
	d := int64((t.fixed[u>>(64-tableBits)] + u&(1<<32-1)) >> 32)
	return max(1, d)
}

// poissonGen draws from Poisson distributions: Knuth's product of uniforms
// for small means, Hörmann's PTRS transformed rejection (as NumPy uses)
// for large ones. It remembers e^−mean, since arrivals ask for the same
// mean tick after tick while a rate holds.
type poissonGen struct {
	r           *rng
	mean, limit float64
}

func (g *poissonGen) draw(mean float64) int64 {
	r := g.r
	switch {
	case mean <= 0:
		return 0
	case mean < 10:
		if mean != g.mean {
			g.mean, g.limit = mean, math.Exp(-mean)
		}
		limit := g.limit
		var k int64
		p := unit(r)
		for p > limit {
			k++
			p *= unit(r)
		}
		return k
	}
	slam := math.Sqrt(mean)
	loglam := math.Log(mean)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := unit(r) - 0.5
		v := unit(r)
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + mean + 0.43)
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -mean+k*loglam-lg {
			return int64(k)
		}
	}
}

// rng is wyrand: one add and one 128-bit multiply per number, several
// times faster than math/rand/v2's PCG, which matters at a draw per
// message; its output passes BigCrush and PractRand, ample for simulation.
type rng struct{ s uint64 }

// newRNG seeds stream of seed: every (seed, stream) pair is its own
// sequence, so arrivals and each stage's processing times do not move when
// another stage draws more or fewer numbers.
func newRNG(seed, stream uint64) *rng {
	return &rng{s: splitmix(splitmix(seed) ^ stream)}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (r *rng) Uint64() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// unit is a uniform float64 in [0, 1).
func unit(r *rng) float64 { return float64(r.Uint64()>>11) / (1 << 53) }
