// Package pipeline describes a linecook pipeline (its stages, their queues,
// how each scales, and the network, API and table around them) as read from
// `linecook:*` stack configuration.
//
// It is the one parser of that configuration. The Pulumi stack hands it the
// stack's config, `linecook local` and `linecook simulate` hand it the same
// keys read from Pulumi.<stack>.yaml, and all three get the same defaults and
// the same errors: each names the key, the bad value and what is accepted.
// The package imports neither Pulumi nor the AWS SDK.
package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/linecook/linecook/policies"
)

// Namespace is the Pulumi config namespace (the project name).
const Namespace = "linecook"

// The config keys, without the namespace.
const (
	KeyStages           = "stages"
	KeyScaling          = "scaling"
	KeyVPC              = "vpc"
	KeyAPI              = "api"
	KeyOrderTable       = "orderTable"
	KeyAlarmEmail       = "alarmEmail"
	KeyLogRetentionDays = "logRetentionDays"
	KeyImage            = "image"
	KeyImageBuild       = "imageBuild"
	KeyEvents           = "events"
)

// How the stack builds the linecook image when linecook:image is unset.
const (
	// ImageBuildGo builds it in the program with Go and
	// go-containerregistry (tools/image) and pushes it: no Docker.
	ImageBuildGo = "go"
	// ImageBuildDocker builds Dockerfile with awsx's ecr.Image: Docker
	// with BuildKit on the machine running pulumi.
	ImageBuildDocker = "docker"
)

// MaxMessageSize is every stage queue's MaximumMessageSize, set explicitly
// rather than left to the queue's default: 256 KiB, which every SQS region
// and the local emulator accept. An order message is well under 4 KiB.
const MaxMessageSize = 262144

// MaxRetention is SQS's longest message retention, 14 days: what every DLQ
// keeps, so nothing dead-lettered ages out unseen, and how long a withdrawn
// order's tombstone lives, so it outlives any message of the order.
const MaxRetention = 14 * 24 * time.Hour

// Keys lists every key linecook reads; any other `linecook:` key is a typo.
var Keys = []string{KeyAlarmEmail, KeyAPI, KeyEvents, KeyImage, KeyImageBuild, KeyLogRetentionDays, KeyOrderTable, KeyScaling, KeyStages, KeyVPC}

// Config is a whole pipeline's configuration, defaults applied and
// validated.
type Config struct {
	Stages     []Stage
	VPC        VPC
	API        API
	OrderTable OrderTable
	// AlarmEmail, when set, subscribes to the alarm topic.
	AlarmEmail string
	// LogRetentionDays is the CloudWatch Logs retention of every task.
	LogRetentionDays int
	// Image is a prebuilt linecook image URI; empty builds one from this
	// repository, the ImageBuild way.
	Image string
	// ImageBuild is how: ImageBuildGo (the default) or ImageBuildDocker.
	ImageBuild string
	// Events are the order-events topic's subscribers.
	Events Events
}

// Events configures the order-events topic: other teams' SQS queues
// subscribed to it.
type Events struct {
	Subscribers []Subscriber
}

// Subscriber is a queue subscribed to the order events with raw delivery.
type Subscriber struct {
	// QueueARN is the subscribed queue.
	QueueARN string
	// QueueURL, when set, makes the stack set the queue's policy to let
	// only this topic send (aws:SourceArn); leave it empty for a queue
	// whose owner sets its policy (another account's).
	QueueURL string
	// FilterPolicy, JSON, selects events on their attributes (type,
	// stage, order_id).
	FilterPolicy string
}

// Stage is one step of the pipeline: a queue, its DLQ, and the Fargate
// service that consumes it.
type Stage struct {
	// Name names the stage's resources and its queue.
	Name string
	// Worker is the built-in worker the linecook image runs
	// (`linecookd worker <name>`). It may be empty when Image is set.
	Worker string
	// Image, when set, runs this image instead of the linecook image: bring
	// your own worker, in any language. It gets the same environment.
	Image string
	// Concurrency is how many messages one task works on at once.
	Concurrency int
	// ProcessingTime is the mean time one message takes: it sizes the
	// visibility timeout and the scaling target.
	ProcessingTime time.Duration
	// Latency is the acceptable time a message waits in the queue: the
	// scaling target's objective and the age-of-oldest-message alarm.
	Latency time.Duration
	// VisibilityTimeout of the stage's queue.
	VisibilityTimeout time.Duration
	// MaxReceiveCount is how many receives a message gets before SQS moves
	// it to the DLQ.
	MaxReceiveCount int
	// CPU (units) and Memory (MiB) of one task: a valid Fargate pair.
	CPU, Memory int
	// Spot runs tasks on Fargate Spot.
	Spot bool
	// DisableScaleInProtection stops the workers from protecting their
	// task from scale-in while they have messages in flight (the
	// stage's scaleInProtection: false). The zero Stage protects.
	DisableScaleInProtection bool
	// StopTimeout is how long ECS waits after SIGTERM before SIGKILL;
	// DrainTimeout, shorter, is how long the worker finishes in-flight work.
	StopTimeout, DrainTimeout time.Duration
	// Env adds environment variables to the task.
	Env map[string]string
	// Scaling is `linecook:scaling` merged with the stage's override.
	Scaling policies.Settings
}

// Workload is what the stage's scaling policy needs to know.
func (s Stage) Workload() policies.Workload {
	return policies.Workload{Concurrency: s.Concurrency, ProcessingTime: s.ProcessingTime, Latency: s.Latency}
}

// Plan is the stage's scaling plan. Parse has already validated it.
func (s Stage) Plan() policies.Plan {
	p, err := policies.Build(s.Scaling, s.Workload())
	if err != nil {
		panic(fmt.Sprintf("pipeline: stage %s passed validation but has no plan: %v", s.Name, err))
	}
	return p
}

// NAT strategies for the VPC.
const (
	NATNone   = "none"
	NATSingle = "single"
	NATPerAZ  = "per-az"
)

// VPC is the network: either one linecook creates, or an existing one.
type VPC struct {
	AZs       int
	CIDR      string
	NAT       string
	Endpoints bool
	// ID, PublicSubnetIDs and PrivateSubnetIDs select an existing VPC.
	ID                                string
	PublicSubnetIDs, PrivateSubnetIDs []string
}

// Existing reports whether the pipeline deploys into an existing VPC.
func (v VPC) Existing() bool { return v.ID != "" }

// API is the order API's service.
type API struct {
	CPU, Memory  int
	DesiredCount int
	Port         int
	// CertificateARN adds an HTTPS listener on 443.
	CertificateARN string
	// APIKeySecretARN names a Secrets Manager secret holding the API key;
	// when set, requests need it in the X-Api-Key header.
	APIKeySecretARN string
	// JWT, when set, makes the API accept an OIDC issuer's bearer tokens
	// too (either credential will do).
	JWT JWT
}

// JWT is the OIDC issuer whose bearer tokens the API accepts: all three
// fields set, or none.
type JWT struct {
	// Issuer must equal the tokens' "iss" exactly.
	Issuer string
	// Audience must be among the tokens' "aud".
	Audience string
	// JWKSURL is where the issuer publishes its signing keys (its
	// discovery document's jwks_uri).
	JWKSURL string
}

// Enabled reports whether bearer tokens are configured.
func (j JWT) Enabled() bool { return j.Issuer != "" }

// OrderTable is the DynamoDB table of orders.
type OrderTable struct {
	PointInTimeRecovery bool
	DeletionProtection  bool
}

// Error is a configuration error: the key (with its path inside the
// value), the offending value, and why it is wrong, including what is
// accepted.
type Error struct {
	Key    string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	key := e.Key
	if !strings.HasPrefix(key, Namespace+":") {
		key = Namespace + ":" + key
	}
	return fmt.Sprintf("%s = %q: %s", key, e.Value, e.Reason)
}
