package api

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/linecook/linecook/burger/handlers"
)

// Config is the order API's configuration. LoadConfig reads it from the
// environment (names in pipeline/env.go where the stack sets them):
//
//	LINECOOK_PORT              8080   port to listen on
//	LINECOOK_NEXT_QUEUE_URL    —      the first stage's queue (required)
//	LINECOOK_ORDER_TABLE       —      the order table (required)
//	LINECOOK_API_KEY           unset  when set, every order request needs it in X-Api-Key
//	LINECOOK_AWS_TIMEOUT       3s     bound on each SQS and DynamoDB call, retries included
//	LINECOOK_SHUTDOWN_TIMEOUT  20s    time in-flight requests get after SIGTERM (below ECS's 30 s stopTimeout)
//	LINECOOK_PAYMENT_DELAY     3s     the synchronous path's inline payment (see handlers.Config)
//	LINECOOK_WORK_SCALE        1      scales it, as for the workers
//	LINECOOK_WORK_JITTER       0.1    varies it, as for the workers
type Config struct {
	Port            int           `envconfig:"PORT" default:"8080"`
	NextQueueURL    string        `envconfig:"NEXT_QUEUE_URL" required:"true"`
	OrderTable      string        `envconfig:"ORDER_TABLE" required:"true"`
	APIKey          string        `envconfig:"API_KEY"`
	AWSTimeout      time.Duration `envconfig:"AWS_TIMEOUT" default:"3s"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"20s"`
	// Work times POST /orders/sync's inline payment, with the same
	// variables and defaults as the payment worker's.
	handlers.Work

	// IdempotencyWindow is how long a request that claimed an
	// Idempotency-Key may take to finish before a retry with the key
	// takes over its work. It must exceed the longest a request can
	// take; 0 means 10 × AWSTimeout (a request makes at most four calls
	// after its claim).
	IdempotencyWindow time.Duration `ignored:"true"`
}

// LoadConfig reads the configuration from LINECOOK_* variables and
// validates it.
func LoadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process("linecook", &c); err != nil {
		return Config{}, fmt.Errorf("api config: %w", err)
	}
	return c, c.Validate()
}

// Validate checks the configuration, naming the variable of the first bad
// value.
func (c Config) Validate() error {
	switch {
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("LINECOOK_PORT=%d: must be a port number, 1 to 65535", c.Port)
	case c.NextQueueURL == "":
		return fmt.Errorf("LINECOOK_NEXT_QUEUE_URL is empty: set it to the first stage's queue URL")
	case c.OrderTable == "":
		return fmt.Errorf("LINECOOK_ORDER_TABLE is empty: set it to the order table's name")
	case c.AWSTimeout <= 0:
		return fmt.Errorf("LINECOOK_AWS_TIMEOUT=%s: must be positive (default 3s)", c.AWSTimeout)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("LINECOOK_SHUTDOWN_TIMEOUT=%s: must be positive (default 20s)", c.ShutdownTimeout)
	}
	return c.Work.Validate()
}
