package handlers

import (
	"fmt"
	"math"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Config configures the handlers: how long the simulated work takes
// (Work) and how long an order-table call may take. Every field has a
// default and an environment variable (prefix LINECOOK_):
//
//	LINECOOK_PAYMENT_DELAY  3s    the payment provider's answer time, per order
//	LINECOOK_WORK_SCALE     1     multiplies all simulated work (payment
//	                              included): 0.01 runs a demo 100× faster, 0
//	                              skips the waiting altogether
//	LINECOOK_WORK_JITTER    0.1   each piece of work varies uniformly by ±10%
//	LINECOOK_TABLE_TIMEOUT  15s   bounds one order-table call, SDK retries
//	                              included
//
// The kitchen stations' base times come from the menu (orders.Work).
type Config struct {
	Work
	// TableTimeout bounds each order-table call. Nobody waits on a worker
	// as a client waits on the API (3 s there), and a call that gives up
	// too soon costs the message a receive: under a table brownout a
	// short bound sends orders to the DLQ in seconds, a long one only
	// delays them while the runtime's heartbeat keeps them invisible.
	TableTimeout time.Duration `envconfig:"TABLE_TIMEOUT" default:"15s"`
}

// Work is how long the simulated work takes: the part of Config the order
// API shares for its synchronous path's inline payment.
type Work struct {
	PaymentDelay time.Duration `envconfig:"PAYMENT_DELAY" default:"3s"`
	WorkScale    float64       `envconfig:"WORK_SCALE" default:"1"`
	Jitter       float64       `envconfig:"WORK_JITTER" default:"0.1"`
}

// Defaults, as LoadConfig applies them.
const (
	DefaultPaymentDelay = 3 * time.Second
	DefaultWorkScale    = 1.0
	DefaultJitter       = 0.1
	DefaultTableTimeout = 15 * time.Second
)

// DefaultConfig is the configuration with no variable set: the reference
// system's 3 s payment and the menu's times, ±10%.
func DefaultConfig() Config {
	return Config{Work: DefaultWork(), TableTimeout: DefaultTableTimeout}
}

// DefaultWork is the simulated work with no variable set.
func DefaultWork() Work {
	return Work{PaymentDelay: DefaultPaymentDelay, WorkScale: DefaultWorkScale, Jitter: DefaultJitter}
}

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process("linecook", &c); err != nil {
		return Config{}, fmt.Errorf("burger config: %w", err)
	}
	return c, c.Validate()
}

// Validate checks that every value makes sense, naming the variable of the
// first one that does not.
func (c Config) Validate() error {
	if err := c.Work.Validate(); err != nil {
		return err
	}
	if c.TableTimeout < 0 || c.TableTimeout > 15*time.Minute {
		return fmt.Errorf("LINECOOK_TABLE_TIMEOUT=%s: must be from 0s (the order store's own 3s) to 15m (default %s)", c.TableTimeout, DefaultTableTimeout)
	}
	return nil
}

// Validate checks the simulated work's settings, naming the variable of
// the first bad one.
func (c Work) Validate() error {
	switch {
	case c.PaymentDelay < 0 || c.PaymentDelay > 15*time.Minute:
		return fmt.Errorf("LINECOOK_PAYMENT_DELAY=%s: must be from 0s to 15m (default %s)", c.PaymentDelay, DefaultPaymentDelay)
	case math.IsNaN(c.WorkScale) || c.WorkScale < 0 || c.WorkScale > 1000:
		return fmt.Errorf("LINECOOK_WORK_SCALE=%g: must be from 0 to 1000 (1 is real time, 0.01 is 100× faster, 0 does no waiting)", c.WorkScale)
	case math.IsNaN(c.Jitter) || c.Jitter < 0 || c.Jitter >= 1:
		return fmt.Errorf("LINECOOK_WORK_JITTER=%g: must be at least 0 and below 1 (0.1 varies work by ±10%%)", c.Jitter)
	}
	return nil
}

// Scale turns a base work time into the time to wait: base × WorkScale,
// varied by up to ±Jitter. r is a uniform random number in [0, 1).
func (c Work) Scale(base time.Duration, r float64) time.Duration {
	f := c.WorkScale * (1 + c.Jitter*(2*r-1))
	return time.Duration(float64(base) * f)
}

// Payment is the time one order's payment takes.
func (c Work) Payment(r float64) time.Duration { return c.Scale(c.PaymentDelay, r) }
