package dynamo_test

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/tools/emulators/emutest"
)

// BenchmarkStageWrites is what a burger stage writes per order, from
// eight goroutines as a worker's handlers write: StartStage, or EndStage
// on a started stage. Besides wall time it reports this process's CPU
// time per write (cpu-µs/op), the client's cost alone: dynalite runs in a
// process of its own, and the wall time, which it dominates, is noisy on
// a shared machine.
//
//	go test -run '^$' -bench StageWrites -benchtime 3000x ./orders/dynamo
func BenchmarkStageWrites(b *testing.B) {
	for _, step := range []string{"start", "end"} {
		b.Run(step, func(b *testing.B) {
			s := emutest.Table(b)
			ctx := context.Background()
			ids := make([]string, b.N)
			for i := range ids {
				o := orders.New(orders.Request{Items: []orders.Line{{Item: "burger", Quantity: 2}, {Item: "fries", Quantity: 1}}}, t0)
				if err := s.Create(ctx, o); err != nil {
					b.Fatal(err)
				}
				if _, err := s.StartStage(ctx, o.ID, "payment", "m1", t0); err != nil {
					b.Fatal(err)
				}
				if step == "end" {
					if _, err := s.StartStage(ctx, o.ID, "grill", "m1", t0); err != nil {
						b.Fatal(err)
					}
				}
				ids[i] = o.ID
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			cpu := cpuTime(b)
			b.ResetTimer()
			for range 8 {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= len(ids) {
							return
						}
						var err error
						if step == "start" {
							_, err = s.StartStage(ctx, ids[i], "grill", "m1", t0)
						} else {
							_, err = s.EndStage(ctx, ids[i], "grill", t0, false)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCreate is the accept path's write, one at a time as a request
// makes it: the order with the sweep index's keys (dynalite maintains the
// index inside the call; DynamoDB propagates to a GSI asynchronously, after
// answering).
//
//	go test -run '^$' -bench Create -benchtime 3000x ./burger/orders/dynamo
func BenchmarkCreate(b *testing.B) {
	s := emutest.Table(b)
	ctx := context.Background()
	req := orders.Request{Items: []orders.Line{{Item: "burger", Quantity: 2}, {Item: "fries", Quantity: 1}}}
	for b.Loop() {
		if err := s.Create(ctx, orders.New(req, time.Now())); err != nil {
			b.Fatal(err)
		}
	}
}
