package simulate

import (
	"testing"
	"time"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/pipeline"
)

// BenchmarkDay simulates 24 h of 1 s steps of the dev stack's four-stage
// burger pipeline (target tracking) under steady Poisson traffic.
func BenchmarkDay(b *testing.B) {
	for _, rate := range []float64{1, 60} {
		b.Run(fmtRate(rate)+"/s", func(b *testing.B) {
			cfg, err := pipeline.StackConfig("../..", "dev", handlers.Pipeline())
			if err != nil {
				b.Fatal(err)
			}
			stages := FromConfig(cfg)
			opts := Options{Scenario: Steady{PerSecond: rate, Duration: 24 * time.Hour}, Spread: 0.3, Seed: 1}
			var steps int64
			for b.Loop() {
				r, err := Run(stages, opts)
				if err != nil {
					b.Fatal(err)
				}
				steps = r.Seconds
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*steps), "ns/step")
		})
	}
}
