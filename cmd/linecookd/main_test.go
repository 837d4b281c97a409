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

	cmd := exec.Command(bin, pipeline.APICommand()...)
	cmd.Env = os.Environ()
	for k, v := range (pipeline.API{Port: port}).APIEnv(queueURL, store.Table()) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		_, _ = io.Copy(&logs, stdout)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("linecookd api not answering after a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

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

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("linecookd api after SIGTERM: %v, want exit status 0", err)
	}
	<-logDone
	var sawRequest, sawShutdown bool
	sc := bufio.NewScanner(&logs)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		sawRequest = sawRequest || (line["msg"] == "request" && line["order_id"] == body.ID && line["trace_id"] != nil)
		sawShutdown = sawShutdown || line["msg"] == "shut down"
	}
	if !sawRequest || !sawShutdown {
		t.Errorf("logs lack the order's access log line with its trace (%v) or the shutdown (%v):\n%s", sawRequest, sawShutdown, logs.String())
	}
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
