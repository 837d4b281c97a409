package burger

import (
	"slices"
	"testing"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/pipeline"
)

const sqsQueuePolicy = "aws:sqs/queuePolicy:QueuePolicy"

// TestOrderEventsTopic: one encrypted topic; the API and every stage may
// publish to it and to nothing else on SNS, and know it from their
// environment; a subscriber from config gets a raw-delivery subscription
// with its filter, and a queue policy that admits this topic only.
func TestOrderEventsTopic(t *testing.T) {
	m, _ := mustRun(t, map[string]string{
		"linecook:events": `{"subscribers":[
			{"queueArn":"arn:aws:sqs:us-east-1:210987654321:analytics","queueUrl":"https://sqs.us-east-1.amazonaws.com/210987654321/analytics","filterPolicy":{"type":["completed","failed"]}},
			{"queueArn":"arn:aws:sqs:us-east-1:111122223333:audit"}]}`,
	})
	topic, ok := m.Find(awstest.SNSTopic, "order-events")
	if !ok {
		t.Fatal("no order-events topic")
	}
	if topic.String("kmsMasterKeyId") != "alias/aws/sns" {
		t.Errorf("topic encryption = %q, want SNS's managed key", topic.String("kmsMasterKeyId"))
	}
	arn, _ := topic.Outputs["arn"].(string)
	for _, role := range append([]string{"api-task"}, stageNames()...) {
		if role != "api-task" {
			role += "-task"
		}
		grants := m.Grants(t, role)
		var sns []string
		for action, resources := range grants {
			if len(action) > 4 && action[:4] == "sns:" {
				sns = append(sns, action)
				if !slices.Equal(resources, []string{arn}) {
					t.Errorf("%s: %s on %v, want the events topic only", role, action, resources)
				}
			}
		}
		if !slices.Equal(sns, []string{"sns:Publish"}) {
			t.Errorf("%s: SNS actions %v, want sns:Publish", role, sns)
		}
	}
	for _, task := range append([]string{"api"}, stageNames()...) {
		if got := envOf(t, m, task)[pipeline.EnvEventsTopicARN]; got != arn {
			t.Errorf("%s: %s = %q, want the topic", task, pipeline.EnvEventsTopicARN, got)
		}
	}

	subs := m.OfType(awstest.SNSTopicSubscription)
	if len(subs) != 2 {
		t.Fatalf("%d subscriptions, want 2", len(subs))
	}
	for _, s := range subs {
		if s.String("protocol") != "sqs" || s.String("topic") != arn || !s.Bool("rawMessageDelivery") {
			t.Errorf("subscription %v, want sqs with raw delivery on the topic", s.Inputs)
		}
	}
	first, _ := m.Find(awstest.SNSTopicSubscription, "order-events-0")
	if first.String("filterPolicy") != `{"type":["completed","failed"]}` {
		t.Errorf("filter policy = %q", first.String("filterPolicy"))
	}
	policies := m.OfType(sqsQueuePolicy)
	if len(policies) != 1 {
		t.Fatalf("%d queue policies, want 1 (the other queue's owner sets its own)", len(policies))
	}
	doc, err := awstest.Policy(policies[0].String("policy"))
	if err != nil {
		t.Fatal(err)
	}
	st := doc.Statement[0]
	if st.Effect != "Allow" || !slices.Equal([]string(st.Action), []string{"sqs:SendMessage"}) ||
		!slices.Equal([]string(st.Resource), []string{"arn:aws:sqs:us-east-1:210987654321:analytics"}) {
		t.Errorf("queue policy statement = %+v, want SendMessage on the analytics queue", st)
	}
	if got := st.Condition["ArnEquals"]["aws:SourceArn"]; got != arn {
		t.Errorf("queue policy condition = %v, want aws:SourceArn = the topic", st.Condition)
	}
}

func stageNames() []string {
	var names []string
	for _, s := range handlers.Names {
		names = append(names, s)
	}
	return names
}
