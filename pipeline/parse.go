package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/workers"
)

// Options tells Parse what the program that deploys the stack provides.
// The pipeline package knows no worker of its own: the application passes
// its workers and its default stages in (the burger stack passes
// handlers.Pipeline()).
type Options struct {
	// Workers are the built-in workers a stage may name (those the
	// linecook image registers), each with the workload defaults it
	// declares (workers.DefaultsOf); a zero Defaults field means the
	// generic default. When non-nil, a stage that runs the linecook image
	// must name one of them; when nil, any worker name is accepted.
	Workers map[string]workers.Defaults
	// Stages are the stages when `linecook:stages` is unset, each running
	// the worker of its name. Empty means `linecook:stages` is required.
	Stages []string
}

// Defaults of every key. The README's config table quotes these.
const (
	DefaultPolicy           = policies.TargetTracking
	DefaultMin              = 1
	DefaultMax              = 10
	DefaultScaleOutCooldown = 60 * time.Second
	DefaultScaleInCooldown  = 120 * time.Second
	DefaultScaleInAfter     = 5 * time.Minute
	DefaultLatency          = 30 * time.Second
	DefaultMaxReceiveCount  = 3
	DefaultCPU              = 256
	DefaultMemory           = 512
	DefaultStopTimeout      = 30 * time.Second
	DefaultLogRetentionDays = 14
	DefaultAZs              = 2
	DefaultCIDR             = "10.0.0.0/16"
	DefaultNAT              = NATSingle
	DefaultAPIDesiredCount  = 2
	DefaultAPIPort          = 8080
	// Generic workload defaults, for workers linecook does not ship.
	DefaultProcessingTime = time.Second
	DefaultConcurrency    = 10
	// Minimum visibility timeout: SQS's own default.
	minVisibilityTimeout = 30 * time.Second
)

type rawScaling struct {
	Policy           *string   `json:"policy"`
	Min              *Int      `json:"min"`
	Max              *Int      `json:"max"`
	Desired          *Int      `json:"desired"`
	ScaleOutCooldown *Duration `json:"scaleOutCooldown"`
	ScaleInCooldown  *Duration `json:"scaleInCooldown"`
	TargetValue      *Float    `json:"targetValue"`
	ScaleInAfter     *Duration `json:"scaleInAfter"`
	ScaleOutOn       *string   `json:"scaleOutOn"`
}

type rawStage struct {
	Name              string              `json:"name"`
	Worker            string              `json:"worker"`
	Image             string              `json:"image"`
	Concurrency       *Int                `json:"concurrency"`
	ProcessingTime    *Duration           `json:"processingTime"`
	Latency           *Duration           `json:"latency"`
	VisibilityTimeout *Duration           `json:"visibilityTimeout"`
	MaxReceiveCount   *Int                `json:"maxReceiveCount"`
	CPU               *Int                `json:"cpu"`
	Memory            *Int                `json:"memory"`
	Spot              *Bool               `json:"spot"`
	ScaleInProtection *Bool               `json:"scaleInProtection"`
	StopTimeout       *Duration           `json:"stopTimeout"`
	Env               map[string]EnvValue `json:"env"`
	Scaling           *rawScaling         `json:"scaling"`
}

type rawVPC struct {
	AZs              *Int     `json:"azs"`
	CIDR             *string  `json:"cidr"`
	NAT              *string  `json:"nat"`
	Endpoints        *Bool    `json:"endpoints"`
	ID               string   `json:"vpcId"`
	PublicSubnetIDs  []string `json:"publicSubnetIds"`
	PrivateSubnetIDs []string `json:"privateSubnetIds"`
}

type rawAPI struct {
	CPU             *Int    `json:"cpu"`
	Memory          *Int    `json:"memory"`
	DesiredCount    *Int    `json:"desiredCount"`
	Port            *Int    `json:"port"`
	CertificateARN  string  `json:"certificateArn"`
	APIKeySecretARN string  `json:"apiKeySecretArn"`
	JWT             *rawJWT `json:"jwt"`
}

type rawJWT struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	JWKSURL  string `json:"jwksUrl"`
}

type rawTable struct {
	PointInTimeRecovery *Bool `json:"pointInTimeRecovery"`
	DeletionProtection  *Bool `json:"deletionProtection"`
}

// Parse reads the pipeline configuration from values, a stack's config as
// Pulumi gives it to a program: full keys ("linecook:stages") to strings,
// objects and lists as JSON. Keys outside the linecook namespace are
// ignored; an unknown linecook key is an error. Every other key is
// optional.
func Parse(values map[string]string, opts Options) (Config, error) {
	for k := range values {
		name, ok := strings.CutPrefix(k, Namespace+":")
		if ok && !slices.Contains(Keys, name) {
			return Config{}, &Error{Key: k, Value: values[k], Reason: "unknown key (valid: " + strings.Join(prefixed(Keys), ", ") + ")"}
		}
	}
	get := func(key string) (string, bool) {
		v, ok := values[Namespace+":"+key]
		return v, ok && v != ""
	}

	var cfg Config
	var err error
	if cfg.VPC, err = parseVPC(get); err != nil {
		return Config{}, err
	}
	if cfg.API, err = parseAPI(get); err != nil {
		return Config{}, err
	}
	if cfg.OrderTable, err = parseTable(get); err != nil {
		return Config{}, err
	}
	if cfg.Events, err = parseEvents(get); err != nil {
		return Config{}, err
	}
	if cfg.API.JWT.Enabled() && !cfg.VPC.Existing() && cfg.VPC.NAT == NATNone {
		return Config{}, &Error{Key: KeyAPI + ".jwt.jwksUrl", Value: cfg.API.JWT.JWKSURL,
			Reason: "the API tasks fetch the issuer's keys from the internet, which linecook:vpc.nat none cuts them off from: set linecook:vpc.nat to single or per-az"}
	}
	if v, ok := get(KeyAlarmEmail); ok {
		if !IsEmail(v) {
			return Config{}, &Error{Key: KeyAlarmEmail, Value: v, Reason: "not one email address, like ops@example.com (the alarm topic subscribes exactly one; subscribe more to the topic yourself)"}
		}
		cfg.AlarmEmail = v
	}
	cfg.LogRetentionDays = DefaultLogRetentionDays
	if v, ok := get(KeyLogRetentionDays); ok {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(logRetentionDays, n) {
			return Config{}, &Error{Key: KeyLogRetentionDays, Value: v, Reason: "not a CloudWatch Logs retention (valid: " + joinInts(logRetentionDays) + ")"}
		}
		cfg.LogRetentionDays = n
	}
	if v, ok := get(KeyImage); ok {
		if !isImage(v) {
			return Config{}, &Error{Key: KeyImage, Value: v, Reason: imageReason}
		}
		cfg.Image = v
	}
	cfg.ImageBuild = ImageBuildGo
	if v, ok := get(KeyImageBuild); ok {
		if v != ImageBuildGo && v != ImageBuildDocker {
			return Config{}, &Error{Key: KeyImageBuild, Value: v, Reason: "not a way to build the image (valid: go, docker)"}
		}
		cfg.ImageBuild = v
	}

	global := rawScaling{}
	if v, ok := get(KeyScaling); ok {
		if err := decodeStrict(KeyScaling, v, &global); err != nil {
			return Config{}, err
		}
	}
	if _, err := resolveScaling(global, rawScaling{}, KeyScaling, ""); err != nil {
		return Config{}, err
	}

	stages := defaultStages(opts)
	if v, ok := get(KeyStages); !ok && len(stages) == 0 {
		return Config{}, &Error{Key: KeyStages, Reason: "not set, and this program has no default pipeline: list the stages, each a name and a worker or an image"}
	} else if ok {
		stages = nil
		if err := decodeStrict(KeyStages, v, &stages); err != nil {
			return Config{}, err
		}
		if len(stages) == 0 {
			reason := "needs at least one stage"
			if len(opts.Stages) > 0 {
				reason += " (or leave it unset for the default pipeline: " + strings.Join(opts.Stages, ", ") + ")"
			}
			return Config{}, &Error{Key: KeyStages, Value: v, Reason: reason}
		}
	}
	seen := map[string]bool{}
	for i, rs := range stages {
		key := fmt.Sprintf("%s[%d]", KeyStages, i)
		st, err := resolveStage(rs, global, key, opts)
		if err != nil {
			return Config{}, err
		}
		if seen[st.Name] {
			return Config{}, &Error{Key: key + ".name", Value: st.Name, Reason: "duplicate stage name (stage names must be unique)"}
		}
		seen[st.Name] = true
		cfg.Stages = append(cfg.Stages, st)
	}
	return cfg, nil
}

func defaultStages(opts Options) []rawStage {
	out := make([]rawStage, len(opts.Stages))
	for i, name := range opts.Stages {
		out[i] = rawStage{Name: name, Worker: name}
	}
	return out
}

func resolveStage(rs rawStage, global rawScaling, key string, opts Options) (Stage, error) {
	st := Stage{Name: rs.Name, Worker: rs.Worker, Image: rs.Image}
	if err := checkStageName(key+".name", rs.Name); err != nil {
		return Stage{}, err
	}
	if len(rs.Env) > 0 {
		st.Env = make(map[string]string, len(rs.Env))
		for k, v := range rs.Env {
			st.Env[k] = string(v)
		}
	}
	switch {
	case rs.Worker == "" && rs.Image == "":
		return Stage{}, &Error{Key: key + ".worker", Value: "", Reason: "a stage needs a worker" + workerChoices(opts) + " or an image of its own"}
	case rs.Image == "" && opts.Workers != nil && !known(opts, rs.Worker):
		return Stage{}, &Error{Key: key + ".worker", Value: rs.Worker, Reason: "unknown worker" + workerChoices(opts)}
	}

	if rs.Image != "" && !isImage(rs.Image) {
		return Stage{}, &Error{Key: key + ".image", Value: rs.Image, Reason: imageReason}
	}

	st.ProcessingTime = DefaultProcessingTime
	st.Concurrency = DefaultConcurrency
	if def := opts.Workers[rs.Worker]; rs.Image == "" {
		if def.ProcessingTime > 0 {
			st.ProcessingTime = def.ProcessingTime
		}
		if def.Concurrency > 0 {
			st.Concurrency = def.Concurrency
		}
	}
	setInt(&st.Concurrency, rs.Concurrency)
	setDuration(&st.ProcessingTime, rs.ProcessingTime)
	st.Latency = DefaultLatency
	setDuration(&st.Latency, rs.Latency)
	if err := st.Workload().Validate(); err != nil {
		return Stage{}, fieldError(key, err)
	}
	if st.Concurrency > workers.MaxConcurrency {
		return Stage{}, &Error{Key: key + ".concurrency", Value: strconv.Itoa(st.Concurrency),
			Reason: fmt.Sprintf("must be 1 to %d (the worker runtime's limit for one task; add tasks instead)", workers.MaxConcurrency)}
	}

	// Long enough that a message is rarely redelivered while still being
	// worked on (the worker's heartbeat extends it for slow ones), short
	// enough that a crashed task's messages come back quickly.
	st.VisibilityTimeout = DefaultVisibilityTimeout(st.ProcessingTime)
	setDuration(&st.VisibilityTimeout, rs.VisibilityTimeout)
	if err := checkVisibilityTimeout(key+".visibilityTimeout", st.VisibilityTimeout); err != nil {
		return Stage{}, err
	}

	st.MaxReceiveCount = DefaultMaxReceiveCount
	setInt(&st.MaxReceiveCount, rs.MaxReceiveCount)
	if err := checkMaxReceiveCount(key+".maxReceiveCount", st.MaxReceiveCount); err != nil {
		return Stage{}, err
	}

	st.CPU, st.Memory = DefaultCPU, DefaultMemory
	setInt(&st.CPU, rs.CPU)
	setInt(&st.Memory, rs.Memory)
	if err := validateFargate(key, st.CPU, st.Memory); err != nil {
		return Stage{}, err
	}
	if rs.Spot != nil {
		st.Spot = bool(*rs.Spot)
	}
	if rs.ScaleInProtection != nil {
		st.DisableScaleInProtection = !bool(*rs.ScaleInProtection)
	}

	st.StopTimeout = DefaultStopTimeout
	setDuration(&st.StopTimeout, rs.StopTimeout)
	if err := checkStopTimeout(key+".stopTimeout", st.StopTimeout); err != nil {
		return Stage{}, err
	}
	st.DrainTimeout = DrainTimeout(st.StopTimeout)

	for name := range rs.Env {
		if r := EnvNameReason(name); r != "" {
			return Stage{}, &Error{Key: key + ".env", Value: name, Reason: r}
		}
	}

	var err error
	if st.Scaling, err = resolveScaling(global, ptrOr(rs.Scaling), KeyScaling, key+".scaling"); err != nil {
		return Stage{}, err
	}
	if _, err := policies.Build(st.Scaling, st.Workload()); err != nil {
		return Stage{}, fieldError(key, err)
	}
	return st, nil
}

// resolveScaling merges a stage's override onto the global settings and
// applies defaults. A bad value is reported under the key that set it.
func resolveScaling(global, stage rawScaling, globalKey, stageKey string) (policies.Settings, error) {
	s := policies.Settings{
		Policy:           DefaultPolicy,
		Min:              DefaultMin,
		Max:              DefaultMax,
		ScaleOutCooldown: DefaultScaleOutCooldown,
		ScaleInCooldown:  DefaultScaleInCooldown,
		ScaleInAfter:     DefaultScaleInAfter,
	}
	// desired is unset unless a value sets it: every int, -1 included,
	// is a value someone can write, so none can stand for "unset".
	var desired *Int
	for _, r := range []rawScaling{global, stage} {
		if r.Policy != nil {
			s.Policy = policies.Kind(*r.Policy)
		}
		setInt(&s.Min, r.Min)
		setInt(&s.Max, r.Max)
		if r.Desired != nil {
			desired = r.Desired
		}
		setDuration(&s.ScaleOutCooldown, r.ScaleOutCooldown)
		setDuration(&s.ScaleInCooldown, r.ScaleInCooldown)
		setDuration(&s.ScaleInAfter, r.ScaleInAfter)
		if r.TargetValue != nil {
			s.TargetValue = float64(*r.TargetValue)
		}
		if r.ScaleOutOn != nil {
			s.ScaleOutOn = *r.ScaleOutOn
		}
	}
	switch {
	case desired != nil:
		s.Desired = int(*desired)
	case s.Policy == policies.Fixed:
		// The most a scaled stage can be running: switching a stage from
		// step or target tracking to fixed never cuts it, whatever
		// autoscaling had set. Set desired for fewer.
		s.Desired = s.Max
	default:
		s.Desired = s.Min
	}
	if err := s.Validate(); err != nil {
		var fe *policies.FieldError
		if errors.As(err, &fe) && stageKey != "" && stage.sets(fe.Field) {
			return s, fieldError(stageKey, err)
		}
		return s, fieldError(globalKey, err)
	}
	return s, nil
}

// sets reports whether the override sets the named field.
func (r rawScaling) sets(field string) bool {
	switch field {
	case "policy":
		return r.Policy != nil
	case "min":
		return r.Min != nil
	case "max":
		return r.Max != nil
	case "desired":
		return r.Desired != nil
	case "scaleOutCooldown":
		return r.ScaleOutCooldown != nil
	case "scaleInCooldown":
		return r.ScaleInCooldown != nil
	case "targetValue":
		return r.TargetValue != nil
	case "scaleInAfter":
		return r.ScaleInAfter != nil
	case "scaleOutOn":
		return r.ScaleOutOn != nil
	}
	return false
}

func parseVPC(get func(string) (string, bool)) (VPC, error) {
	var r rawVPC
	if v, ok := get(KeyVPC); ok {
		if err := decodeStrict(KeyVPC, v, &r); err != nil {
			return VPC{}, err
		}
	}
	v := VPC{AZs: DefaultAZs, CIDR: DefaultCIDR, NAT: DefaultNAT, ID: r.ID,
		PublicSubnetIDs: r.PublicSubnetIDs, PrivateSubnetIDs: r.PrivateSubnetIDs}
	setInt(&v.AZs, r.AZs)
	if r.CIDR != nil {
		v.CIDR = *r.CIDR
	}
	if r.NAT != nil {
		v.NAT = *r.NAT
	}
	if r.Endpoints != nil {
		v.Endpoints = bool(*r.Endpoints)
	}
	if v.ID != "" {
		if !strings.HasPrefix(v.ID, "vpc-") {
			return VPC{}, &Error{Key: KeyVPC + ".vpcId", Value: v.ID, Reason: "not a VPC id (vpc-…)"}
		}
		if len(v.PublicSubnetIDs) < 2 {
			return VPC{}, &Error{Key: KeyVPC + ".publicSubnetIds", Value: strings.Join(v.PublicSubnetIDs, ","), Reason: "an existing VPC needs at least two public subnets, in different AZs, for the load balancer"}
		}
		if len(v.PrivateSubnetIDs) < 1 {
			return VPC{}, &Error{Key: KeyVPC + ".privateSubnetIds", Value: "", Reason: "an existing VPC needs at least one private subnet for the tasks"}
		}
		return v, nil
	}
	if len(v.PublicSubnetIDs)+len(v.PrivateSubnetIDs) > 0 {
		return VPC{}, &Error{Key: KeyVPC + ".vpcId", Value: "", Reason: "subnet ids need the vpcId they belong to"}
	}
	if v.AZs < 2 || v.AZs > 6 {
		return VPC{}, &Error{Key: KeyVPC + ".azs", Value: strconv.Itoa(v.AZs), Reason: "must be 2 to 6 (the load balancer needs two availability zones)"}
	}
	prefix, err := netip.ParsePrefix(v.CIDR)
	if err != nil || !prefix.Addr().Is4() || prefix.Bits() < 16 || prefix.Bits() > 22 {
		return VPC{}, &Error{Key: KeyVPC + ".cidr", Value: v.CIDR, Reason: "must be an IPv4 CIDR block from /16 to /22"}
	}
	if !slices.Contains([]string{NATNone, NATSingle, NATPerAZ}, v.NAT) {
		return VPC{}, &Error{Key: KeyVPC + ".nat", Value: v.NAT, Reason: "not a NAT strategy (valid: none, single, per-az)"}
	}
	if v.NAT == NATNone && !v.Endpoints {
		return VPC{}, &Error{Key: KeyVPC + ".nat", Value: v.NAT, Reason: "private tasks without NAT reach ECR, SQS, DynamoDB and CloudWatch Logs only through VPC endpoints: set linecook:vpc.endpoints to true, or nat to single or per-az"}
	}
	return v, nil
}

func parseAPI(get func(string) (string, bool)) (API, error) {
	var r rawAPI
	if v, ok := get(KeyAPI); ok {
		if err := decodeStrict(KeyAPI, v, &r); err != nil {
			return API{}, err
		}
	}
	a := API{CPU: DefaultCPU, Memory: DefaultMemory, DesiredCount: DefaultAPIDesiredCount, Port: DefaultAPIPort,
		CertificateARN: r.CertificateARN, APIKeySecretARN: r.APIKeySecretARN}
	setInt(&a.CPU, r.CPU)
	setInt(&a.Memory, r.Memory)
	setInt(&a.DesiredCount, r.DesiredCount)
	setInt(&a.Port, r.Port)
	if err := validateFargate(KeyAPI, a.CPU, a.Memory); err != nil {
		return API{}, err
	}
	if a.DesiredCount < 1 || a.DesiredCount > 100 {
		return API{}, &Error{Key: KeyAPI + ".desiredCount", Value: strconv.Itoa(a.DesiredCount), Reason: "must be 1 to 100"}
	}
	if a.Port < 1024 || a.Port > 65535 {
		return API{}, &Error{Key: KeyAPI + ".port", Value: strconv.Itoa(a.Port), Reason: "must be 1024 to 65535 (the container runs unprivileged)"}
	}
	if a.CertificateARN != "" && !IsARN(a.CertificateARN, "acm") {
		return API{}, &Error{Key: KeyAPI + ".certificateArn", Value: a.CertificateARN, Reason: "not an ACM certificate ARN (arn:aws:acm:…)"}
	}
	if a.APIKeySecretARN != "" && !IsARN(a.APIKeySecretARN, "secretsmanager") {
		return API{}, &Error{Key: KeyAPI + ".apiKeySecretArn", Value: a.APIKeySecretARN, Reason: "not a Secrets Manager secret ARN (arn:aws:secretsmanager:…)"}
	}
	if r.JWT != nil {
		a.JWT = JWT{Issuer: r.JWT.Issuer, Audience: r.JWT.Audience, JWKSURL: r.JWT.JWKSURL}
		if field, reason := JWTReason(a.JWT); reason != "" {
			return API{}, &Error{Key: KeyAPI + ".jwt." + field, Value: a.JWT.field(field), Reason: reason}
		}
	}
	return a, nil
}

type rawEvents struct {
	Subscribers []struct {
		QueueARN     string          `json:"queueArn"`
		QueueURL     string          `json:"queueUrl"`
		FilterPolicy json.RawMessage `json:"filterPolicy"`
	} `json:"subscribers"`
}

// eventTypes are the attribute values a filter policy on type may name.
var eventTypes = []string{"placed", "started", "finished", "completed", "failed"}

func parseEvents(get func(string) (string, bool)) (Events, error) {
	var r rawEvents
	v, ok := get(KeyEvents)
	if !ok {
		return Events{}, nil
	}
	if err := decodeStrict(KeyEvents, v, &r); err != nil {
		return Events{}, err
	}
	var ev Events
	seen := map[string]bool{}
	for i, s := range r.Subscribers {
		key := fmt.Sprintf("%s.subscribers[%d]", KeyEvents, i)
		if !IsARN(s.QueueARN, "sqs") {
			return Events{}, &Error{Key: key + ".queueArn", Value: s.QueueARN, Reason: "not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)"}
		}
		if seen[s.QueueARN] {
			return Events{}, &Error{Key: key + ".queueArn", Value: s.QueueARN, Reason: "subscribed twice"}
		}
		seen[s.QueueARN] = true
		if s.QueueURL != "" && !strings.HasPrefix(s.QueueURL, "https://") {
			return Events{}, &Error{Key: key + ".queueUrl", Value: s.QueueURL, Reason: "not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"}
		}
		sub := Subscriber{QueueARN: s.QueueARN, QueueURL: s.QueueURL}
		if len(s.FilterPolicy) > 0 && string(s.FilterPolicy) != "null" {
			var policy map[string][]any
			if err := json.Unmarshal(s.FilterPolicy, &policy); err != nil || len(policy) == 0 {
				return Events{}, &Error{Key: key + ".filterPolicy", Value: string(s.FilterPolicy),
					Reason: `not an SNS filter policy on the event attributes, like {"type":["completed","failed"]} (attributes: type, stage, order_id)`}
			}
			for attr, values := range policy {
				if attr != "type" && attr != "stage" && attr != "order_id" {
					return Events{}, &Error{Key: key + ".filterPolicy", Value: string(s.FilterPolicy), Reason: "filters on " + attr + ", which events do not carry (attributes: type, stage, order_id)"}
				}
				if attr == "type" {
					for _, x := range values {
						if t, ok := x.(string); ok && !slices.Contains(eventTypes, t) {
							return Events{}, &Error{Key: key + ".filterPolicy", Value: string(s.FilterPolicy), Reason: "no event has type " + t + " (types: " + strings.Join(eventTypes, ", ") + ")"}
						}
					}
				}
			}
			sub.FilterPolicy = string(s.FilterPolicy)
		}
		ev.Subscribers = append(ev.Subscribers, sub)
	}
	return ev, nil
}

func parseTable(get func(string) (string, bool)) (OrderTable, error) {
	var r rawTable
	if v, ok := get(KeyOrderTable); ok {
		if err := decodeStrict(KeyOrderTable, v, &r); err != nil {
			return OrderTable{}, err
		}
	}
	var t OrderTable
	if r.PointInTimeRecovery != nil {
		t.PointInTimeRecovery = bool(*r.PointInTimeRecovery)
	}
	if r.DeletionProtection != nil {
		t.DeletionProtection = bool(*r.DeletionProtection)
	}
	return t, nil
}

func fieldError(key string, err error) error {
	var fe *policies.FieldError
	if errors.As(err, &fe) {
		return &Error{Key: key + "." + fe.Field, Value: fe.Value, Reason: fe.Err.Error()}
	}
	return &Error{Key: key, Reason: err.Error()}
}

func workerChoices(opts Options) string {
	if opts.Workers == nil {
		return ""
	}
	return " (registered: " + strings.Join(slices.Sorted(maps.Keys(opts.Workers)), ", ") + ")"
}

func known(opts Options, worker string) bool {
	_, ok := opts.Workers[worker]
	return ok
}

func setInt(dst *int, v *Int) {
	if v != nil {
		*dst = int(*v)
	}
}

func setDuration(dst *time.Duration, v *Duration) {
	if v != nil {
		*dst = v.Duration
	}
}

func ptrOr[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func prefixed(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = Namespace + ":" + k
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
