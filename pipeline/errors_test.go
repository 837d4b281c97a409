package pipeline

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// badConfig is one invalid stack configuration and what its error must
// say: the key (with the path inside its value), the value as written,
// and what is accepted there.
type badConfig struct {
	name   string
	values map[string]string
	key    string   // the error's key, namespace included
	value  string   // the offending value, as the error quotes it
	choice []string // substrings naming what is accepted
}

// stage is a `linecook:stages` value of one fry stage with extra fields.
func stage(fields string) map[string]string {
	if fields != "" {
		fields = "," + fields
	}
	return map[string]string{"linecook:stages": `[{"name":"fry","worker":"fry"` + fields + `}]`}
}

func one(key, value string) map[string]string { return map[string]string{key: value} }

// badConfigs covers every key linecook reads and every field of the
// object keys, each with the values a person gets wrong: the wrong type,
// out of range, not one of the choices, an unknown field.
var badConfigs = []badConfig{
	// Unknown keys and the shape of the object keys.
	{"unknown key", one("linecook:stage", `[]`), "linecook:stage", "[]", []string{"unknown key", "linecook:stages", "linecook:scaling"}},
	{"stages not JSON", one("linecook:stages", `[{name:fry}]`), "linecook:stages", "[{name:fry}]", []string{"not valid JSON"}},
	{"stages an object", one("linecook:stages", `{"name":"fry"}`), "linecook:stages", `{"name":"fry"}`, []string{"expected a list"}},
	{"stages empty", one("linecook:stages", `[]`), "linecook:stages", "[]", []string{"at least one stage", "payment, grill, fry, assemble"}},
	{"stage not an object", one("linecook:stages", `["fry"]`), "linecook:stages[0]", "fry", []string{"expected an object"}},
	{"stage unknown field", stage(`"replicas":3`), "linecook:stages[0]", "replicas", []string{"unknown field", "concurrency", "worker"}},
	{"scaling not an object", one("linecook:scaling", `"step"`), "linecook:scaling", "step", []string{"expected an object"}},
	{"scaling unknown field", one("linecook:scaling", `{"maximum":5}`), "linecook:scaling", "maximum", []string{"unknown field", "max", "min", "policy"}},
	{"vpc unknown field", one("linecook:vpc", `{"subnets":2}`), "linecook:vpc", "subnets", []string{"unknown field", "azs", "cidr", "nat"}},
	{"api unknown field", one("linecook:api", `{"replicas":2}`), "linecook:api", "replicas", []string{"unknown field", "desiredCount", "port"}},
	{"orderTable unknown field", one("linecook:orderTable", `{"pitr":true}`), "linecook:orderTable", "pitr", []string{"unknown field", "deletionProtection", "pointInTimeRecovery"}},
	{"orderTable not an object", one("linecook:orderTable", `true`), "linecook:orderTable", "true", []string{"expected an object"}},

	// linecook:stages[].*
	{"name missing", one("linecook:stages", `[{"worker":"fry"}]`), "linecook:stages[0].name", "", []string{"1–24 characters", "lowercase"}},
	{"name uppercase", stageNamed("Fry"), "linecook:stages[0].name", "Fry", []string{"1–24 characters", "lowercase"}},
	{"name too long", stageNamed(strings.Repeat("f", 25)), "linecook:stages[0].name", strings.Repeat("f", 25), []string{"1–24 characters"}},
	{"name beginning sg-", stageNamed("sg-thumbs"), "linecook:stages[0].name", "sg-thumbs", []string{"sg-", "security group"}},
	{"name ending -dlq", one("linecook:stages", `[{"name":"x","worker":"fry"},{"name":"x-dlq","worker":"fry"}]`), "linecook:stages[1].name", "x-dlq", []string{"-dlq", "collide"}},
	{"name api", stageNamed("api"), "linecook:stages[0].name", "api", []string{"reserved", "order API"}},
	{"name duplicate", one("linecook:stages", `[{"name":"a","worker":"fry"},{"name":"a","worker":"grill"}]`), "linecook:stages[1].name", "a", []string{"unique"}},
	{"worker missing", one("linecook:stages", `[{"name":"fry"}]`), "linecook:stages[0].worker", "", []string{"assemble, fry, grill, payment", "image"}},
	{"worker unknown", one("linecook:stages", `[{"name":"fry","worker":"fryer"}]`), "linecook:stages[0].worker", "fryer", []string{"assemble, fry, grill, payment"}},
	{"worker wrong type", one("linecook:stages", `[{"name":"fry","worker":3}]`), "linecook:stages[0].worker", "3", []string{"expected a string"}},
	{"image wrong type", one("linecook:stages", `[{"name":"fry","image":true}]`), "linecook:stages[0].image", "true", []string{"expected a string"}},
	{"stage image not an image", one("linecook:stages", `[{"name":"fry","image":"my image:latest"}]`), "linecook:stages[0].image", "my image:latest", []string{"container image reference", "worker:1.2"}},
	{"concurrency zero", stage(`"concurrency":0`), "linecook:stages[0].concurrency", "0", []string{"1 or more"}},
	{"concurrency fractional", stage(`"concurrency":2.5`), "linecook:stages[0].concurrency", "2.5", []string{"whole number"}},
	{"concurrency over the runtime's limit", stage(`"concurrency":20000`), "linecook:stages[0].concurrency", "20000", []string{"1 to 10000"}},
	{"processingTime zero", stage(`"processingTime":"0s"`), "linecook:stages[0].processingTime", "0s", []string{"more than 0"}},
	{"processingTime not a duration", stage(`"processingTime":"fast"`), "linecook:stages[0].processingTime", "fast", []string{"duration", `"3s"`}},
	{"latency negative", stage(`"latency":-5`), "linecook:stages[0].latency", "-5s", []string{"more than 0"}},
	{"latency wrong type", stage(`"latency":true`), "linecook:stages[0].latency", "true", []string{"duration"}},
	{"latency not a duration", stage(`"latency":"soon"`), "linecook:stages[0].latency", "soon", []string{"duration"}},
	{"visibilityTimeout fractional", stage(`"visibilityTimeout":"1.5s"`), "linecook:stages[0].visibilityTimeout", "1.5s", []string{"whole seconds", "1s to 12h"}},
	{"visibilityTimeout over 12h", stage(`"visibilityTimeout":"13h"`), "linecook:stages[0].visibilityTimeout", "13h0m0s", []string{"1s to 12h"}},
	{"visibilityTimeout overflowing", stage(`"visibilityTimeout":1e12`), "linecook:stages[0].visibilityTimeout", "1e12", []string{"out of range", `"3s"`}},
	{"maxReceiveCount zero", stage(`"maxReceiveCount":0`), "linecook:stages[0].maxReceiveCount", "0", []string{"1 to 1000"}},
	{"maxReceiveCount over 1000", stage(`"maxReceiveCount":1001`), "linecook:stages[0].maxReceiveCount", "1001", []string{"1 to 1000"}},
	{"cpu not a Fargate size", stage(`"cpu":300`), "linecook:stages[0].cpu", "300", []string{"256, 512, 1024"}},
	{"memory not for that cpu", stage(`"cpu":1024,"memory":1024`), "linecook:stages[0].memory", "1024", []string{"2048 to 8192"}},
	{"spot not a boolean", stage(`"spot":"sometimes"`), "linecook:stages[0].spot", "sometimes", []string{"true or false"}},
	{"scaleInProtection not a boolean", stage(`"scaleInProtection":"off"`), "linecook:stages[0].scaleInProtection", "off", []string{"true or false"}},
	{"stopTimeout too short", stage(`"stopTimeout":"1s"`), "linecook:stages[0].stopTimeout", "1s", []string{"2s to 120s"}},
	{"stopTimeout too long", stage(`"stopTimeout":"5m"`), "linecook:stages[0].stopTimeout", "5m0s", []string{"2s to 120s"}},
	{"env value a list", stage(`"env":{"DEBUG":[1]}`), "linecook:stages[0].env", `{"DEBUG":[1]}`, []string{"string, number or boolean", "[1]"}},
	{"env bad name", stage(`"env":{"MY-VAR":"1"}`), "linecook:stages[0].env", "MY-VAR", []string{"environment variable name"}},
	{"env reserved", stage(`"env":{"LINECOOK_QUEUE_URL":"x"}`), "linecook:stages[0].env", "LINECOOK_QUEUE_URL", []string{"reserved", "LINECOOK_STAGE"}},
	{"stage scaling unknown field", stage(`"scaling":{"cooldown":30}`), "linecook:stages[0].scaling", "cooldown", []string{"unknown field", "scaleInCooldown"}},
	{"stage scaling policy", stage(`"scaling":{"policy":"auto"}`), "linecook:stages[0].scaling.policy", "auto", []string{"fixed, step, target-tracking"}},
	{"stage scaling max", stage(`"scaling":{"max":0}`), "linecook:stages[0].scaling.max", "0", []string{"1 or more"}},
	{"stage scaling min", stage(`"scaling":{"min":11}`), "linecook:stages[0].scaling.min", "11", []string{"max (10)"}},
	{"stage scaling desired", stage(`"scaling":{"desired":-3}`), "linecook:stages[0].scaling.desired", "-3", []string{"0 or more"}},
	{"stage scaling scaleOutCooldown", stage(`"scaling":{"scaleOutCooldown":"-5s"}`), "linecook:stages[0].scaling.scaleOutCooldown", "-5s", []string{"not be negative"}},
	{"stage scaling scaleInCooldown", stage(`"scaling":{"scaleInCooldown":"-5s"}`), "linecook:stages[0].scaling.scaleInCooldown", "-5s", []string{"not be negative"}},
	{"stage scaling targetValue", stage(`"scaling":{"targetValue":-1}`), "linecook:stages[0].scaling.targetValue", "-1", []string{"more than 0"}},
	{"stage scaling scaleInAfter", stage(`"scaling":{"policy":"step","scaleInAfter":"30s"}`), "linecook:stages[0].scaling.scaleInAfter", "30s", []string{"metric period"}},

	// linecook:scaling.*
	{"policy unknown", one("linecook:scaling", `{"policy":"stpe"}`), "linecook:scaling.policy", "stpe", []string{"fixed, step, target-tracking"}},
	{"events subscriber not a queue", one("linecook:events", `{"subscribers":[{"queueArn":"arn:aws:sns:us-east-1:1:x"}]}`), "linecook:events.subscribers[0].queueArn", "arn:aws:sns:us-east-1:1:x", []string{"not an SQS queue ARN"}},
	{"events filter on unknown type", one("linecook:events", `{"subscribers":[{"queueArn":"arn:aws:sqs:us-east-1:1:x","filterPolicy":{"type":["shipped"]}}]}`), "linecook:events.subscribers[0].filterPolicy", `{"type":["shipped"]}`, []string{"no event has type shipped"}},
	{"events unknown field", one("linecook:events", `{"subscriber":[]}`), "linecook:events", "subscriber", []string{"valid: subscribers"}},
	{"scaleOutOn unknown", one("linecook:scaling", `{"policy":"step","scaleOutOn":"depth"}`), "linecook:scaling.scaleOutOn", "depth", []string{"messages, age"}},
	{"scaleOutOn age without step", stage(`"scaling":{"scaleOutOn":"age"}`), "linecook:stages[0].scaling.scaleOutOn", "age", []string{"step scaling only"}},
	{"policy wrong type", one("linecook:scaling", `{"policy":1}`), "linecook:scaling.policy", "1", []string{"expected a string"}},
	{"min negative", one("linecook:scaling", `{"min":-1}`), "linecook:scaling.min", "-1", []string{"0 or more"}},
	{"min over max", one("linecook:scaling", `{"min":5,"max":2}`), "linecook:scaling.min", "5", []string{"max (2)"}},
	{"max zero", one("linecook:scaling", `{"max":0}`), "linecook:scaling.max", "0", []string{"1 or more"}},
	{"max not a number", one("linecook:scaling", `{"max":"ten"}`), "linecook:scaling.max", "ten", []string{"whole number"}},
	{"min not a number", one("linecook:scaling", `{"min":true}`), "linecook:scaling.min", "true", []string{"whole number"}},
	{"desired negative", one("linecook:scaling", `{"desired":-2}`), "linecook:scaling.desired", "-2", []string{"0 or more"}},
	{"desired minus one", one("linecook:scaling", `{"desired":-1}`), "linecook:scaling.desired", "-1", []string{"0 or more"}},
	{"desired over max", one("linecook:scaling", `{"max":3,"desired":4}`), "linecook:scaling.desired", "4", []string{"max (3)"}},
	{"scaleOutCooldown negative", one("linecook:scaling", `{"scaleOutCooldown":"-1m"}`), "linecook:scaling.scaleOutCooldown", "-1m0s", []string{"not be negative"}},
	{"scaleInCooldown not a duration", one("linecook:scaling", `{"scaleInCooldown":"later"}`), "linecook:scaling.scaleInCooldown", "later", []string{"duration"}},
	{"targetValue negative", one("linecook:scaling", `{"targetValue":-5}`), "linecook:scaling.targetValue", "-5", []string{"more than 0"}},
	{"targetValue not a number", one("linecook:scaling", `{"targetValue":"high"}`), "linecook:scaling.targetValue", "high", []string{"a number"}},
	{"scaleInAfter over a day", one("linecook:scaling", `{"scaleInAfter":"25h"}`), "linecook:scaling.scaleInAfter", "25h0m0s", []string{"whole minutes from 1m to 24h"}},
	{"scaleInAfter a fraction of a minute", one("linecook:scaling", `{"scaleInAfter":"90s"}`), "linecook:scaling.scaleInAfter", "1m30s", []string{"whole minutes"}},
	{"scaleInAfter under a period", one("linecook:scaling", `{"policy":"step","scaleInAfter":"10s"}`), "linecook:scaling.scaleInAfter", "10s", []string{"1m0s metric period"}},

	// linecook:vpc.*
	{"azs one", one("linecook:vpc", `{"azs":1}`), "linecook:vpc.azs", "1", []string{"2 to 6"}},
	{"azs seven", one("linecook:vpc", `{"azs":7}`), "linecook:vpc.azs", "7", []string{"2 to 6"}},
	{"cidr not a CIDR", one("linecook:vpc", `{"cidr":"10.0.0.0"}`), "linecook:vpc.cidr", "10.0.0.0", []string{"IPv4 CIDR", "/16 to /22"}},
	{"cidr too big", one("linecook:vpc", `{"cidr":"10.0.0.0/8"}`), "linecook:vpc.cidr", "10.0.0.0/8", []string{"/16 to /22"}},
	{"cidr IPv6", one("linecook:vpc", `{"cidr":"fd00::/48"}`), "linecook:vpc.cidr", "fd00::/48", []string{"IPv4"}},
	{"nat unknown", one("linecook:vpc", `{"nat":"two"}`), "linecook:vpc.nat", "two", []string{"none, single, per-az"}},
	{"nat none without endpoints", one("linecook:vpc", `{"nat":"none"}`), "linecook:vpc.nat", "none", []string{"endpoints"}},
	{"endpoints not a boolean", one("linecook:vpc", `{"endpoints":"yes"}`), "linecook:vpc.endpoints", "yes", []string{"true or false"}},
	{"vpcId not a VPC id", one("linecook:vpc", `{"vpcId":"subnet-1","publicSubnetIds":["a","b"],"privateSubnetIds":["c"]}`), "linecook:vpc.vpcId", "subnet-1", []string{"vpc-"}},
	{"publicSubnetIds one", one("linecook:vpc", `{"vpcId":"vpc-1","publicSubnetIds":["subnet-a"],"privateSubnetIds":["subnet-c"]}`), "linecook:vpc.publicSubnetIds", "subnet-a", []string{"at least two"}},
	{"publicSubnetIds not a list", one("linecook:vpc", `{"vpcId":"vpc-1","publicSubnetIds":"subnet-a"}`), "linecook:vpc.publicSubnetIds", "subnet-a", []string{"expected a list"}},
	{"privateSubnetIds none", one("linecook:vpc", `{"vpcId":"vpc-1","publicSubnetIds":["subnet-a","subnet-b"]}`), "linecook:vpc.privateSubnetIds", "", []string{"at least one"}},
	{"subnets without vpcId", one("linecook:vpc", `{"privateSubnetIds":["subnet-c"]}`), "linecook:vpc.vpcId", "", []string{"need the vpcId"}},

	// linecook:api.*
	{"api cpu", one("linecook:api", `{"cpu":100}`), "linecook:api.cpu", "100", []string{"256, 512, 1024"}},
	{"api memory", one("linecook:api", `{"memory":4096}`), "linecook:api.memory", "4096", []string{"512, 1024 or 2048"}},
	{"api desiredCount zero", one("linecook:api", `{"desiredCount":0}`), "linecook:api.desiredCount", "0", []string{"1 to 100"}},
	{"api port privileged", one("linecook:api", `{"port":80}`), "linecook:api.port", "80", []string{"1024 to 65535"}},
	{"api port not a port", one("linecook:api", `{"port":70000}`), "linecook:api.port", "70000", []string{"1024 to 65535"}},
	{"api certificateArn", one("linecook:api", `{"certificateArn":"my-cert"}`), "linecook:api.certificateArn", "my-cert", []string{"arn:aws:acm:"}},
	{"api apiKeySecretArn", one("linecook:api", `{"apiKeySecretArn":"arn:aws:ssm:us-east-1:1:parameter/k"}`), "linecook:api.apiKeySecretArn", "arn:aws:ssm:us-east-1:1:parameter/k", []string{"arn:aws:secretsmanager:"}},

	{"api jwt not an object", one("linecook:api", `{"jwt":"https://login.example.com/"}`), "linecook:api.jwt", "https://login.example.com/", []string{"expected an object"}},
	{"api jwt unknown field", jwt(`"iss":"https://login.example.com/"`), "linecook:api.jwt", "iss", []string{"unknown field", "audience, issuer, jwksUrl"}},
	{"api jwt issuer missing", jwt(`"audience":"orders","jwksUrl":"https://login.example.com/jwks"`), "linecook:api.jwt.issuer", "", []string{"issuer, audience and jwksUrl are set together"}},
	{"api jwt issuer http", jwt(`"issuer":"http://login.example.com/","audience":"orders","jwksUrl":"https://login.example.com/jwks"`), "linecook:api.jwt.issuer", "http://login.example.com/", []string{"https URL", "iss"}},
	{"api jwt audience missing", jwt(`"issuer":"https://login.example.com/","jwksUrl":"https://login.example.com/jwks"`), "linecook:api.jwt.audience", "", []string{"set together"}},
	{"api jwt audience wrong type", jwt(`"issuer":"https://login.example.com/","audience":["a","b"],"jwksUrl":"https://login.example.com/jwks"`), "linecook:api.jwt.audience", `["a","b"]`, []string{"expected a string"}},
	{"api jwt jwksUrl missing", jwt(`"issuer":"https://login.example.com/","audience":"orders"`), "linecook:api.jwt.jwksUrl", "", []string{"set together"}},
	{"api jwt jwksUrl not a URL", jwt(`"issuer":"https://login.example.com/","audience":"orders","jwksUrl":"login.example.com/jwks"`), "linecook:api.jwt.jwksUrl", "login.example.com/jwks", []string{"https URL", "jwks_uri"}},
	{"api jwt jwksUrl port", jwt(`"issuer":"https://login.example.com/","audience":"orders","jwksUrl":"https://login.example.com:8443/jwks"`), "linecook:api.jwt.jwksUrl", "https://login.example.com:8443/jwks", []string{"port 443"}},
	{"api jwt without NAT", map[string]string{
		"linecook:api": `{"jwt":{"issuer":"https://login.example.com/","audience":"orders","jwksUrl":"https://login.example.com/jwks"}}`,
		"linecook:vpc": `{"nat":"none","endpoints":true}`,
	}, "linecook:api.jwt.jwksUrl", "https://login.example.com/jwks", []string{"nat none", "single or per-az"}},

	// linecook:orderTable.*
	{"pointInTimeRecovery not a boolean", one("linecook:orderTable", `{"pointInTimeRecovery":"on"}`), "linecook:orderTable.pointInTimeRecovery", "on", []string{"true or false"}},
	{"deletionProtection not a boolean", one("linecook:orderTable", `{"deletionProtection":1}`), "linecook:orderTable.deletionProtection", "1", []string{"true or false"}},

	// The scalar keys.
	{"alarmEmail no @", one("linecook:alarmEmail", "ops.example.com"), "linecook:alarmEmail", "ops.example.com", []string{"one email address", "ops@example.com"}},
	{"alarmEmail nothing after @", one("linecook:alarmEmail", "ops@"), "linecook:alarmEmail", "ops@", []string{"email address"}},
	{"alarmEmail two addresses", one("linecook:alarmEmail", "a@example.com, b@example.com"), "linecook:alarmEmail", "a@example.com, b@example.com", []string{"one email address"}},
	{"logRetentionDays not a retention", one("linecook:logRetentionDays", "10"), "linecook:logRetentionDays", "10", []string{"1, 3, 5, 7, 14, 30"}},
	{"logRetentionDays not a number", one("linecook:logRetentionDays", "two weeks"), "linecook:logRetentionDays", "two weeks", []string{"1, 3, 5, 7, 14, 30"}},
	{"image not an image", one("linecook:image", "linecook latest"), "linecook:image", "linecook latest", []string{"container image reference", "worker:1.2"}},
	{"imageBuild unknown", one("linecook:imageBuild", "kaniko"), "linecook:imageBuild", "kaniko", []string{"go, docker"}},
	{"image uppercase repository", one("linecook:image", "Linecook:1.0"), "linecook:image", "Linecook:1.0", []string{"container image reference", "worker:1.2"}},
}

// jwt is a `linecook:api` value whose jwt object has these fields.
func jwt(fields string) map[string]string {
	return one("linecook:api", `{"jwt":{`+fields+`}}`)
}

func stageNamed(name string) map[string]string {
	return one("linecook:stages", fmt.Sprintf(`[{"name":%q,"worker":"fry"}]`, name))
}

// TestEveryKeyRejectsBadValuesSayingWhatIsAccepted: each error is a *Error
// whose key is the exact path of the bad value, whose value is the value
// as written, and whose message names what is accepted.
func TestEveryKeyRejectsBadValuesSayingWhatIsAccepted(t *testing.T) {
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.values, kitchen)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%v) = %v, want a *pipeline.Error", tc.values, err)
			}
			if got := Namespace + ":" + strings.TrimPrefix(e.Key, Namespace+":"); got != tc.key {
				t.Errorf("key = %q, want %q (%v)", got, tc.key, err)
			}
			if e.Value != tc.value {
				t.Errorf("value = %q, want %q (%v)", e.Value, tc.value, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.key+" = ") {
				t.Errorf("error %q does not start with the key %s", msg, tc.key)
			}
			for _, c := range tc.choice {
				if !strings.Contains(msg, c) {
					t.Errorf("error %q does not say %q", msg, c)
				}
			}
		})
	}
}

// TestEveryKeyIsCovered: a key or object field added to the parser without
// a bad-value case here fails this test.
func TestEveryKeyIsCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range badConfigs {
		covered[tc.key] = true
		// stages[1].name counts for stages[].name.
		covered[strings.ReplaceAll(strings.ReplaceAll(tc.key, "[0]", "[]"), "[1]", "[]")] = true
	}
	var want []string
	for _, k := range Keys {
		want = append(want, Namespace+":"+k)
	}
	for prefix, raw := range map[string]any{
		KeyStages + "[]": rawStage{}, KeyScaling: rawScaling{}, KeyVPC: rawVPC{}, KeyAPI: rawAPI{}, KeyOrderTable: rawTable{},
		KeyStages + "[].scaling": rawScaling{}, KeyAPI + ".jwt": rawJWT{},
	} {
		for name := range jsonFieldsOf(raw) {
			if prefix == KeyStages+"[]" && name == "scaling" {
				continue // its fields are listed under stages[].scaling
			}
			if prefix == KeyAPI && name == "jwt" {
				continue // its fields are listed under api.jwt
			}
			want = append(want, Namespace+":"+prefix+"."+name)
		}
	}
	for _, k := range want {
		if !covered[k] && !covered[strings.TrimSuffix(k, ".scaling")] {
			t.Errorf("no bad-value case for %s", k)
		}
	}
}

func jsonFieldsOf(v any) map[string]reflect.StructField { return jsonFields(reflect.TypeOf(v)) }
