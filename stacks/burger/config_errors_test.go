package burger

import (
	"strings"
	"testing"

	"github.com/linecook/linecook/components/awstest"
)

// TestEveryKeysBadValueFailsBeforeAnyResource runs the stack's public
// Program, as `pulumi up` does, with one bad value for each linecook:*
// key (pipeline's own tests cover every field): the program must fail with
// the parser's error, naming the key, the value and what is accepted,
// before it registers a single resource.
func TestEveryKeysBadValueFailsBeforeAnyResource(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]string
		want   []string
	}{
		{"unknown key", map[string]string{"linecook:stage": `[]`},
			[]string{"linecook:stage", "unknown key", "linecook:stages"}},
		{"stages: not a list", map[string]string{"linecook:stages": `{"name":"fry"}`},
			[]string{"linecook:stages", "expected a list"}},
		{"stages: unknown field", map[string]string{"linecook:stages": `[{"name":"fry","worker":"fry","replicas":3}]`},
			[]string{"linecook:stages[0]", `"replicas"`, "unknown field", "concurrency"}},
		{"stages: concurrency over the runtime's limit", map[string]string{"linecook:stages": `[{"name":"fry","worker":"fry","concurrency":20000}]`},
			[]string{"linecook:stages[0].concurrency", `"20000"`, "1 to 10000"}},
		{"stages: stop timeout", map[string]string{"linecook:stages": `[{"name":"fry","worker":"fry","stopTimeout":"5m"}]`},
			[]string{"linecook:stages[0].stopTimeout", `"5m0s"`, "2s to 120s"}},
		{"stages: image", map[string]string{"linecook:stages": `[{"name":"thumbs","image":"my image"}]`},
			[]string{"linecook:stages[0].image", `"my image"`, "container image reference"}},
		{"stages: scaling override", map[string]string{"linecook:stages": `[{"name":"fry","worker":"fry","scaling":{"policy":"auto"}}]`},
			[]string{"linecook:stages[0].scaling.policy", `"auto"`, "fixed, step, target-tracking"}},
		{"scaling: desired -1", map[string]string{"linecook:scaling": `{"desired":-1}`},
			[]string{"linecook:scaling.desired", `"-1"`, "0 or more"}},
		{"scaling: not a number", map[string]string{"linecook:scaling": `{"max":"ten"}`},
			[]string{"linecook:scaling.max", `"ten"`, "whole number"}},
		{"vpc: cidr", map[string]string{"linecook:vpc": `{"cidr":"10.0.0.0/8"}`},
			[]string{"linecook:vpc.cidr", `"10.0.0.0/8"`, "/16 to /22"}},
		{"vpc: existing without private subnets", map[string]string{"linecook:vpc": `{"vpcId":"vpc-1","publicSubnetIds":["subnet-a","subnet-b"]}`},
			[]string{"linecook:vpc.privateSubnetIds", "at least one private subnet"}},
		{"api: port", map[string]string{"linecook:api": `{"port":80}`},
			[]string{"linecook:api.port", `"80"`, "1024 to 65535"}},
		{"api: certificate", map[string]string{"linecook:api": `{"certificateArn":"my-cert"}`},
			[]string{"linecook:api.certificateArn", `"my-cert"`, "arn:aws:acm:"}},
		{"orderTable: not a boolean", map[string]string{"linecook:orderTable": `{"deletionProtection":"on"}`},
			[]string{"linecook:orderTable.deletionProtection", `"on"`, "true or false"}},
		{"alarmEmail", map[string]string{"linecook:alarmEmail": "ops@"},
			[]string{"linecook:alarmEmail", `"ops@"`, "ops@example.com"}},
		{"logRetentionDays", map[string]string{"linecook:logRetentionDays": "10"},
			[]string{"linecook:logRetentionDays", `"10"`, "1, 3, 5, 7, 14, 30"}},
		{"image", map[string]string{"linecook:image": "Linecook:latest"},
			[]string{"linecook:image", `"Linecook:latest"`, "container image reference"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			awstest.SetConfig(t, tc.values)
			m, err := awstest.Run(Program)
			if err == nil {
				t.Fatal("the stack accepted bad config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if rs := m.Resources(); len(rs) != 0 {
				t.Errorf("%d resources registered before the config error (first: %s %s)", len(rs), rs[0].Type, rs[0].Name)
			}
		})
	}
}
