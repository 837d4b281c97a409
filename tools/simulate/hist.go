package simulate

import "math/bits"

// waitHist is a log-linear histogram of waits in ticks: exact below 1024
// ticks, then 512 buckets per doubling (under 0.2 % error), so days-long
// waits fit in a few thousand buckets. It records counts, not messages, so
// adding a whole batch of equal waits is one operation.
type waitHist struct {
	counts []int64
	n      int64
	sum    float64
	max    int64
}

const (
	histExact = 1024
	histSub   = 512
)

func histBucket(v int64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 10
	m := v >> shift
	return histExact + (shift-1)*histSub + int(m-histSub)
}

// histValue is the middle of bucket b.
func histValue(b int) int64 {
	if b < histExact {
		return int64(b)
	}
	b -= histExact
	shift := b/histSub + 1
	m := int64(b%histSub + histSub)
	return m<<shift + int64(1)<<(shift-1)
}

func (h *waitHist) add(v, count int64) {
	b := histBucket(v)
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]int64, b+1-len(h.counts))...)
	}
	h.counts[b] += count
	h.n += count
	h.sum += float64(v) * float64(count)
	h.max = max(h.max, v)
}

// quantile is the nearest-rank q-quantile (0 < q ≤ 1).
func (h *waitHist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n) + 0.999999)
	rank = max(1, min(rank, h.n))
	var seen int64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histValue(b), h.max)
		}
	}
	return h.max
}

func (h *waitHist) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}
