package clitest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/clitest"
)

// TestQueueLifecycle takes testdata/queue, a YAML program with a queue and
// its dead-letter queue, through a stack's life under the real CLI: up,
// an up that changes nothing, a config change the queue takes in place, a
// rename that replaces both queues, and destroy.
func TestQueueLifecycle(t *testing.T) {
	s := clitest.New(t, "testdata/queue", clitest.Config("aws:region", awstest.Region))

	up := s.Up()
	if want := (clitest.Counts{Create: 3}); up.Changes != want { // the stack and two queues
		t.Fatalf("first up: got %v, want %v\n%s", up.Changes, want, up.Stdout)
	}
	queue, dlq := only(t, s, "orders"), only(t, s, "orders-dlq")
	if got := queue.Inputs["visibilityTimeoutSeconds"]; got != 30.0 {
		t.Errorf("visibilityTimeoutSeconds = %v, want the config default 30", got)
	}
	var redrive struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(queue.Outputs["redrivePolicy"].(string)), &redrive); err != nil {
		t.Fatalf("redrivePolicy: %v", err)
	}
	if redrive.DeadLetterTargetArn != dlq.Outputs["arn"] || redrive.MaxReceiveCount != 5 {
		t.Errorf("redrivePolicy = %+v, want the DLQ's ARN %v and 5 receives", redrive, dlq.Outputs["arn"])
	}
	if !slices.Contains(queue.Dependencies, dlq.URN) {
		t.Errorf("the queue's dependencies %v lack the DLQ", queue.Dependencies)
	}
	if !strings.HasSuffix(queue.Parent, "::clitest-queue-test") {
		t.Errorf("the queue's parent = %q, want the stack", queue.Parent)
	}
	if got, want := s.Outputs()["queueUrl"], queue.Outputs["url"]; got != want {
		t.Errorf("output queueUrl = %v, want the queue's URL %v", got, want)
	}
	if n := len(s.CallsOf("create")); n != 2 {
		t.Errorf("the stand-in created %d resources, want 2", n)
	}

	if again := s.Up(); again.Changes != (clitest.Counts{Same: 3}) {
		t.Errorf("up with nothing changed: got %v, want same=3\n%s", again.Changes, again.Summary())
	}

	s.ConfigSet("visibilityTimeout", "60")
	calls := len(s.Calls())
	if pre := s.Preview(); pre.Changes != (clitest.Counts{Update: 1, Same: 2}) {
		t.Errorf("preview of visibilityTimeout 30→60: got %v, want update=1 same=2\n%s", pre.Changes, pre.Summary())
	}
	if n := len(s.Calls()); n != calls {
		t.Errorf("the preview made the stand-in do %d calls, want none", n-calls)
	}
	up = s.Up()
	if want := (clitest.Counts{Update: 1, Same: 2}); up.Changes != want {
		t.Errorf("visibilityTimeout 30→60: got %v, want %v\n%s", up.Changes, want, up.Summary())
	}
	if step, ok := up.Step("queue", clitest.OpUpdate); !ok || !slices.Equal(step.Diffs, []string{"visibilityTimeoutSeconds"}) {
		t.Errorf("visibilityTimeout 30→60: the queue's update step = %+v (found %v), want a diff on visibilityTimeoutSeconds", step, ok)
	}
	if got := only(t, s, "orders").Inputs["visibilityTimeoutSeconds"]; got != 60.0 {
		t.Errorf("after the update, visibilityTimeoutSeconds = %v, want 60", got)
	}

	s.ConfigSet("queueName", "tickets")
	up = s.Up()
	if want := (clitest.Counts{Replace: 2, Same: 1}); up.Changes != want {
		t.Errorf("queueName orders→tickets: got %v, want %v\n%s", up.Changes, want, up.Summary())
	}
	for _, name := range []string{"queue", "dlq"} {
		if step, ok := up.Step(name, clitest.OpReplace); !ok || !slices.Contains(step.Keys, "name") {
			t.Errorf("rename: %s's replace step = %+v (found %v), want it forced by name", name, step, ok)
		}
	}
	if got := s.Find(awstest.SQSQueue, "queue")[0].Outputs["name"]; got != "tickets" {
		t.Errorf("after the rename, the queue's name = %v, want tickets", got)
	}

	down := s.Destroy()
	if want := (clitest.Counts{Delete: 3}); down.Changes != want {
		t.Errorf("destroy: got %v, want %v", down.Changes, want)
	}
	if rs := s.Resources(); len(rs) != 0 {
		t.Errorf("after destroy the stack still holds %d resources: %v", len(rs), rs)
	}
	// Two creates, an update, two replacements (create and delete each)
	// and two deletes, across five CLI commands and their provider
	// processes.
	var ops []string
	for _, c := range s.Calls() {
		ops = append(ops, c.Op)
	}
	slices.Sort(ops)
	if want := []string{"create", "create", "create", "create", "delete", "delete", "delete", "delete", "update"}; !slices.Equal(ops, want) {
		t.Errorf("the stand-in's calls: got %v, want %v", ops, want)
	}
}

// only returns the stack's one queue whose physical name is name.
func only(t *testing.T, s *clitest.Stack, name string) clitest.Resource {
	t.Helper()
	var found []clitest.Resource
	for _, r := range s.Find(awstest.SQSQueue) {
		if r.Outputs["name"] == name {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d queues named %q, want 1", len(found), name)
	}
	return found[0]
}

// TestSchemaChecked shows the YAML host type-checking a program against
// the stand-in's schema, as it would against the real provider's: a
// property the aws SDK does not have fails the update before anything is
// created, and the error carries the CLI's message.
func TestSchemaChecked(t *testing.T) {
	s := clitest.New(t, "testdata/typo", clitest.Config("aws:region", awstest.Region))
	up := s.TryUp()
	if up.Err == nil {
		t.Fatalf("up of a queue with an unknown property succeeded:\n%s", up.Stdout)
	}
	if msg := up.Err.Error(); !strings.Contains(msg, "visibilityTimeout") || !strings.Contains(msg, "does not exist") {
		t.Errorf("the error does not name the unknown property: %v", up.Err)
	}
	if calls := s.Calls(); len(calls) != 0 {
		t.Errorf("the stand-in did %d calls, want none: %v", len(calls), calls)
	}
}

// TestProviders puts a provider binary built by BuildProvider on the
// CLI's PATH, as a test of linecook's own provider will: here the stand-in
// again, under the aws name, which takes the place of the default one.
func TestProviders(t *testing.T) {
	if testing.Short() {
		t.Skip("clitest: builds and runs the real Pulumi CLI; skipped under -short")
	}
	path := clitest.BuildProvider(t, "pulumi-resource-aws", "./components/enginetest/standin")
	s := clitest.New(t, "testdata/queue", clitest.Config("aws:region", awstest.Region), clitest.Providers(path))
	if got, err := os.Readlink(filepath.Join(s.Bin(), "pulumi-resource-aws")); err != nil || got != path {
		t.Fatalf("pulumi-resource-aws on the PATH links to %q (%v), want %q", got, err, path)
	}
	if up := s.Up(); up.Changes != (clitest.Counts{Create: 3}) {
		t.Errorf("up: got %v, want create=3", up.Changes)
	}
	if n := len(s.CallsOf("create")); n != 2 {
		t.Errorf("the provider created %d resources, want 2", n)
	}
}
