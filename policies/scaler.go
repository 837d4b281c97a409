package policies

import "time"

// Scaler evaluates one stage's Plan the way CloudWatch and Application Auto
// Scaling do, so `linecook simulate` (simulated time) and `linecook local`
// (scaled wall-clock time) decide the task count as AWS would. One Scaler
// serves one stage; it is not safe for concurrent use.
//
// The model, from the AWS documentation, AWS's CDK and Copilot code, and
// reported behaviour:
//
//   - Metrics. Samples are aggregated into 60 s periods aligned to multiples
//     of Period on the caller's clock ([0,60s), [60s,120s), …). Each raw
//     series (visible, in flight, running, desired) is aggregated with the
//     statistic its CloudWatch query uses (Metric.Queries) and the metric's
//     expression is then applied to the aggregates, as metric math does; a
//     single-metric alarm uses the alarm's own Statistic. A period in which
//     no sample had a Visible value is missing data; other missing series
//     count as 0, as the expressions' FILL(…, 0) does.
//   - Alarms. When a period closes, each alarm takes its datapoint and is
//     in ALARM when at least DatapointsToAlarm of its last EvaluationPeriods
//     datapoints breach. Missing datapoints never breach, so missing data
//     never scales in.
//   - Step policies. Invoked at every period boundary while their alarm is
//     in ALARM, with the latest datapoint; StepPolicy.Adjust picks the step.
//     Scale-out cooldown: within a policy's Cooldown after it scaled out,
//     the adjustment is computed from the capacity before that scale-out,
//     so the capacity already added counts toward the next one (a larger
//     step still adds the difference; the same step adds nothing). Scale-in
//     cooldown: after any scale-in, further scale-ins wait for its cooldown,
//     but a scale-out may happen at once and cancels it.
//   - Target tracking. Two alarms AWS creates and nobody can change: high
//     when the metric is above the target for 3 of 3 one-minute datapoints,
//     low when it is below 90 % of the target for 15 of 15. High scales out to
//     TargetTrackingPolicy.DesiredFor (proportional, rounded up; within
//     ScaleOutCooldown from the capacity before the last scale-out). Low
//     scales in to DesiredFor rounded down, raised to the fewest tasks that
//     keep the metric at or under the target (AWS does not scale in if that
//     would push the metric over target); ScaleInCooldown as above. At zero
//     capacity the formula gives zero: the plan's wake-up policy starts the
//     first task.
//   - Several policies: scale out to the largest capacity any policy asks
//     for; scale in only when no policy objects. Target tracking objects
//     whenever it is not itself scaling in (metric near target, alarms
//     pending, or missing data), unless its scale-in is disabled, as in
//     linecook's plans: then it has no say in scale-in, like a step policy
//     whose alarm is not in ALARM.
//   - Activities take effect at the period boundary that triggered them.
//     Not modelled: the minutes CloudWatch takes to publish SQS metrics and
//     evaluate alarms, and the suspension of scale-in during deployments.
type Scaler struct {
	plan    Plan
	desired int

	period int64 // index of the open period; -1 before the first sample
	acc    periodAcc

	// metrics the plan's alarms read, with how each raw series aggregates.
	metrics []metricEval
	alarms  []*alarmState
	steps   []stepState // one per plan.StepPolicies, same order
	tt      *ttState
	// maxWindow is the longest alarm window: after that many missing
	// periods every alarm has nothing but missing data.
	maxWindow int

	inCooldownEnd time.Duration // scale-in blocked until then
	onActivity    func(Activity)
}

// Activity is one scaling activity: a change of desired count.
type Activity struct {
	At       time.Duration // the period boundary it happened at
	Policy   string        // the policy that asked for it
	From, To int
	Metric   Metric  // the metric the policy read
	Value    float64 // and its datapoint
}

// raw series of a Sample, indexes into periodAcc.
const (
	fieldVisible = iota
	fieldInFlight
	fieldRunning
	fieldDesired
	// The workers' reports: messages timed, and their summed time. Both
	// add up over a period, so their ratio is CloudWatch's Average of the
	// per-message ProcessingTime values.
	fieldProcessed
	fieldProcessingSeconds
	fieldOldestAge
	numFields
)

var fieldOf = map[string]int{
	visibleMetric:      fieldVisible,
	notVisibleMetric:   fieldInFlight,
	runningTasksMetric: fieldRunning,
	desiredTasksMetric: fieldDesired,
	oldestAgeMetric:    fieldOldestAge,
}

type periodAcc struct {
	n             [numFields]int
	sum, min, max [numFields]float64
}

func (a *periodAcc) add(f int, v float64) {
	if v != v { // NaN: no value for this series in this sample
		return
	}
	if a.n[f] == 0 || v < a.min[f] {
		a.min[f] = v
	}
	if a.n[f] == 0 || v > a.max[f] {
		a.max[f] = v
	}
	a.n[f]++
	a.sum[f] += v
}

func (a *periodAcc) stat(f int, st Statistic) float64 {
	if a.n[f] == 0 {
		return 0
	}
	switch st {
	case Maximum:
		return a.max[f]
	case Sum:
		return a.sum[f]
	case Minimum:
		return a.min[f]
	default: // Average
		return a.sum[f] / float64(a.n[f])
	}
}

// Minimum is a CloudWatch statistic the scaler aggregates for alarms that
// ask for it; linecook's own plans do not.
const Minimum Statistic = "Minimum"

// metricEval is a metric as one alarm reads it: the statistic of each raw
// series, and the datapoint of the period that closed last.
type metricEval struct {
	metric  Metric
	work    Workload
	stats   [numFields]Statistic
	value   float64
	present bool
}

func newMetricEval(m Metric, alarmStat Statistic, w Workload) metricEval {
	e := metricEval{metric: m, work: w}
	for f := range e.stats {
		e.stats[f] = Average
	}
	e.stats[fieldProcessed], e.stats[fieldProcessingSeconds] = Sum, Sum
	qs := m.Queries(Target{})
	for _, q := range qs {
		if q.Stat == nil {
			continue
		}
		if f, ok := fieldOf[q.Stat.MetricName]; ok {
			e.stats[f] = q.Stat.Stat
			if len(qs) == 1 && alarmStat != "" {
				e.stats[f] = alarmStat
			}
		}
	}
	return e
}

func (e *metricEval) close(a *periodAcc) {
	e.present = a.n[fieldVisible] > 0
	if !e.present {
		return
	}
	var s Sample
	s.Visible = a.stat(fieldVisible, e.stats[fieldVisible])
	s.InFlight = a.stat(fieldInFlight, e.stats[fieldInFlight])
	s.Running = a.stat(fieldRunning, e.stats[fieldRunning])
	s.Desired = a.stat(fieldDesired, e.stats[fieldDesired])
	s.Processed = a.stat(fieldProcessed, Sum)
	s.ProcessingSeconds = a.stat(fieldProcessingSeconds, Sum)
	s.OldestAge = a.stat(fieldOldestAge, e.stats[fieldOldestAge])
	e.value = e.metric.Value(s, e.work)
}

// alarm comparisons beyond the two Comparison constants: target tracking's
// own alarms are strict.
type cmp int

const (
	cmpGE cmp = iota
	cmpLE
	cmpGT
	cmpLT
)

func (c cmp) breaches(v, threshold float64) bool {
	switch c {
	case cmpLE:
		return v <= threshold
	case cmpGT:
		return v > threshold
	case cmpLT:
		return v < threshold
	}
	return v >= threshold
}

// alarmState is a CloudWatch alarm's sliding window of datapoints.
type alarmState struct {
	metric    int // index into Scaler.metrics
	cmp       cmp
	threshold float64
	n, m      int // EvaluationPeriods, DatapointsToAlarm
	ring      []int8
	head      int
	breaching int
	last      float64 // latest present datapoint in the window
	alarm     bool
}

const (
	dpMissing int8 = iota
	dpOK
	dpBreach
)

func newAlarm(metric int, c cmp, threshold float64, n, m int) *alarmState {
	n = max(n, 1)
	m = min(max(m, 1), n)
	return &alarmState{metric: metric, cmp: c, threshold: threshold, n: n, m: m, ring: make([]int8, n)}
}

func (a *alarmState) push(e *metricEval) {
	dp := dpMissing
	if e.present {
		dp = dpOK
		if a.cmp.breaches(e.value, a.threshold) {
			dp = dpBreach
		}
		a.last = e.value
	}
	if a.ring[a.head] == dpBreach {
		a.breaching--
	}
	a.ring[a.head] = dp
	if dp == dpBreach {
		a.breaching++
	}
	a.head = (a.head + 1) % a.n
	a.alarm = a.breaching >= a.m
}

type stepState struct {
	alarm          *alarmState
	outBase        int
	outCooldownEnd time.Duration
}

type ttState struct {
	high, low      *alarmState
	outBase        int
	outCooldownEnd time.Duration
}

// Target tracking's alarms, as AWS creates them.
const (
	ttHighPeriods = 3
	ttLowPeriods  = 15
	ttLowFraction = 0.9
)

// NewScaler returns a Scaler for plan whose service currently wants
// initial tasks (clamped to the plan's bounds; a fixed plan always wants
// plan.Desired).
func NewScaler(plan Plan, initial int) *Scaler {
	s := &Scaler{plan: plan, period: -1}
	if plan.Kind == Fixed {
		s.desired = plan.Desired
		return s
	}
	s.desired = clamp(initial, plan.Min, plan.Max)
	metric := func(m Metric, st Statistic) int {
		e := newMetricEval(m, st, plan.Workload)
		for i, have := range s.metrics {
			if have.stats == e.stats && have.metric == m {
				return i
			}
		}
		s.metrics = append(s.metrics, e)
		return len(s.metrics) - 1
	}
	for _, sp := range plan.StepPolicies {
		c := cmpGE
		if sp.Alarm.Comparison == LessThanOrEqual {
			c = cmpLE
		}
		a := newAlarm(metric(sp.Alarm.Metric, sp.Alarm.Statistic), c, sp.Alarm.Threshold,
			sp.Alarm.EvaluationPeriods, sp.Alarm.DatapointsToAlarm)
		s.alarms = append(s.alarms, a)
		s.steps = append(s.steps, stepState{alarm: a})
	}
	if tt := plan.TargetTracking; tt != nil {
		m := metric(tt.Metric, "")
		s.tt = &ttState{
			high: newAlarm(m, cmpGT, tt.TargetValue, ttHighPeriods, ttHighPeriods),
			low:  newAlarm(m, cmpLT, ttLowFraction*tt.TargetValue, ttLowPeriods, ttLowPeriods),
		}
		s.alarms = append(s.alarms, s.tt.high, s.tt.low)
	}
	for _, a := range s.alarms {
		s.maxWindow = max(s.maxWindow, a.n)
	}
	return s
}

// OnActivity registers fn to be called on every scaling activity, for logs
// and charts. fn runs inside Observe or Advance.
func (s *Scaler) OnActivity(fn func(Activity)) { s.onActivity = fn }

// Desired is the task count the service wants now.
func (s *Scaler) Desired() int { return s.desired }

// Observe feeds a sample taken at now, on any monotonic clock that starts
// near zero (simulated time, or scaled time since `linecook local`
// started), and returns the desired task count after every scaling activity
// AWS would have made by now. Periods that closed before now are evaluated
// first, so a sample never influences a decision made before it was taken.
//
// m.Desired is ignored: the scaler is the authority on the desired count
// and records its own. A NaN field means "no value" for that series (a
// failed read); a period without any Visible value is missing data.
// Samples with now earlier than the open period are counted in it.
func (s *Scaler) Observe(now time.Duration, m Sample) int {
	s.Advance(now)
	if s.plan.Kind == Fixed {
		return s.desired
	}
	s.acc.add(fieldVisible, m.Visible)
	s.acc.add(fieldInFlight, m.InFlight)
	s.acc.add(fieldRunning, m.Running)
	s.acc.add(fieldDesired, float64(s.desired))
	s.acc.add(fieldProcessed, m.Processed)
	s.acc.add(fieldProcessingSeconds, m.ProcessingSeconds)
	s.acc.add(fieldOldestAge, m.OldestAge)
	return s.desired
}

// Advance moves the clock to now without a sample, evaluating every period
// that has closed, and returns the desired count. Call it when no metric
// could be read: the periods without samples are missing data.
func (s *Scaler) Advance(now time.Duration) int {
	if s.plan.Kind == Fixed {
		return s.desired
	}
	p := int64(now / Period)
	if s.period < 0 {
		s.period = p
		return s.desired
	}
	if p <= s.period {
		return s.desired
	}
	s.closePeriod()
	// Periods with no sample at all: after maxWindow of them every alarm
	// sees only missing data and stays out of ALARM, so skip the rest.
	gap := p - s.period - 1
	for i := int64(0); i < gap && i < int64(s.maxWindow)+1; i++ {
		s.period++
		s.closePeriod()
	}
	s.period = p
	return s.desired
}

// closePeriod turns the open period into datapoints, evaluates every alarm
// and invokes the policies in ALARM at the boundary that ends the period.
func (s *Scaler) closePeriod() {
	at := time.Duration(s.period+1) * Period
	for i := range s.metrics {
		s.metrics[i].close(&s.acc)
	}
	s.acc = periodAcc{}
	for _, a := range s.alarms {
		a.push(&s.metrics[a.metric])
	}
	s.decide(at)
}

// proposal is what one policy asks for at a boundary.
type proposal struct {
	kind   int // none, hold, out, in
	to     int
	policy int // index of the step policy, or -1 for target tracking
	value  float64
}

const (
	propNone = iota
	propHold
	propOut
	propIn
)

func (s *Scaler) decide(at time.Duration) {
	cur := s.desired
	lo, hi := s.plan.Min, s.plan.Max
	var out, in proposal
	hold := false
	consider := func(p proposal) {
		switch p.kind {
		case propHold:
			hold = true
		case propOut:
			if out.kind == propNone || p.to > out.to {
				out = p
			}
		case propIn:
			if in.kind == propNone || p.to > in.to {
				in = p
			}
		}
	}
	for i, sp := range s.plan.StepPolicies {
		st := &s.steps[i]
		if !st.alarm.alarm {
			continue
		}
		v := st.alarm.last
		next, ok := sp.Adjust(cur, v, lo, hi)
		switch {
		case !ok || next == cur:
		case next > cur:
			if at < st.outCooldownEnd {
				next, ok = sp.Adjust(st.outBase, v, lo, hi)
				if !ok || next <= cur {
					continue
				}
			}
			consider(proposal{kind: propOut, to: next, policy: i, value: v})
		default:
			if at < s.inCooldownEnd {
				continue
			}
			consider(proposal{kind: propIn, to: next, policy: i, value: v})
		}
	}
	if tt := s.tt; tt != nil {
		consider(s.trackTarget(at, cur))
	}

	switch {
	case out.kind == propOut:
		s.apply(at, out, true)
	case in.kind == propIn && !hold:
		s.apply(at, in, false)
	}
}

// trackTarget is target tracking's proposal at a boundary.
func (s *Scaler) trackTarget(at time.Duration, cur int) proposal {
	tt, pol := s.tt, s.plan.TargetTracking
	lo, hi := s.plan.Min, s.plan.Max
	switch {
	case tt.high.alarm:
		// In the scale-out cooldown the capacity already added counts
		// toward the next scale-out: the formula runs on the current
		// desired count and only a larger result adds tasks. (The metric
		// divides by desired tasks too, so this does not compound.)
		v := tt.high.last
		if next := pol.DesiredFor(cur, v, lo, hi); next > cur {
			return proposal{kind: propOut, to: next, policy: -1, value: v}
		}
	case pol.DisableScaleIn:
		return proposal{kind: propNone}
	case tt.low.alarm && at >= s.inCooldownEnd:
		v := tt.low.last
		next := pol.DesiredFor(cur, v, lo, hi)
		// Keep enough tasks that the metric, spread over fewer of them,
		// stays at or under the target.
		for next < cur && v > 0 && (next == 0 || v*float64(cur)/float64(next) > pol.TargetValue) {
			next++
		}
		if next < cur {
			return proposal{kind: propIn, to: next, policy: -1, value: v}
		}
	}
	return proposal{kind: propHold}
}

func (s *Scaler) apply(at time.Duration, p proposal, out bool) {
	from := s.desired
	name, metric := "", Metric("")
	if p.policy >= 0 {
		sp := s.plan.StepPolicies[p.policy]
		name, metric = sp.Name, sp.Alarm.Metric
		st := &s.steps[p.policy]
		if out {
			if at >= st.outCooldownEnd {
				st.outBase = from
			}
			st.outCooldownEnd = at + sp.Cooldown
		} else {
			s.inCooldownEnd = at + sp.Cooldown
		}
	} else {
		pol := s.plan.TargetTracking
		name, metric = pol.Name, pol.Metric
		if out {
			if at >= s.tt.outCooldownEnd {
				s.tt.outBase = from
			}
			s.tt.outCooldownEnd = at + pol.ScaleOutCooldown
		} else {
			s.inCooldownEnd = at + pol.ScaleInCooldown
		}
	}
	if out {
		// A scale-out ends any scale-in cooldown.
		s.inCooldownEnd = 0
	}
	s.desired = p.to
	if s.onActivity != nil {
		s.onActivity(Activity{At: at, Policy: name, From: from, To: p.to, Metric: metric, Value: p.value})
	}
}
