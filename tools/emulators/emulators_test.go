package emulators_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/emulators"
)

// TestStartServesSQSAndDynamoDB starts the emulators, talks to both through
// the AWS SDK's ordinary endpoint variables, and checks that Stop leaves
// no process behind.
func TestStartServesSQSAndDynamoDB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	emu, err := emulators.Start(ctx, emulators.Options{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	setenv(t, emu)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(cfg)
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("probe")})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String("hello")}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, WaitTimeSeconds: 1})
	if err != nil || len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "hello" {
		t.Fatalf("ReceiveMessage = %v, %v; want the message sent", got, err)
	}

	d := dynamodb.NewFromConfig(cfg)
	_, err = d.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("probe"),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}

	if err := emu.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-emu.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("emulator process still running after Stop")
	}
}

// TestSQSOutageKeepsDynamoDBAndMessages stops SQS alone, as the
// reliability tests' outage does: DynamoDB keeps serving, and SQS comes
// back on the same endpoint with its messages.
func TestSQSOutageKeepsDynamoDBAndMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	emu, err := emulators.Start(ctx, emulators.Options{Log: testLog(t), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()
	cfg, err := emu.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q, d := emu.SQSClient(cfg), emu.DynamoDBClient(cfg)
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("outage")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}

	emu.StopSQS()
	short, done := context.WithTimeout(ctx, 2*time.Second)
	_, err = q.ListQueues(short, &sqs.ListQueuesInput{})
	done()
	if err == nil {
		t.Fatal("SQS answered while stopped")
	}
	if _, err := d.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("DynamoDB down during an SQS outage: %v", err)
	}

	if err := emu.StartSQS(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, WaitTimeSeconds: 1})
	if err != nil || len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "kept" {
		t.Fatalf("after the outage ReceiveMessage = %v, %v; want the message sent before it", got, err)
	}
}

// setenv points this test's AWS SDK default configuration at emu.
func setenv(t *testing.T, emu *emulators.Emulators) {
	for _, kv := range emu.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func testLog(t *testing.T) io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return io.Discard
}

// TestPersistentSQSKeepsAMessageMadeVisibleAgain guards start.mjs's patch
// of fauxqs 2.4.1, whose persistence lost a message on
// ChangeMessageVisibility 0 (the runtime's way of giving a message back).
func TestPersistentSQSKeepsAMessageMadeVisibleAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	emu, err := emulators.Start(ctx, emulators.Options{Log: testLog(t), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()
	setenv(t, emu)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(cfg)
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("returned")})
	if err != nil {
		t.Fatal(err)
	}
	url := created.QueueUrl
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("again")}); err != nil {
		t.Fatal(err)
	}
	receive := func() []types.Message {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: url, WaitTimeSeconds: 1, VisibilityTimeout: 30,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	first := receive()
	if len(first) != 1 {
		t.Fatalf("first receive got %d messages, want 1", len(first))
	}
	if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatalf("ChangeMessageVisibility 0: %v", err)
	}
	again := receive()
	if len(again) != 1 || again[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after ChangeMessageVisibility 0 got %v, want the message back with receive count 2", again)
	}
}

// TestDynamoDBSurvivesAClientThatHangsUp: a client that gives up on a
// request before sending all of its body (an SDK call hitting its
// deadline under load) must not take dynalite down. Its request handler
// rethrows the socket's "aborted" error, which used to kill the process:
// every later call was refused.
func TestDynamoDBSurvivesAClientThatHangsUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	emu, err := emulators.Start(ctx, emulators.Options{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()

	for range 3 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(emu.DynamoDB, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.0\r\n"+
			"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 100\r\n\r\n{\"Lim", strings.TrimPrefix(emu.DynamoDB, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // let the server start reading the body
		conn.Close()
	}

	cfg, err := emu.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := emu.DynamoDBClient(cfg)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := d.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("ListTables after clients hung up: %v (dynalite died)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCreateQueuesSetsWhatTheCloudSets reads back what CreateQueues set on
// the emulator, and sees the redrive policy move a message: the settings
// must take effect there, not only be asked for.
func TestCreateQueuesSetsWhatTheCloudSets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	emu, err := emulators.Start(ctx, emulators.Options{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()
	cfg, err := emu.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := emu.SQSClient(cfg)
	attributes := func(url string) map[string]string {
		t.Helper()
		out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	decode := func(what, s string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("%s %q: %v", what, s, err)
		}
		return m
	}

	got, err := emulators.CreateQueues(ctx, q, "grill", emulators.QueueSettings{VisibilityTimeout: 45 * time.Second, MaxReceiveCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "grill" || got.DLQName != "grill-dlq" || !strings.HasSuffix(got.URL, "/grill") || !strings.HasSuffix(got.DLQURL, "/grill-dlq") {
		t.Errorf("CreateQueues = %+v, want grill and grill-dlq", got)
	}
	main, dlq := attributes(got.URL), attributes(got.DLQURL)
	size := strconv.Itoa(pipeline.MaxMessageSize)
	for _, c := range []struct{ what, got, want string }{
		{"main visibility timeout", main["VisibilityTimeout"], "45"},
		{"main max message size", main["MaximumMessageSize"], size},
		{"DLQ retention", dlq["MessageRetentionPeriod"], strconv.Itoa(int(pipeline.MaxRetention / time.Second))},
		{"DLQ max message size", dlq["MaximumMessageSize"], size},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	redrive := decode("redrive policy", main["RedrivePolicy"])
	if redrive["deadLetterTargetArn"] != dlq["QueueArn"] || fmt.Sprint(redrive["maxReceiveCount"]) != "2" {
		t.Errorf("redrive policy %v, want the DLQ (%s) after 2 receives", redrive, dlq["QueueArn"])
	}
	allow := decode("redrive-allow policy", dlq["RedriveAllowPolicy"])
	if allow["redrivePermission"] != "byQueue" || fmt.Sprint(allow["sourceQueueArns"]) != fmt.Sprint([]any{main["QueueArn"]}) {
		t.Errorf("DLQ's redrive-allow policy %v, want only %s", allow, main["QueueArn"])
	}

	// Received twice and given back each time, the message goes to the DLQ
	// on the third receive.
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &got.URL, MessageBody: aws.String("burnt")}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &got.URL, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if len(out.Messages) != 0 {
				t.Fatalf("receive %d got %d messages, want none: the message should be in the DLQ", i+1, len(out.Messages))
			}
			break
		}
		if len(out.Messages) != 1 {
			t.Fatalf("receive %d got %d messages, want 1", i+1, len(out.Messages))
		}
		if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &got.URL, ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &got.DLQURL, WaitTimeSeconds: 1})
	if err != nil || len(dead.Messages) != 1 || aws.ToString(dead.Messages[0].Body) != "burnt" {
		t.Errorf("DLQ receive = %v, %v; want the message redriven", dead, err)
	}

	// Zero settings: SQS's default visibility timeout and no redrive.
	plain, err := emulators.CreateQueues(ctx, q, "plain", emulators.QueueSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if a := attributes(plain.URL); a["VisibilityTimeout"] != "30" || a["RedrivePolicy"] != "" {
		t.Errorf("zero settings: visibility %q, redrive policy %q; want 30 and none", a["VisibilityTimeout"], a["RedrivePolicy"])
	}

	url, err := emulators.CreateQueue(ctx, q, "scratch")
	if err != nil {
		t.Fatal(err)
	}
	if a := attributes(url); a["RedrivePolicy"] != "" || a["VisibilityTimeout"] != "30" {
		t.Errorf("CreateQueue's queue has %v, want SQS's defaults", a)
	}
}
