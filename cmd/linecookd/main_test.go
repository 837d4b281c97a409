package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/oidc/oidctest"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/emulators/emutest"
)

// binDir holds the linecookd binary the tests build once.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "linecookd-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := emutest.Run(m)
	os.RemoveAll(binDir)
	os.Exit(code)
}

// TestImportsNoPulumi guards the rule that keeps the image small and its
// build fast: nothing linecookd links may import Pulumi, nor
// go-containerregistry, which builds and pushes the image (tools/image).
func TestImportsNoPulumi(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "pulumi") || strings.Contains(pkg, "go-containerregistry") {
			t.Errorf("linecookd imports %s", pkg)
		}
	}
}

// build builds linecookd once, as the Dockerfile does (static, no cgo).
var build = func() func(t *testing.T) string {
	var once sync.Once
	var out []byte
	var err error
	return func(t *testing.T) string {
		t.Helper()
		bin := filepath.Join(binDir, "linecookd")
		once.Do(func() {
			cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			out, err = cmd.CombinedOutput()
		})
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		return bin
	}
}()

func TestUnknownCommandListsTheCommands(t *testing.T) {
	var stderr bytes.Buffer
	cmd := exec.Command(build(t), "wroker", "grill")
	cmd.Stderr = &stderr
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 {
		t.Errorf("linecookd wroker = %v, want exit status 2", err)
	}
	if !strings.Contains(stderr.String(), `unknown command "wroker" (commands: api`) {
		t.Errorf("stderr = %q, want it to name the command and list the valid ones", stderr.String())
	}
}

// TestAPIServesAndShutsDownOnSIGTERM runs the binary as ECS would, with
// the environment the stack gives the API task (pipeline.API.APIEnv),
// accepts an order through it, then stops it with SIGTERM.
func TestAPIServesAndShutsDownOnSIGTERM(t *testing.T) {
	bin := build(t)
	store := emutest.Table(t)
	q := sqs.NewFromConfig(emutest.Config(t))
	queueURL := emutest.Queue(t, q)
	port := freePort(t)

	p := startAPI(t, bin, (pipeline.API{Port: port}).APIEnv(queueURL, store.Table()))
	url := p.url

	resp, err := http.Post(url+"/orders", "application/json", strings.NewReader(`{"items":[{"item":"burger"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || body.ID == "" {
		t.Fatalf("POST /orders = %d %+v, want 202 with an id", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, WaitTimeSeconds: 1})
	if err != nil || len(got.Messages) != 1 || !strings.Contains(aws.ToString(got.Messages[0].Body), body.ID) {
		t.Errorf("queue = %+v, %v; want the order %s", got, err, body.ID)
	}

	var sawRequest, sawShutdown bool
	for _, line := range p.stop(t) {
		sawRequest = sawRequest || (line["msg"] == "request" && line["order_id"] == body.ID && line["trace_id"] != nil)
		sawShutdown = sawShutdown || line["msg"] == "shut down"
	}
	if !sawRequest || !sawShutdown {
		t.Errorf("logs lack the order's access log line with its trace (%v) or the shutdown (%v):\n%s", sawRequest, sawShutdown, p.logs.String())
	}
}

// TestAPIWithATokenIssuer runs the binary with the environment the stack
// gives an API task whose stack names a token issuer: it fetches the
// issuer's keys when it starts (so /readyz turns 200 before any token),
// takes an order with a token and refuses one without, and still stops
// cleanly on SIGTERM with its key refresher running.
func TestAPIWithATokenIssuer(t *testing.T) {
	bin := build(t)
	store := emutest.Table(t)
	q := sqs.NewFromConfig(emutest.Config(t))
	queueURL := emutest.Queue(t, q)
	iss := oidctest.New(t)
	c := iss.Config()
	a := pipeline.API{Port: freePort(t), JWT: pipeline.JWT{Issuer: c.Issuer, Audience: c.Audience, JWKSURL: c.JWKSURL}}
	p := startAPI(t, bin, a.APIEnv(queueURL, store.Table()))

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("linecookd api not ready after 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := iss.Fetches(); n != 1 {
		t.Errorf("the JWKS was fetched %d times before any token, want once, at start", n)
	}
	post := func(token string) int {
		req, err := http.NewRequest("POST", p.url+"/orders", strings.NewReader(`{"items":[{"item":"burger"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(iss.Token(t, "user-42")); got != http.StatusAccepted {
		t.Errorf("POST with a token = %d, want 202", got)
	}
	if got := post(""); got != http.StatusUnauthorized {
		t.Errorf("POST without a token = %d, want 401", got)
	}
	if n := iss.Fetches(); n != 1 {
		t.Errorf("the JWKS was fetched %d times, want once: the token's key was cached", n)
	}
	var sawIssuer, sawPrincipal bool
	for _, line := range p.stop(t) {
		sawIssuer = sawIssuer || (line["msg"] == "order API listening" && line["jwt_issuer"] == c.Issuer)
		sawPrincipal = sawPrincipal || (line["msg"] == "request" && line["principal"] == "user-42")
	}
	if !sawIssuer || !sawPrincipal {
		t.Errorf("logs lack the issuer at start (%v) or the order's principal (%v):\n%s", sawIssuer, sawPrincipal, p.logs.String())
	}
}

// apiProcess is `linecookd api` running for a test.
type apiProcess struct {
	cmd     *exec.Cmd
	url     string
	logs    bytes.Buffer
	logDone chan struct{}
}

// startAPI runs `linecookd api` with env added to this environment and
// waits for it to answer /healthz; the test's end kills it.
func startAPI(t *testing.T, bin string, env map[string]string) *apiProcess {
	t.Helper()
	p := &apiProcess{cmd: exec.Command(bin, pipeline.APICommand()...), logDone: make(chan struct{})}
	p.cmd.Env = os.Environ()
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.logDone)
		_, _ = io.Copy(&p.logs, stdout)
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })

	p.url = "http://127.0.0.1:" + env[pipeline.EnvPort]
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("linecookd api not answering after a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM, expects a clean exit, and returns the log lines.
func (p *apiProcess) stop(t *testing.T) []map[string]any {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("linecookd api after SIGTERM: %v, want exit status 0", err)
	}
	<-p.logDone
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(p.logs.Bytes()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		lines = append(lines, line)
	}
	return lines
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
