package enginetest_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dynamodb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/enginetest"
)

// program is a small stack whose shape follows its config: a queue (FIFO
// or not, with a visibility timeout) and a table, with deletion protection
// from config.
func program(ctx *pulumi.Context) error {
	get := func(key string) string { v, _ := ctx.GetConfig("linecook:" + key); return v }
	region, err := aws.GetRegion(ctx, &aws.GetRegionArgs{})
	if err != nil {
		return err
	}
	fifo := get("fifo") == "true"
	name := "orders"
	if fifo {
		name += ".fifo"
	}
	q, err := sqs.NewQueue(ctx, "orders", &sqs.QueueArgs{
		Name:                     pulumi.String(name),
		FifoQueue:                pulumi.Bool(fifo),
		VisibilityTimeoutSeconds: pulumi.Int(atoi(get("visibility"))),
		Tags:                     pulumi.StringMap{"region": pulumi.String(region.Name)},
	})
	if err != nil {
		return err
	}
	t, err := dynamodb.NewTable(ctx, "orders", &dynamodb.TableArgs{
		HashKey:                   pulumi.String("id"),
		Attributes:                dynamodb.TableAttributeArray{&dynamodb.TableAttributeArgs{Name: pulumi.String("id"), Type: pulumi.String("S")}},
		BillingMode:               pulumi.String("PAY_PER_REQUEST"),
		DeletionProtectionEnabled: pulumi.Bool(get("protect") == "true"),
		Tags:                      pulumi.StringMap{"queue": q.Url},
	})
	if err != nil {
		return err
	}
	ctx.Export("queueUrl", q.Url)
	ctx.Export("tableArn", t.Arn)
	return nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func cfg(visibility int, fifo, protect bool) map[string]string {
	return map[string]string{
		"aws:region":          awstest.Region,
		"linecook:visibility": strconv.Itoa(visibility),
		"linecook:fifo":       strconv.FormatBool(fifo),
		"linecook:protect":    strconv.FormatBool(protect),
	}
}

func TestLifecycle(t *testing.T) {
	h := enginetest.New(t, program)

	up := h.Up(cfg(30, false, false))
	if got, want := up.Counts(), (enginetest.Counts{Create: 3}); got != want {
		t.Fatalf("first up: %v, want %v\n%s", got, want, up.Summary())
	}
	queue := enginetest.Find(up.Snapshot, awstest.SQSQueue, "orders")
	if len(queue) != 1 || !strings.HasPrefix(string(queue[0].ID), "https://sqs.us-east-1.amazonaws.com/") {
		t.Fatalf("queue: %+v", queue)
	}
	table := enginetest.Find(up.Snapshot, awstest.DynamoDBTable, "orders")
	if len(table) != 1 || !enginetest.DependsOn(up.Snapshot, table[0].URN, queue[0].URN) || enginetest.DependsOn(up.Snapshot, queue[0].URN, table[0].URN) {
		t.Fatalf("the table (tagged with the queue URL) should depend on the queue, not the other way round")
	}
	qURN, tURN := queue[0].URN, table[0].URN

	same := h.Up(cfg(30, false, false))
	if got, want := same.Counts(), (enginetest.Counts{Same: 3}); got != want {
		t.Errorf("no-op up: %v, want %v\n%s", got, want, same.Summary())
	}

	update := h.Up(cfg(60, false, false))
	if op := update.Ops()[qURN]; op != enginetest.OpUpdate {
		t.Errorf("visibility change: queue %s, want update\n%s", op, update.Summary())
	}
	if op := update.Ops()[tURN]; op != enginetest.OpSame {
		t.Errorf("visibility change: table %s, want same", op)
	}

	// name and fifoQueue cannot change in place: the queue is replaced,
	// its URL changes and the table's tag with it.
	replace := h.Up(cfg(60, true, false))
	s, ok := replace.Step(qURN, enginetest.OpReplace)
	if !ok || !strings.Contains(strings.Join(s.Keys, ","), "fifoQueue") {
		t.Errorf("fifo change: want the queue replaced for fifoQueue, got %+v\n%s", s, replace.Summary())
	}
	if op := replace.Ops()[tURN]; op != enginetest.OpUpdate {
		t.Errorf("fifo change: table %s, want update (its tag holds the queue URL)", op)
	}
	created, _ := replace.Step(qURN, enginetest.OpCreateReplacement)
	deleted, _ := replace.Step(qURN, enginetest.OpDeleteReplaced)
	tableUpdate, _ := replace.Step(tURN, enginetest.OpUpdate)
	if !(created.End < tableUpdate.Begin && tableUpdate.End < deleted.Begin) {
		t.Errorf("create-before-delete: replacement %d-%d, table update %d-%d, old queue delete %d-%d",
			created.Begin, created.End, tableUpdate.Begin, tableUpdate.End, deleted.Begin, deleted.End)
	}

	// Deletion protection on: AWS refuses the delete and the table stays.
	h.Up(cfg(60, true, true))
	refused := h.TryDestroy()
	if refused.Err == nil {
		t.Fatalf("destroy with deletion protection on succeeded")
	}
	if len(enginetest.Find(refused.Snapshot, awstest.DynamoDBTable)) != 1 {
		t.Errorf("the protected table should still be in the stack")
	}
	h.Up(cfg(60, true, false))
	down := h.Destroy()
	if n := len(enginetest.Resources(down.Snapshot)); n != 0 {
		t.Errorf("after destroy: %d resources left", n)
	}

	var ops []string
	for _, c := range h.StandIn().Calls() {
		ops = append(ops, c.Op+" "+c.Type)
	}
	t.Logf("provider calls:\n%s", strings.Join(ops, "\n"))
}
