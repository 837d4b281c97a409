package api

import (
	"fmt"
	"net"
	"net/url"
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
//	LINECOOK_JWT_ISSUER        unset  with the next two: accept bearer tokens (JWTs) of this OIDC issuer ("iss")
//	LINECOOK_JWT_AUDIENCE      unset  … for this audience ("aud")
//	LINECOOK_JWT_JWKS_URL      unset  … signed by a key published here
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

	// JWTIssuer, JWTAudience and JWTJWKSURL, all set, make the API accept
	// bearer tokens besides the API key (see the package documentation).
	JWTIssuer   string `envconfig:"JWT_ISSUER"`
	JWTAudience string `envconfig:"JWT_AUDIENCE"`
	JWTJWKSURL  string `envconfig:"JWT_JWKS_URL"`
	// JWTMinRefreshInterval is the least time between two fetches of the
	// issuer's keys that tokens with an unknown key id trigger; 0 means
	// oidc.DefaultMinRefreshInterval. Tests shorten it.
	JWTMinRefreshInterval time.Duration `ignored:"true"`

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
	if err := c.validateJWT(); err != nil {
		return err
	}
	return c.Work.Validate()
}

// JWT reports whether bearer tokens are configured.
func (c Config) JWT() bool { return c.JWTIssuer != "" }

func (c Config) validateJWT() error {
	vars := []struct{ name, value string }{
		{"LINECOOK_JWT_ISSUER", c.JWTIssuer}, {"LINECOOK_JWT_AUDIENCE", c.JWTAudience}, {"LINECOOK_JWT_JWKS_URL", c.JWTJWKSURL},
	}
	set := 0
	for _, v := range vars {
		if v.value != "" {
			set++
		}
	}
	if set == 0 {
		return nil
	}
	for _, v := range vars {
		if v.value == "" {
			return fmt.Errorf("%s is empty: LINECOOK_JWT_ISSUER, LINECOOK_JWT_AUDIENCE and LINECOOK_JWT_JWKS_URL are set together or not at all", v.name)
		}
	}
	for _, v := range []struct{ name, value string }{vars[0], vars[2]} {
		if reason := urlReason(v.value); reason != "" {
			return fmt.Errorf("%s=%q: %s", v.name, v.value, reason)
		}
	}
	return nil
}

// urlReason says why u cannot be an issuer or a JWKS URL: it must be
// https (what OIDC requires; the keys must not be tampered with on the
// way), or http to this machine, for tests and local development.
func urlReason(u string) string {
	p, err := url.Parse(u)
	switch {
	case err != nil || p.Host == "" || p.User != nil:
		return "not an absolute URL like https://issuer.example.com/"
	case p.Scheme == "https":
		return ""
	case p.Scheme == "http" && loopback(p.Hostname()):
		return ""
	}
	return "must be https (http only to localhost, for development)"
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
