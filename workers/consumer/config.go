package consumer

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/linecook/linecook/workers"
)

// EnvPrefix is the prefix of every variable LoadConfig reads: the names
// are those of pipeline/env.go (LINECOOK_QUEUE_URL, ...).
const EnvPrefix = "linecook"

// Config is one stage's runtime settings. LoadConfig reads it from the
// environment the stack (or `linecook local`) gives the task; the package
// documentation lists every variable with its default.
type Config struct {
	Stage        string `envconfig:"STAGE" required:"true" desc:"name of the stage: logs, metrics dimension, DLQ attribute"`
	QueueURL     string `envconfig:"QUEUE_URL" required:"true" desc:"the stage's queue, consumed"`
	NextQueueURL string `envconfig:"NEXT_QUEUE_URL" desc:"the next stage's queue, where outputs go; empty for the last stage"`
	DLQURL       string `envconfig:"DLQ_URL" desc:"the stage's dead-letter queue, for permanent failures; empty retries them like any failure"`

	Concurrency       int           `envconfig:"CONCURRENCY" default:"10" desc:"messages handled at once by this process"`
	VisibilityTimeout time.Duration `envconfig:"VISIBILITY_TIMEOUT" default:"30s" desc:"visibility timeout asked for on receive; the heartbeat extends it for slow messages"`
	DrainTimeout      time.Duration `envconfig:"DRAIN_TIMEOUT" default:"25s" desc:"on shutdown, how long in-flight handlers get before their ctx is cancelled"`
	MaxReceiveCount   int           `envconfig:"MAX_RECEIVE_COUNT" default:"3" desc:"the queue's redrive maxReceiveCount (logs say when a failure is the last)"`

	HandlerTimeout time.Duration `envconfig:"HANDLER_TIMEOUT" default:"0s" desc:"deadline of one message's handler ctx; 0 means none"`
	Pollers        int           `envconfig:"POLLERS" default:"0" desc:"concurrent ReceiveMessage loops; 0 picks ceil(concurrency/10) within 2..16"`
	RetryBaseDelay time.Duration `envconfig:"RETRY_BASE_DELAY" default:"1s" desc:"delay before the first retry of a failed message; doubles per receive"`
	RetryMaxDelay  time.Duration `envconfig:"RETRY_MAX_DELAY" default:"5m" desc:"cap of the retry delay"`
	LogLevel       slog.Level    `envconfig:"LOG_LEVEL" default:"INFO" desc:"DEBUG logs every message; INFO, WARN, ERROR"`
}

// LoadConfig reads the Config from the environment and validates it.
func LoadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process(EnvPrefix, &c); err != nil {
		return Config{}, fmt.Errorf("consumer config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Limits of the settings.
const (
	maxPollers = 64
	// SQS's own limits on a visibility timeout.
	maxVisibilityTimeout = 12 * time.Hour
)

// Validate reports every invalid setting, each naming its variable, the
// value and what is accepted.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, value, accepted string) {
		errs = append(errs, fmt.Errorf("%s_%s=%s: %s", strings.ToUpper(EnvPrefix), name, value, accepted))
	}
	if c.Stage == "" {
		bad("STAGE", `""`, "required: the stage's name")
	}
	if c.QueueURL == "" {
		bad("QUEUE_URL", `""`, "required: the URL of the queue to consume")
	}
	if c.NextQueueURL != "" && c.NextQueueURL == c.QueueURL {
		bad("NEXT_QUEUE_URL", c.NextQueueURL, "must differ from LINECOOK_QUEUE_URL (a stage forwarding to itself loops forever)")
	}
	if c.DLQURL != "" && c.DLQURL == c.QueueURL {
		bad("DLQ_URL", c.DLQURL, "must differ from LINECOOK_QUEUE_URL")
	}
	if c.Concurrency < 1 || c.Concurrency > workers.MaxConcurrency {
		bad("CONCURRENCY", fmt.Sprint(c.Concurrency), fmt.Sprintf("must be 1 to %d", workers.MaxConcurrency))
	}
	if c.VisibilityTimeout < time.Second || c.VisibilityTimeout > maxVisibilityTimeout || c.VisibilityTimeout%time.Second != 0 {
		bad("VISIBILITY_TIMEOUT", c.VisibilityTimeout.String(), "must be whole seconds from 1s to 12h (SQS's range)")
	}
	if c.DrainTimeout < 0 {
		bad("DRAIN_TIMEOUT", c.DrainTimeout.String(), "must be 0 or more")
	}
	if c.MaxReceiveCount < 1 || c.MaxReceiveCount > 1000 {
		bad("MAX_RECEIVE_COUNT", fmt.Sprint(c.MaxReceiveCount), "must be 1 to 1000 (SQS's range)")
	}
	if c.HandlerTimeout < 0 {
		bad("HANDLER_TIMEOUT", c.HandlerTimeout.String(), "must be 0 (none) or more")
	}
	if c.Pollers < 0 || c.Pollers > maxPollers {
		bad("POLLERS", fmt.Sprint(c.Pollers), fmt.Sprintf("must be 0 (automatic) to %d", maxPollers))
	}
	if c.RetryBaseDelay < time.Second || c.RetryBaseDelay > maxVisibilityTimeout {
		bad("RETRY_BASE_DELAY", c.RetryBaseDelay.String(), "must be 1s to 12h (a retry is a visibility timeout: whole seconds, never 0, which would hot-loop)")
	}
	if c.RetryMaxDelay < c.RetryBaseDelay || c.RetryMaxDelay > maxVisibilityTimeout {
		bad("RETRY_MAX_DELAY", c.RetryMaxDelay.String(), "must be from LINECOOK_RETRY_BASE_DELAY to 12h")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("consumer config: %w", err)
	}
	return nil
}

// maxReceiveWait is SQS's longest long poll.
const maxReceiveWait = 20 * time.Second

// receiveWait is how long a receive long-polls: SQS's 20 s, or less when
// the drain is shorter, so that a receive in flight at shutdown ends
// within the drain (Run lets it finish rather than abandon it), and at
// least a second.
func (c Config) receiveWait() time.Duration {
	return min(maxReceiveWait, max(time.Second, (c.DrainTimeout-time.Second).Truncate(time.Second)))
}

// pollers is the number of receive loops: enough concurrent receives that
// the concurrency limit is reached when handlers are quick, at least two so
// one receives while the other waits for free slots.
func (c Config) pollers() int {
	if c.Pollers > 0 {
		return c.Pollers
	}
	return min(16, max(2, (c.Concurrency+9)/10))
}
