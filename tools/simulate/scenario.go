package simulate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/linecook/linecook/policies"
)

// Scenario is the traffic offered to the first stage: an arrival rate over
// time, until arrivals stop.
type Scenario interface {
	// Rate is the arrival rate, messages per second, at t.
	Rate(t time.Duration) float64
	// Length is when arrivals stop.
	Length() time.Duration
	// Peak is the highest rate the scenario reaches.
	Peak() float64
	// String describes the scenario in one line.
	String() string
}

// Steady offers PerSecond messages a second for Duration.
type Steady struct {
	PerSecond float64
	Duration  time.Duration
}

func (s Steady) Rate(time.Duration) float64 { return s.PerSecond }
func (s Steady) Length() time.Duration      { return s.Duration }
func (s Steady) Peak() float64              { return s.PerSecond }
func (s Steady) String() string {
	return fmt.Sprintf("steady %s/s for %s", fmtRate(s.PerSecond), fmtDur(s.Duration))
}

// Validate reports an impossible scenario, naming the CLI flag.
func (s Steady) Validate() error {
	if err := positiveRate("rate", s.PerSecond); err != nil {
		return err
	}
	return positiveDur("duration", s.Duration)
}

// FlashSale is the reference system's flash sale: BaseRate messages a
// second, jumping to PeakRate at At for Burst, back to BaseRate until
// Duration.
type FlashSale struct {
	BaseRate, PeakRate float64
	At, Burst          time.Duration
	Duration           time.Duration
}

func (f FlashSale) Rate(t time.Duration) float64 {
	if t >= f.At && t < f.At+f.Burst {
		return f.PeakRate
	}
	return f.BaseRate
}
func (f FlashSale) Length() time.Duration { return f.Duration }
func (f FlashSale) Peak() float64         { return math.Max(f.BaseRate, f.PeakRate) }
func (f FlashSale) String() string {
	return fmt.Sprintf("flash sale: %s/s, %s/s for %s from %s, %s in all", fmtRate(f.BaseRate), fmtRate(f.PeakRate),
		fmtDur(f.Burst), fmtDur(f.At), fmtDur(f.Duration))
}

// Validate reports an impossible scenario, naming the CLI flag.
func (f FlashSale) Validate() error {
	if err := positiveRate("rate", f.PeakRate); err != nil {
		return err
	}
	if err := nonNegativeRate("base-rate", f.BaseRate); err != nil {
		return err
	}
	if err := positiveDur("burst", f.Burst); err != nil {
		return err
	}
	if f.At < 0 {
		return fieldErr("burst-at", fmtDur(f.At), "must not be negative")
	}
	if f.At+f.Burst > f.Duration {
		return fieldErr("duration", fmtDur(f.Duration), fmt.Sprintf("must cover the burst (--burst-at %s + --burst %s = %s)", fmtDur(f.At), fmtDur(f.Burst), fmtDur(f.At+f.Burst)))
	}
	return nil
}

// LunchRush ramps from BaseRate to PeakRate and back: BaseRate for Lead, a
// linear ramp up over Ramp, PeakRate for Plateau, a ramp down over Ramp,
// BaseRate for Lead.
type LunchRush struct {
	BaseRate, PeakRate  float64
	Lead, Ramp, Plateau time.Duration
}

func (l LunchRush) Rate(t time.Duration) float64 {
	up := l.Lead
	top := up + l.Ramp
	down := top + l.Plateau
	tail := down + l.Ramp
	switch {
	case t < up || t >= tail:
		return l.BaseRate
	case t < top:
		return l.BaseRate + (l.PeakRate-l.BaseRate)*float64(t-up)/float64(l.Ramp)
	case t < down:
		return l.PeakRate
	default:
		return l.PeakRate - (l.PeakRate-l.BaseRate)*float64(t-down)/float64(l.Ramp)
	}
}
func (l LunchRush) Length() time.Duration { return 2*l.Lead + 2*l.Ramp + l.Plateau }
func (l LunchRush) Peak() float64         { return math.Max(l.BaseRate, l.PeakRate) }
func (l LunchRush) String() string {
	return fmt.Sprintf("lunch rush: %s/s, ramp over %s to %s/s for %s, ramp down, %s at %s/s either side",
		fmtRate(l.BaseRate), fmtDur(l.Ramp), fmtRate(l.PeakRate), fmtDur(l.Plateau), fmtDur(l.Lead), fmtRate(l.BaseRate))
}

// Validate reports an impossible scenario, naming the CLI flag.
func (l LunchRush) Validate() error {
	if err := positiveRate("rate", l.PeakRate); err != nil {
		return err
	}
	if err := nonNegativeRate("base-rate", l.BaseRate); err != nil {
		return err
	}
	if err := positiveDur("ramp", l.Ramp); err != nil {
		return err
	}
	if err := positiveDur("plateau", l.Plateau); err != nil {
		return err
	}
	if l.Lead < 0 {
		return fieldErr("lead", fmtDur(l.Lead), "must not be negative")
	}
	return nil
}

// Point is one row of an arrivals file: from At on, Rate messages a second.
type Point struct {
	At   time.Duration
	Rate float64
}

// Table is arrivals read from a CSV file: a step function of rate over
// time. See ReadCSV for the format.
type Table struct {
	Name   string
	Points []Point
}

// ReadCSV reads an arrivals file. Each line is `offset,rate`:
//
//   - offset: time since the start, as seconds ("90", "1.5") or a Go
//     duration ("90s", "1m30s"); the first row must be at 0 and offsets
//     must increase;
//   - rate: messages per second from that offset until the next row's, a
//     number ≥ 0.
//
// The last row ends the scenario: arrivals stop at its offset, and its rate
// must be 0. Blank lines and lines starting with # are ignored, and so is a
// first line `offset,rate` (a header). Example, a 10-minute burst:
//
//	offset,rate
//	0,2
//	5m,60
//	15m,2
//	1h,0
func ReadCSV(name string, r io.Reader) (*Table, error) {
	t := &Table{Name: name}
	sc := bufio.NewScanner(r)
	line := 0
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s (want lines of offset,rate: offset in seconds or a duration such as 90s, rate in messages per second)",
			name, line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 2 {
			return nil, bad("%q has %d fields", text, len(fields))
		}
		off, rate := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1])
		if len(t.Points) == 0 && strings.EqualFold(off, "offset") {
			continue
		}
		at, err := parseOffset(off)
		if err != nil {
			return nil, bad("offset %q is not a time", off)
		}
		v, err := strconv.ParseFloat(rate, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, bad("rate %q is not a number ≥ 0", rate)
		}
		switch {
		case len(t.Points) == 0 && at != 0:
			return nil, bad("the first row must be at offset 0, not %s", off)
		case len(t.Points) > 0 && at <= t.Points[len(t.Points)-1].At:
			return nil, bad("offset %s does not come after the previous row's %s", off, fmtDur(t.Points[len(t.Points)-1].At))
		}
		t.Points = append(t.Points, Point{At: at, Rate: v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(t.Points) < 2 {
		return nil, fmt.Errorf("%s: needs at least two rows: a rate from offset 0, and a last row with rate 0 where arrivals stop", name)
	}
	if last := t.Points[len(t.Points)-1]; last.Rate != 0 {
		return nil, fmt.Errorf("%s:%d: the last row ends the scenario and must have rate 0, not %s (add a row such as %s,0)",
			name, line, fmtRate(last.Rate), strconv.FormatFloat(last.At.Seconds()+60, 'f', -1, 64))
	}
	return t, nil
}

func parseOffset(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, errors.New("negative")
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("not a duration")
	}
	return d, nil
}

func (t *Table) Rate(at time.Duration) float64 {
	i := sort.Search(len(t.Points), func(i int) bool { return t.Points[i].At > at }) - 1
	if i < 0 {
		return 0
	}
	return t.Points[i].Rate
}
func (t *Table) Length() time.Duration { return t.Points[len(t.Points)-1].At }
func (t *Table) Peak() float64 {
	p := 0.0
	for _, pt := range t.Points {
		p = math.Max(p, pt.Rate)
	}
	return p
}
func (t *Table) String() string {
	return fmt.Sprintf("arrivals from %s: %d rows, peak %s/s, %s", t.Name, len(t.Points), fmtRate(t.Peak()), fmtDur(t.Length()))
}

func fieldErr(field, value, reason string) error {
	return &policies.FieldError{Field: field, Value: value, Err: errors.New(reason)}
}

func positiveRate(field string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return fieldErr(field, fmtRate(v), "must be a rate in messages per second, more than 0")
	}
	return nil
}

func nonNegativeRate(field string, v float64) error {
	if !(v >= 0) || math.IsInf(v, 0) {
		return fieldErr(field, fmtRate(v), "must be a rate in messages per second, 0 or more")
	}
	return nil
}

func positiveDur(field string, d time.Duration) error {
	if d <= 0 {
		return fieldErr(field, fmtDur(d), "must be more than 0 (a duration such as 10m)")
	}
	return nil
}

func fmtRate(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// fmtDur prints durations without Go's trailing zero units ("1h0m0s" → "1h").
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
