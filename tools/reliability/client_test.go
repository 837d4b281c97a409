package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/tools/loadgen"
	"github.com/linecook/linecook/workers/consumer"
)

// sent is what a well-behaved client saw placing a batch of orders: it
// sends each order with its own Idempotency-Key and, on 503 or 409, waits
// the Retry-After the API gave and sends it again with the same key, until
// the API accepts it or the client gives up.
type sent struct {
	// Orders is how many distinct orders the client placed.
	Orders int
	// IDs are the accepted orders' ids, one per accepted order.
	IDs []string
	// Requests counts every POST, retries included; Statuses counts the
	// answers by HTTP status ("503", "409", …) or transport error.
	Requests int
	Statuses map[string]int
	// Retried counts orders accepted only after at least one retry.
	Retried int
	// GaveUp counts orders the client stopped retrying.
	GaveUp int
	// Malformed lists answers that broke the API's contract: a 503 or
	// 409 without Retry-After, an error that is not a JSON object with an
	// "error", an accepted order with no valid id.
	Malformed []string
}

func (s sent) String() string {
	return fmt.Sprintf("%d orders, %d requests %v, %d accepted (%d after a retry), %d given up",
		s.Orders, s.Requests, s.Statuses, len(s.IDs), s.Retried, s.GaveUp)
}

// retryLimit is how long the client keeps retrying one order: longer than
// the API's idempotency window (10 × its 3 s AWS timeout), after which a
// retry finishes the work of a request that failed half-way.
const retryLimit = 2 * time.Minute

// sendOrders places n random burger orders at rate per second (open loop:
// each leaves on schedule whatever happened to the others) and returns
// once each is accepted or given up. keyPrefix makes the keys unique.
func (p *pipe) sendOrders(ctx context.Context, keyPrefix string, n int, rate float64) sent {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256},
	}
	defer client.CloseIdleConnections()
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	res := sent{Orders: n, Statuses: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		body := loadgen.RandomOrder(i, rng)
		key := fmt.Sprintf("%s-%d", keyPrefix, i)
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		select {
		case <-time.After(time.Until(due)):
		case <-ctx.Done():
			wg.Wait()
			return res
		}
		wg.Go(func() {
			id, retried, log := placeOne(ctx, client, p.APIURL(), key, body)
			mu.Lock()
			defer mu.Unlock()
			for _, a := range log {
				res.Requests++
				res.Statuses[a.status]++
				if a.malformed != "" {
					res.Malformed = append(res.Malformed, a.malformed)
				}
			}
			switch {
			case id == "":
				res.GaveUp++
			default:
				res.IDs = append(res.IDs, id)
				if retried {
					res.Retried++
				}
			}
		})
	}
	wg.Wait()
	return res
}

// answer is one request's outcome.
type answer struct {
	status    string
	malformed string
}

// placeOne sends one order until it is accepted, or fails for a reason a
// retry cannot fix, or retryLimit passes.
func placeOne(ctx context.Context, c *http.Client, base, key string, body []byte) (id string, retried bool, log []answer) {
	deadline := time.Now().Add(retryLimit)
	for attempt := 0; ; attempt++ {
		a, id, wait := post(ctx, c, base, key, body)
		log = append(log, a)
		if id != "" {
			return id, attempt > 0, log
		}
		if wait < 0 || time.Now().Add(wait).After(deadline) {
			return "", attempt > 0, log
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return "", attempt > 0, log
		}
	}
}

// post sends one request. It returns the order id when accepted, or how
// long to wait before retrying (negative: do not retry).
func post(ctx context.Context, c *http.Client, base, key string, body []byte) (answer, string, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/orders", bytes.NewReader(body))
	if err != nil {
		return answer{status: "request: " + err.Error()}, "", -1
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		// The API is unreachable or slow: a client retries that too.
		cause := "transport error"
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout") {
			cause = "timeout"
		}
		return answer{status: cause}, "", time.Second
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a := answer{status: strconv.Itoa(resp.StatusCode)}
	var reply struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		a.malformed = fmt.Sprintf("%d answer is not a JSON object: %q", resp.StatusCode, raw)
	}
	switch resp.StatusCode {
	case http.StatusAccepted:
		if !orders.ValidID(reply.ID) {
			a.malformed = fmt.Sprintf("202 without an order id: %q", raw)
			return a, "", -1
		}
		return a, reply.ID, 0
	case http.StatusServiceUnavailable, http.StatusConflict:
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs < 1 {
			a.malformed = fmt.Sprintf("%d with Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			secs = 1
		}
		if reply.Error == "" && a.malformed == "" {
			a.malformed = fmt.Sprintf("%d without an error message: %q", resp.StatusCode, raw)
		}
		return a, "", time.Duration(secs) * time.Second
	}
	return a, "", -1
}

// waitCompleted waits until every order of ids is completed in the table,
// or no DLQ message is left unaccounted, or limit passes; it returns the
// ids not completed.
func (p *pipe) waitCompleted(t *testing.T, ctx context.Context, ids []string, limit time.Duration) []string {
	t.Helper()
	pending := append([]string(nil), ids...)
	deadline := time.Now().Add(limit)
	for len(pending) > 0 && time.Now().Before(deadline) {
		got, err := p.store.GetMany(ctx, pending)
		if err != nil {
			t.Logf("reading the table: %v", err)
		}
		var still []string
		for _, id := range pending {
			if o, ok := got[id]; !ok || o.Status != orders.Completed {
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d orders to complete: %v", len(pending), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	return pending
}

// deadLetter is one message in a stage's DLQ.
type deadLetter struct {
	dlq, orderID, err string
	// attrs are its message attributes.
	attrs map[string]string
}

// deadLetters reads every DLQ without deleting anything (each message is
// then invisible for a minute: call it once, at the end).
func (p *pipe) deadLetters(t *testing.T, ctx context.Context) []deadLetter {
	t.Helper()
	var out []deadLetter
	for _, q := range p.Queues() {
		for {
			m, err := p.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(q.DLQURL), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
				MessageAttributeNames: []string{"All"},
			})
			if err != nil {
				t.Fatalf("read %s: %v", q.DLQName, err)
			}
			if len(m.Messages) == 0 {
				break
			}
			for _, msg := range m.Messages {
				d := deadLetter{dlq: q.DLQName, attrs: map[string]string{}}
				for k, v := range msg.MessageAttributes {
					d.attrs[k] = aws.ToString(v.StringValue)
				}
				d.err = d.attrs[consumer.ErrorAttribute]
				if om, err := orders.DecodeMessage([]byte(aws.ToString(msg.Body))); err == nil {
					d.orderID = om.OrderID
				}
				out = append(out, d)
			}
		}
	}
	return out
}

// outcome is what became of the orders a client placed.
type outcome struct {
	// Accepted orders; Completed of them; Lost neither completed nor in
	// a DLQ; DeadLettered in a DLQ.
	Accepted, Completed, Lost, DeadLettered int
	// Ghosts are messages of orders the API withdrew after a send it
	// thought had failed but which reached the queue all the same (its
	// answer timed out): the client was told 503 and retried, and the
	// first stage dropped the message.
	Ghosts int
	// Extra orders in the table that no client was told were accepted.
	Extra int
	// Expected are the DLQ messages the test expected (see checkCompleted).
	Expected []deadLetter
}

func (o outcome) String() string {
	return fmt.Sprintf("%d accepted, %d completed, %d lost, %d dead-lettered, %d ghost messages of withdrawn orders dropped, %d unacknowledged orders in the table",
		o.Accepted, o.Completed, o.Lost, o.DeadLettered, o.Ghosts, o.Extra)
}

// checkCompleted waits for the orders sendOrders placed, failing the test
// unless every accepted order completed or is in a DLQ (none lost), the
// API kept its contract on every answer, and the table holds exactly the
// accepted orders: no order answered with an error was left behind, or
// made anyway. A DLQ message of an order never accepted is allowed only
// when expected says the test put it there; nil expects none.
func (p *pipe) checkCompleted(t *testing.T, ctx context.Context, s sent, expected func(deadLetter) bool) outcome {
	t.Helper()
	for i, m := range s.Malformed {
		if i == 10 {
			t.Errorf("... and %d more", len(s.Malformed)-10)
			break
		}
		t.Errorf("the API broke its contract: %s", m)
	}
	if s.GaveUp > 0 {
		t.Errorf("%d orders never accepted after %s of retries (answers: %v)", s.GaveUp, retryLimit, s.Statuses)
	}
	o := outcome{Accepted: len(s.IDs)}
	accepted := map[string]bool{}
	for _, id := range s.IDs {
		if accepted[id] {
			t.Errorf("two orders were accepted under the same id %s", id)
		}
		accepted[id] = true
	}
	left := p.waitCompleted(t, ctx, s.IDs, 3*time.Minute)
	o.Completed = len(s.IDs) - len(left)

	inTable := map[string]bool{}
	for _, ord := range p.allOrders(t, ctx) {
		inTable[ord.ID] = true
		if !accepted[ord.ID] {
			o.Extra++
			if o.Extra <= 5 {
				t.Errorf("order %s (%s) is in the table but no client was told it was accepted", ord.ID, ord.Status)
			}
		}
	}
	for _, l := range taskLogs(t, p.WorkDir()) {
		if strings.HasPrefix(l.Msg, "order withdrawn by the API") {
			o.Ghosts++
			if inTable[l.OrderID] {
				t.Errorf("a stage dropped the message of order %s as withdrawn, but the order is in the table", l.OrderID)
			}
		}
	}
	dead := map[string]bool{}
	for _, d := range p.deadLetters(t, ctx) {
		switch {
		case expected != nil && expected(d):
			o.Expected = append(o.Expected, d)
		case accepted[d.orderID]:
			// Allowed (a DLQ and its alarm are the promise for what
			// cannot be done), and reported.
			dead[d.orderID] = true
			t.Logf("accepted order %s is in %s: %s", d.orderID, d.dlq, d.err)
		default:
			t.Errorf("unexplained message in %s (order %q): %s", d.dlq, d.orderID, d.err)
		}
	}
	o.DeadLettered = len(dead)
	for _, id := range left {
		if !dead[id] {
			o.Lost++
			if o.Lost <= 5 {
				t.Errorf("accepted order %s neither completed nor in a DLQ: lost", id)
			}
		}
	}
	return o
}
