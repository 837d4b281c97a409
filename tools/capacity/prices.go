// Package capacity sizes a linecook stage before it runs: Little's law for
// the tasks a rate needs, Erlang C (M/M/c) for the wait those tasks give,
// Fargate prices for what they cost, and the stack config that deploys the
// result. `linecook plan` prints it; `linecook simulate` uses its prices.
package capacity

import (
	"fmt"
	"time"
)

// Prices are Fargate's on-demand prices for Linux tasks.
type Prices struct {
	VCPUHour float64 // dollars per vCPU-hour
	GBHour   float64 // dollars per GB-hour of memory
	// SpotDiscount is the fraction Fargate Spot takes off (0.7 = 70 % off).
	SpotDiscount float64
}

// USEast1 are us-east-1's Linux/x86 prices. AWS advertises Spot as "up to"
// 70 % off; the discount here is that best case.
var USEast1 = Prices{VCPUHour: 0.04048, GBHour: 0.004445, SpotDiscount: 0.70}

// MinimumBilled is Fargate's minimum charge per task: billing is per
// second, from the image pull, with a one-minute minimum.
const MinimumBilled = time.Minute

// HoursPerMonth is the month AWS's pricing pages use.
const HoursPerMonth = 730

// TaskHour is the price of one task of cpu units (1024 = 1 vCPU) and memory
// MiB running for an hour.
func (p Prices) TaskHour(cpu, memory int, spot bool) float64 {
	h := float64(cpu)/1024*p.VCPUHour + float64(memory)/1024*p.GBHour
	if spot {
		h *= 1 - p.SpotDiscount
	}
	return h
}

// Billed is the billed duration of a task that lived for d.
func Billed(d time.Duration) time.Duration { return max(d, MinimumBilled) }

// Validate reports a price that cannot be right.
func (p Prices) Validate() error {
	switch {
	case p.VCPUHour < 0:
		return fmt.Errorf("vCPU-hour price %g: must not be negative", p.VCPUHour)
	case p.GBHour < 0:
		return fmt.Errorf("GB-hour price %g: must not be negative", p.GBHour)
	case p.SpotDiscount < 0 || p.SpotDiscount >= 1:
		return fmt.Errorf("spot discount %g: must be from 0 to under 1", p.SpotDiscount)
	}
	return nil
}
