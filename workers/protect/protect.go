// Package protect keeps a worker's ECS task safe from scale-in while it
// has messages in flight, and lets it go when it has none, through the
// ECS agent's task scale-in protection endpoint
// ($ECS_AGENT_URI/task-protection/v1/state).
//
// Without it, a scale-in (or a deployment) picks any task of the service
// and stops it: SIGTERM, then SIGKILL after the task's stopTimeout, at
// most 120 s on Fargate. A message whose work outlasts the drain is cut
// and redelivered, its work started over. ECS never stops a protected
// task on scale-in or deployment; it waits until the protection is
// released or has expired, and stops unprotected tasks instead.
//
// The worker runtime (workers/consumer, WithProtector) only says when it
// goes from idle to busy and back; a Guard turns that into as few calls as
// it can, because ECS rate-limits them:
//
//   - idle → busy: protect the task, for Expiry;
//   - busy → idle: release it once the worker has stayed idle for
//     ReleaseDelay, so that a steady stream of messages with short gaps
//     between them does not flap;
//   - busy for long: renew the protection at half its expiry, so a worker
//     busy for hours is never left unprotected.
//
// Calls run in the Guard's own goroutine: signalling never blocks, and no
// failure stops message processing. Each call is bounded (5 s an
// attempt) and retried with backoff when the failure is transient
// (network, timeout, throttling, 5xx); when every attempt fails the Guard
// tries again 30 s later. A failure no retry can fix (the task role may
// not call ecs:UpdateTaskProtection; the task belongs to no service; the
// task is stopping) is logged once, and the Guard stops calling.
//
// Outside ECS (ECS_AGENT_URI unset), or with LINECOOK_SCALE_IN_PROTECTION
// false (the stack's switch), New returns nil and nothing is called at
// all.
//
// Settings, read by LoadConfig:
//
//	variable                            default  meaning
//	ECS_AGENT_URI                       —        the ECS agent's endpoint, set by ECS in every container
//	LINECOOK_SCALE_IN_PROTECTION        true     false: never call the endpoint (set by the stack when the stage turns it off)
//	LINECOOK_PROTECTION_RELEASE_DELAY   30s      how long the worker stays idle before it releases the protection (0s–1h)
package protect

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// The task environment the package reads. ECS sets EnvAgentURI in every
// container of a task; the stack sets EnvEnabled (pipeline's
// EnvScaleInProtection, the same name: the runtime reads its environment
// without the config parser, as workers/consumer does, and a test holds
// the two equal) only to turn protection off; EnvReleaseDelay is
// a stage's to tune (linecook local scales it with its time scale).
const (
	EnvAgentURI     = "ECS_AGENT_URI"
	EnvEnabled      = "LINECOOK_SCALE_IN_PROTECTION"
	EnvReleaseDelay = "LINECOOK_PROTECTION_RELEASE_DELAY"
)

// Path is the task scale-in protection endpoint's path under
// $ECS_AGENT_URI: PUT sets the protection, GET reads it.
const Path = "/task-protection/v1/state"

// DefaultReleaseDelay is how long a worker stays idle before it releases
// its protection. Scale-in acts on minutes of low load (the stack's
// scaleInAfter, 5 minutes by default, then its cooldown), so holding on
// for half a minute delays no scale-in that matters, and a stream with
// gaps shorter than this costs no call at all.
const DefaultReleaseDelay = 30 * time.Second

// maxReleaseDelay bounds the release delay: a task idle for longer than
// this while protected only blocks scale-in.
const maxReleaseDelay = time.Hour

// The expiry's bounds: ECS accepts 1 minute to 48 hours.
const (
	minExpiry = 10 * time.Minute
	maxExpiry = 48 * time.Hour
)

// Config is a Guard's settings.
type Config struct {
	// AgentURI is $ECS_AGENT_URI; empty outside ECS, where New returns
	// nil.
	AgentURI string
	// Enabled is false when the stage turned protection off: New returns
	// nil.
	Enabled bool
	// ReleaseDelay is how long the worker stays idle before the Guard
	// releases the protection.
	ReleaseDelay time.Duration
	// Expiry is how long each protection lasts unless renewed or
	// released (whole minutes, 1 minute to 48 hours): see ExpiryFor.
	Expiry time.Duration
}

// ExpiryFor is the protection's expiry for a worker whose queue has the
// given visibility timeout: twice that timeout, at least 10 minutes,
// rounded up to whole minutes (what the endpoint takes), at most ECS's 48
// hours.
//
// The expiry is the backstop for a worker that can no longer release its
// protection (a release that keeps failing, a process frozen): the task is
// stoppable again at most one expiry after the last renewal. Longer than
// the visibility timeout, so that a frozen worker's messages, whose
// heartbeats froze with it, are back in the queue for another task before
// its protection lapses; at least 10 minutes, so a busy worker renews
// (every half expiry) at most every 5 minutes.
func ExpiryFor(visibilityTimeout time.Duration) time.Duration {
	e := max(minExpiry, 2*visibilityTimeout)
	if r := e % time.Minute; r != 0 {
		e += time.Minute - r
	}
	return min(e, maxExpiry)
}

// LoadConfig reads the Config from the environment, with the expiry for a
// queue of the given visibility timeout.
func LoadConfig(visibilityTimeout time.Duration) (Config, error) {
	c := Config{
		AgentURI:     os.Getenv(EnvAgentURI),
		Enabled:      true,
		ReleaseDelay: DefaultReleaseDelay,
		Expiry:       ExpiryFor(visibilityTimeout),
	}
	if v, ok := os.LookupEnv(EnvEnabled); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("protect config: %s=%s: must be true or false", EnvEnabled, v)
		}
		c.Enabled = b
	}
	if v, ok := os.LookupEnv(EnvReleaseDelay); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("protect config: %s=%s: must be a duration such as 30s", EnvReleaseDelay, v)
		}
		c.ReleaseDelay = d
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports an invalid setting, naming its variable.
func (c Config) Validate() error {
	if c.ReleaseDelay < 0 || c.ReleaseDelay > maxReleaseDelay {
		return fmt.Errorf("protect config: %s=%s: must be 0s to 1h", EnvReleaseDelay, c.ReleaseDelay)
	}
	if c.Expiry < time.Minute || c.Expiry > maxExpiry || c.Expiry%time.Minute != 0 {
		return fmt.Errorf("protect config: expiry %s: must be whole minutes from 1m to 48h (ECS's range)", c.Expiry)
	}
	return nil
}
