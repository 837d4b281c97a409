// AWS's rules for the values linecook deploys: what SQS, ECS, Fargate,
// CloudWatch Logs, SNS and the container registries accept. The parser
// (parse.go) decodes and defaults; these say what is valid.

package pipeline

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	stageNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,23}$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// CloudWatch Logs' accepted retention periods, in days.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Fargate's valid memory (MiB) for each CPU size, as min, max and step.
var fargateMemory = map[int][3]int{
	256:   {512, 2048, 0}, // 512, 1024, 2048
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

func validateFargate(key string, cpu, memory int) error {
	r, ok := fargateMemory[cpu]
	if !ok {
		return &Error{Key: key + ".cpu", Value: strconv.Itoa(cpu), Reason: "not a Fargate CPU size (valid: 256, 512, 1024, 2048, 4096, 8192, 16384)"}
	}
	valid := memory >= r[0] && memory <= r[1]
	desc := fmt.Sprintf("%d to %d MiB in steps of %d", r[0], r[1], r[2])
	if cpu == 256 {
		valid = memory == 512 || memory == 1024 || memory == 2048
		desc = "512, 1024 or 2048 MiB"
	} else if valid {
		valid = (memory-r[0])%r[2] == 0
	}
	if !valid {
		return &Error{Key: key + ".memory", Value: strconv.Itoa(memory), Reason: fmt.Sprintf("Fargate with cpu %d takes %s", cpu, desc)}
	}
	return nil
}

// IsEmail reports whether s is one bare email address with a domain, the
// only form an SNS email subscription takes.
func IsEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return domain != "" && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// imageRE is a container image reference, as Docker and ECS parse one:
// [registry[:port]/]repository[:tag][@digest], the repository's path
// components lowercase.
var imageRE = func() *regexp.Regexp {
	const (
		alnum     = `[a-z0-9]+`
		separator = `(?:[._]|__|-+)`
		component = alnum + `(?:` + separator + alnum + `)*`
		domainCmp = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		domain    = domainCmp + `(?:\.` + domainCmp + `)*(?::[0-9]+)?`
		tag       = `[\w][\w.-]{0,127}`
		digest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	)
	return regexp.MustCompile(`^(?:` + domain + `/)?` + component + `(?:/` + component + `)*(?::` + tag + `)?(?:@` + digest + `)?$`)
}()

const imageReason = "not a container image reference, like 123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:1.2 or ghcr.io/org/worker@sha256:… (lowercase repository, optional :tag and @digest)"

func isImage(s string) bool { return len(s) <= 512 && imageRE.MatchString(s) }

// IsARN reports whether s is an ARN of the given service.
func IsARN(s, service string) bool {
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && strings.HasPrefix(parts[1], "aws") && parts[2] == service
}

// checkVisibilityTimeout: SQS takes whole seconds from 1 s to 12 h.
func checkVisibilityTimeout(key string, d time.Duration) error {
	if d < time.Second || d > 12*time.Hour || d%time.Second != 0 {
		return &Error{Key: key, Value: d.String(), Reason: "must be whole seconds from 1s to 12h (SQS's range)"}
	}
	return nil
}

// checkMaxReceiveCount: SQS's redrive policy takes 1 to 1000 receives.
func checkMaxReceiveCount(key string, n int) error {
	if n < 1 || n > 1000 {
		return &Error{Key: key, Value: strconv.Itoa(n), Reason: "must be 1 to 1000 (SQS's range)"}
	}
	return nil
}

// checkStopTimeout: ECS's container stopTimeout on Fargate is whole
// seconds from 2 s to 120 s.
func checkStopTimeout(key string, d time.Duration) error {
	if d < 2*time.Second || d > 120*time.Second || d%time.Second != 0 {
		return &Error{Key: key, Value: d.String(), Reason: "must be whole seconds from 2s to 120s (ECS's range)"}
	}
	return nil
}

// reservedStageNames are names a stage cannot take: the order API's
// resources use them (its task-definition family, log group and roles are
// named "api").
var reservedStageNames = []string{"api"}

// checkStageName: a stage's name becomes part of its resources' names, so
// it must be one AWS accepts everywhere and collide with nothing else the
// stack creates.
func checkStageName(key, name string) error {
	bad := func(reason string) error { return &Error{Key: key, Value: name, Reason: reason} }
	switch {
	case !stageNameRE.MatchString(name):
		return bad("stage names are 1–24 characters: a lowercase letter, then lowercase letters, digits or hyphens")
	case strings.HasPrefix(name, "sg-"):
		return bad("must not begin with sg- (EC2 refuses security group names that do, and the stage's group is named after it)")
	case strings.HasSuffix(name, "-dlq"):
		return bad("must not end in -dlq (every stage's dead-letter queue is named <stage>-dlq: stage x and stage x-dlq would collide)")
	case slices.Contains(reservedStageNames, name):
		return bad("is reserved for the order API (" + name + " names its task-definition family, log group and roles): choose another")
	}
	return nil
}

// The same rules for callers that name their values differently (the
// components' arguments): each returns why v is invalid, or "" when it is
// valid, so there is one definition of each of AWS's limits.

// FargateReason says which of cpu ("cpu") or memory ("memory") Fargate
// refuses, and why.
func FargateReason(cpu, memory int) (field, reason string) {
	return split(validateFargate("", cpu, memory))
}

// StopTimeoutReason says why ECS refuses d as a container's stopTimeout.
func StopTimeoutReason(d time.Duration) string { return reason(checkStopTimeout("", d)) }

// VisibilityTimeoutReason says why SQS refuses d as a visibility timeout.
func VisibilityTimeoutReason(d time.Duration) string { return reason(checkVisibilityTimeout("", d)) }

// MaxReceiveCountReason says why SQS's redrive policy refuses n.
func MaxReceiveCountReason(n int) string { return reason(checkMaxReceiveCount("", n)) }

// StageNameReason says why name cannot name a stage's resources.
func StageNameReason(name string) string { return reason(checkStageName("", name)) }

// LogRetentionReason says why CloudWatch Logs refuses days as a retention.
func LogRetentionReason(days int) string {
	if slices.Contains(logRetentionDays, days) {
		return ""
	}
	return "not a CloudWatch Logs retention (valid: " + joinInts(logRetentionDays) + ")"
}

func reason(err error) string {
	_, r := split(err)
	return r
}

func split(err error) (field, reason string) {
	var e *Error
	if !errors.As(err, &e) {
		return "", ""
	}
	return strings.TrimPrefix(e.Key, "."), e.Reason
}

// JWTReason says which field of j ("issuer", "audience" or "jwksUrl") is
// invalid and why, or returns "" for a valid j. The three go together;
// the issuer and the JWKS URL are https URLs (OIDC requires it, and the
// keys must not be tampered with on the way), and the JWKS is on port 443,
// the only one the API tasks' security group lets out.
func JWTReason(j JWT) (field, reason string) {
	const together = "issuer, audience and jwksUrl are set together (the OIDC issuer's identifier, the audience its tokens name for this API, and where it publishes its keys)"
	switch {
	case j.Issuer == "":
		return "issuer", together
	case j.Audience == "":
		return "audience", together
	case j.JWKSURL == "":
		return "jwksUrl", together
	}
	if r := httpsReason(j.Issuer); r != "" {
		return "issuer", r + ", exactly as the tokens' iss claim says (a trailing slash counts)"
	}
	if strings.TrimSpace(j.Audience) != j.Audience {
		return "audience", "must not begin or end with spaces: it is compared exactly with the tokens' aud"
	}
	if r := httpsReason(j.JWKSURL); r != "" {
		return "jwksUrl", r + ", the issuer's jwks_uri"
	}
	if u, _ := url.Parse(j.JWKSURL); u.Port() != "" && u.Port() != "443" {
		return "jwksUrl", "must be on port 443: the API tasks' security group lets HTTPS out on 443 only"
	}
	return "", ""
}

func httpsReason(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "must be an https URL like https://login.example.com/"
	}
	return ""
}

// field is the value of j's field named as in JWTReason.
func (j JWT) field(name string) string {
	switch name {
	case "issuer":
		return j.Issuer
	case "audience":
		return j.Audience
	}
	return j.JWKSURL
}

// EnvNameReason says why name cannot be a stage's extra environment
// variable: not a variable name, or one linecook sets itself.
func EnvNameReason(name string) string {
	switch {
	case !envNameRE.MatchString(name):
		return "not an environment variable name (letters, digits and _, not starting with a digit)"
	case slices.Contains(ReservedEnv, name):
		return "set by linecook itself (reserved: " + strings.Join(ReservedEnv, ", ") + ")"
	}
	return ""
}

// DefaultVisibilityTimeout is long enough that a message is rarely
// redelivered while still being worked on (the worker's heartbeat extends
// it for slow ones), short enough that a crashed task's messages come back
// quickly.
func DefaultVisibilityTimeout(processingTime time.Duration) time.Duration {
	return max(minVisibilityTimeout, (4 * processingTime).Round(time.Second))
}

// DrainTimeout is how long a worker drains after SIGTERM within ECS's
// stopTimeout. It must finish draining and flush its deletes before ECS's
// SIGKILL; after its drain timeout it may take up to 4 s more
// (workers/consumer.AfterDrain: cancelled handlers give their messages
// back, then the final flush): keep 5 s for that, or half the window when
// it is shorter than 10 s.
func DrainTimeout(stopTimeout time.Duration) time.Duration {
	return stopTimeout - min(5*time.Second, stopTimeout/2)
}
