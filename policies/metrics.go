package policies

import (
	"strconv"
	"time"
)

// Period is the CloudWatch period every linecook alarm and target-tracking
// metric uses: SQS publishes its queue metrics once a minute, and target
// tracking's own alarms are fixed at one-minute datapoints.
const Period = time.Minute

// MaxScaleInAfter is the longest scale-in wait: CloudWatch evaluates an
// alarm over at most 86,400 s of periods.
const MaxScaleInAfter = 24 * time.Hour

// Metric is a signal a policy scales on. Each one can be rendered as
// CloudWatch metric queries (for AWS) and evaluated on a Sample (for the
// local runner and the simulator), so both sides compute the same number.
type Metric string

// The metrics policies use.
const (
	// MessagesVisible is SQS ApproximateNumberOfMessagesVisible: work
	// waiting to be picked up.
	MessagesVisible Metric = "messages-visible"
	// QueueBacklog is visible plus in-flight (NotVisible) messages: zero
	// only when the stage has nothing at all to do, the scale-in signal.
	QueueBacklog Metric = "queue-backlog"
	// BacklogPerTask is visible messages ÷ tasks, the target-tracking
	// signal. Tasks are the larger of running and desired: AWS multiplies
	// the metric by the desired count, so dividing by running tasks alone
	// counts the backlog of tasks still starting again at every evaluation
	// and compounds (the simulator showed 1 → 14 → 248 tasks in two minutes
	// with a one-minute task start). Zero tasks count as one.
	BacklogPerTask Metric = "backlog-per-task"
	// LoadPerTask is visible plus in-flight messages ÷ tasks (as above):
	// how busy tasks are, counting the work waiting for them. Scale-in
	// reads it, so a stage scales in when tasks are idle, not only once the
	// queue is empty.
	LoadPerTask Metric = "load-per-task"
	// OldestMessageAge is SQS ApproximateAgeOfOldestMessage, seconds: how
	// long the oldest message has waited. Step scaling can scale out on it
	// (Settings.ScaleOutOn). Only CloudWatch reports it: SQS's API has no
	// such attribute, so `linecook local` cannot evaluate it.
	OldestMessageAge Metric = "oldest-message-age"
	// WakeUp is 1 when messages are visible and the service wants no
	// tasks, else 0: the signal that moves a scaled-to-zero stage to one.
	WakeUp Metric = "wake-up"
	// ExpectedWait is how long, in seconds, a message sent now waits
	// before a worker takes it: visible messages × the workers' measured
	// mean processing time ÷ (tasks × concurrency), tasks as above. The
	// processing time is what the workers report (their EMF ProcessingTime
	// metric), and the stage's configured processing time for a period in
	// which none reported. The latency policy keeps it at the stage's
	// latency objective, so when the work gets slower or faster the
	// target follows without anyone editing config.
	ExpectedWait Metric = "expected-wait"
)

// Sample is one observation of a stage: what CloudWatch would report.
type Sample struct {
	Visible  float64 // ApproximateNumberOfMessagesVisible
	InFlight float64 // ApproximateNumberOfMessagesNotVisible
	Running  float64 // ECS RunningTaskCount
	Desired  float64 // ECS DesiredTaskCount
	// Processed messages the workers reported a processing time for since
	// the last sample, and ProcessingSeconds the sum of those times: the
	// EMF ProcessingTime samples whose Average CloudWatch computes.
	Processed, ProcessingSeconds float64
	// OldestAge is ApproximateAgeOfOldestMessage, seconds.
	OldestAge float64
}

// ProcessingTime is the workers' mean processing time in s, or fallback
// when none was reported, as FILL does in the CloudWatch expression.
func (s Sample) ProcessingTime(fallback time.Duration) float64 {
	if s.Processed > 0 {
		return s.ProcessingSeconds / s.Processed
	}
	// Whole milliseconds, as the query's FILL value.
	return float64(fallback.Milliseconds()) / 1000
}

// Value evaluates the metric on s for a stage doing w, exactly as the
// CloudWatch expression in Queries does.
func (m Metric) Value(s Sample, w Workload) float64 {
	switch m {
	case ExpectedWait:
		return s.Visible * s.ProcessingTime(w.ProcessingTime) / (max(s.Running, s.Desired, 1) * float64(max(w.Concurrency, 1)))
	case MessagesVisible:
		return s.Visible
	case OldestMessageAge:
		return s.OldestAge
	case QueueBacklog:
		return s.Visible + s.InFlight
	case BacklogPerTask:
		return s.Visible / max(s.Running, s.Desired, 1)
	case LoadPerTask:
		return (s.Visible + s.InFlight) / max(s.Running, s.Desired, 1)
	case WakeUp:
		if s.Visible > 0 && s.Desired == 0 {
			return 1
		}
		return 0
	}
	return 0
}

// Statistic is a CloudWatch statistic name.
type Statistic string

// Statistics linecook uses.
const (
	Maximum Statistic = "Maximum"
	Average Statistic = "Average"
	Sum     Statistic = "Sum"
)

// Target names the AWS resources a metric is measured on, and the work
// the stage does.
type Target struct {
	QueueName   string // the stage's SQS queue name
	ClusterName string // the ECS cluster name
	ServiceName string // the ECS service name
	// Stage is the stage's name, the Stage dimension of the metrics its
	// workers publish (namespace linecook).
	Stage    string
	Workload Workload
}

// MetricStat is one CloudWatch metric with its statistic.
type MetricStat struct {
	Namespace  string
	MetricName string
	Dimensions map[string]string
	Stat       Statistic
}

// Query is one entry of a CloudWatch metric-math query list: either a
// metric (Stat set) or an expression over other queries' IDs. Exactly one
// query of a list has ReturnData set: the value alarms and policies use.
type Query struct {
	ID         string
	Label      string
	Stat       *MetricStat
	Expression string
	ReturnData bool
}

// CloudWatch namespaces and metric names the queries use.
const (
	sqsNamespace       = "AWS/SQS"
	insightsNamespace  = "ECS/ContainerInsights"
	visibleMetric      = "ApproximateNumberOfMessagesVisible"
	notVisibleMetric   = "ApproximateNumberOfMessagesNotVisible"
	oldestAgeMetric    = "ApproximateAgeOfOldestMessage"
	runningTasksMetric = "RunningTaskCount"
	desiredTasksMetric = "DesiredTaskCount"
	// The workers' own metric (workers/consumer's EMF): milliseconds per
	// message, dimension Stage.
	workerNamespace      = "linecook"
	processingMetric     = "ProcessingTime"
	workerStageDimension = "Stage"
)

// Queries renders the metric as CloudWatch metric queries for target t.
// Single-metric signals come back as one query; derived ones as metric math,
// so no Lambda or custom metric is needed to compute them.
func (m Metric) Queries(t Target) []Query {
	queue := map[string]string{"QueueName": t.QueueName}
	service := map[string]string{"ClusterName": t.ClusterName, "ServiceName": t.ServiceName}
	visible := Query{ID: "visible", Label: "messages visible", Stat: &MetricStat{
		Namespace: sqsNamespace, MetricName: visibleMetric, Dimensions: queue, Stat: Maximum,
	}}
	inflight := Query{ID: "inflight", Label: "messages in flight", Stat: &MetricStat{
		Namespace: sqsNamespace, MetricName: notVisibleMetric, Dimensions: queue, Stat: Maximum,
	}}
	running := Query{ID: "running", Label: "running tasks", Stat: &MetricStat{
		Namespace: insightsNamespace, MetricName: runningTasksMetric, Dimensions: service, Stat: Average,
	}}
	desired := Query{ID: "desired", Label: "desired tasks", Stat: &MetricStat{
		Namespace: insightsNamespace, MetricName: desiredTasksMetric, Dimensions: service, Stat: Average,
	}}
	// tasks is max(running, desired, 1), written with IF because MAX over
	// an array is not available in every metric-math context.
	tasks := Query{ID: "tasks", Label: "tasks (running or desired, at least 1)",
		Expression: "IF(FILL(desired, 0) > FILL(running, 0), IF(FILL(desired, 0) > 1, FILL(desired, 0), 1), IF(FILL(running, 0) > 1, FILL(running, 0), 1))"}
	switch m {
	case MessagesVisible:
		visible.ReturnData = true
		return []Query{visible}
	case OldestMessageAge:
		return []Query{{ID: "age", Label: "age of the oldest message (s)", ReturnData: true, Stat: &MetricStat{
			Namespace: sqsNamespace, MetricName: oldestAgeMetric, Dimensions: queue, Stat: Maximum,
		}}}
	case QueueBacklog:
		return []Query{visible, inflight,
			{ID: "backlog", Label: "queue backlog (visible + in flight)",
				Expression: "FILL(visible, 0) + FILL(inflight, 0)", ReturnData: true},
		}
	case BacklogPerTask:
		// Zero tasks count as one, as Copilot does: the metric stays
		// defined, and target tracking cannot act from zero anyway
		// (capacity × metric ÷ target is 0), which is the wake-up
		// policy's job.
		return []Query{visible, running, desired, tasks,
			{ID: "backlogpertask", Label: "backlog per task",
				Expression: "FILL(visible, 0) / tasks", ReturnData: true},
		}
	case LoadPerTask:
		return []Query{visible, inflight, running, desired, tasks,
			{ID: "loadpertask", Label: "load per task (visible + in flight)",
				Expression: "(FILL(visible, 0) + FILL(inflight, 0)) / tasks", ReturnData: true},
		}
	case ExpectedWait:
		// Target tracking takes any metric-math function CloudWatch has,
		// as long as the queries name their metrics (no SEARCH), share one
		// period and return one series (Application Auto Scaling User
		// Guide, "target tracking … using metric math"): this uses FILL,
		// IF and arithmetic on five metrics. FILL gives a period in which
		// no worker reported the configured processing time.
		ptime := Query{ID: "ptime", Label: "measured processing time (ms)", Stat: &MetricStat{
			Namespace: workerNamespace, MetricName: processingMetric,
			Dimensions: map[string]string{workerStageDimension: t.Stage}, Stat: Average,
		}}
		fallbackMs := strconv.FormatFloat(float64(t.Workload.ProcessingTime.Milliseconds()), 'f', -1, 64)
		return []Query{visible, running, desired, ptime, tasks,
			{ID: "expectedwait", Label: "expected wait of a new message (s)",
				Expression: "FILL(visible, 0) * FILL(ptime, " + fallbackMs + ") / 1000 / (tasks * " + strconv.Itoa(max(t.Workload.Concurrency, 1)) + ")",
				ReturnData: true},
		}
	case WakeUp:
		return []Query{visible, desired,
			{ID: "wakeup", Label: "messages waiting with no task",
				Expression: "IF(FILL(visible, 0) > 0 AND FILL(desired, 0) == 0, 1, 0)", ReturnData: true},
		}
	}
	return nil
}
