package orderapi_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/orderapi"
	"github.com/linecook/linecook/pipeline"
)

const (
	queueArn  = "arn:aws:sqs:us-east-1:123456789012:payment"
	queueURL  = "https://sqs.us-east-1.amazonaws.com/123456789012/payment"
	certArn   = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
	secretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:linecook-api-key-AbCdEf"
)

var (
	public  = []string{"subnet-pub-a", "subnet-pub-b"}
	private = []string{"subnet-priv-a", "subnet-priv-b"}
)

func apiFrom(t *testing.T, apiJSON, tableJSON string) (pipeline.API, pipeline.OrderTable) {
	t.Helper()
	values := map[string]string{}
	if apiJSON != "" {
		values["linecook:api"] = apiJSON
	}
	if tableJSON != "" {
		values["linecook:orderTable"] = tableJSON
	}
	// The API's settings do not depend on the stages: any one will do.
	cfg, err := pipeline.Parse(values, pipeline.Options{Stages: []string{"work"}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg.API, cfg.OrderTable
}

type result struct {
	m   *awstest.Mocks
	url string
}

func run(t *testing.T, api pipeline.API, table pipeline.OrderTable) result {
	t.Helper()
	var r result
	m, err := awstest.Run(func(ctx *pulumi.Context) error {
		args := orderapi.ArgsOf(api, table)
		args.Image = pulumi.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/linecook@sha256:1")
		args.ClusterArn = pulumi.String("arn:aws:ecs:us-east-1:123456789012:cluster/kitchen")
		args.VpcId = pulumi.String("vpc-1")
		args.PublicSubnetIds, args.PrivateSubnetIds = pulumi.ToStringArray(public), pulumi.ToStringArray(private)
		args.QueueUrl, args.QueueArn = pulumi.String(queueURL), pulumi.String(queueArn)
		c, err := orderapi.New(ctx, "api", &args)
		if err != nil {
			return err
		}
		c.Url.ApplyT(func(u string) string { r.url = u; return u })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	return r
}

func TestOrderAPIOverHTTP(t *testing.T) {
	api, table := apiFrom(t, "", "")
	r := run(t, api, table)
	m := r.m
	alb, _ := m.Find(awstest.LBLoadBalancer, "api")
	if r.url != "http://"+alb.Outputs["dnsName"].(string) {
		t.Errorf("Url = %q, want http:// and the ALB's DNS name", r.url)
	}
	if alb.Bool("internal") || !slices.Equal(alb.Strings("subnets"), public) {
		t.Errorf("ALB = %v, want internet-facing in the public subnets", alb.Inputs)
	}
	albSG, _ := m.Find(awstest.EC2SecurityGroup, "api-alb")
	apiSG, _ := m.Find(awstest.EC2SecurityGroup, "api")
	if !slices.Equal(alb.Strings("securityGroups"), []string{albSG.ID()}) {
		t.Errorf("ALB SGs = %v", alb.Strings("securityGroups"))
	}
	checkSecurityGroups(t, m, albSG, apiSG, []float64{80}, float64(api.Port))

	listeners := m.OfType(awstest.LBListener)
	if len(listeners) != 1 || listeners[0].Number("port") != 80 || listeners[0].String("defaultActions.0.type") != "forward" {
		t.Errorf("listeners = %v, want HTTP 80 forwarding", listeners)
	}
	tg, _ := m.Find(awstest.LBTargetGroup, "api")
	if tg.String("targetType") != "ip" || tg.String("healthCheck.path") != "/healthz" || tg.Number("port") != float64(api.Port) {
		t.Errorf("target group = %v, want ip targets, /healthz on %d", tg.Inputs, api.Port)
	}

	svc, _ := m.Find(awstest.ECSService, "api")
	if svc.Bool("networkConfiguration.assignPublicIp") || !slices.Equal(svc.Strings("networkConfiguration.subnets"), private) ||
		!slices.Equal(svc.Strings("networkConfiguration.securityGroups"), []string{apiSG.ID()}) {
		t.Errorf("service network = %v, want private subnets behind the API SG", svc.Get("networkConfiguration"))
	}
	if svc.String("loadBalancers.0.targetGroupArn") != tg.Outputs["arn"] || svc.Number("loadBalancers.0.containerPort") != float64(api.Port) ||
		svc.Number("desiredCount") != float64(api.DesiredCount) {
		t.Errorf("service = %v", svc.Inputs)
	}

	tbl := m.OfType(awstest.DynamoDBTable)[0]
	if tbl.String("hashKey") != "id" || tbl.String("attributes.0.type") != "S" || tbl.String("billingMode") != "PAY_PER_REQUEST" ||
		!tbl.Bool("serverSideEncryption.enabled") || tbl.Bool("pointInTimeRecovery.enabled") || tbl.Bool("deletionProtectionEnabled") ||
		!tbl.Bool("ttl.enabled") || tbl.String("ttl.attributeName") != "expiresAt" {
		t.Errorf("table = %v, want id (S), on demand, encrypted, PITR and protection off by default", tbl.Inputs)
	}
	// Two keys-only indexes: the sweeper's sparse one of unstarted
	// orders (shard, due time), and the live page's of recent orders
	// (day, id); every key attribute declared, as DynamoDB requires.
	if tbl.String("globalSecondaryIndexes.0.name") != pipeline.OrderTableSweepIndex ||
		tbl.String("globalSecondaryIndexes.0.hashKey") != pipeline.OrderTableSweepShard ||
		tbl.String("globalSecondaryIndexes.0.rangeKey") != pipeline.OrderTableSweepAt ||
		tbl.String("globalSecondaryIndexes.0.projectionType") != "KEYS_ONLY" ||
		tbl.String("globalSecondaryIndexes.1.name") != pipeline.OrderTableRecentIndex ||
		tbl.String("globalSecondaryIndexes.1.hashKey") != "createdDay" || tbl.String("globalSecondaryIndexes.1.rangeKey") != "id" ||
		tbl.String("globalSecondaryIndexes.1.projectionType") != "KEYS_ONLY" || tbl.Get("globalSecondaryIndexes.2") != nil {
		t.Errorf("indexes = %v, want the sweep index and the recent index", tbl.Get("globalSecondaryIndexes"))
	}
	if tbl.String("attributes.1.name") != pipeline.OrderTableSweepShard || tbl.String("attributes.1.type") != "S" ||
		tbl.String("attributes.2.name") != pipeline.OrderTableSweepAt || tbl.String("attributes.2.type") != "N" ||
		tbl.String("attributes.3.name") != "createdDay" || tbl.String("attributes.3.type") != "S" {
		t.Errorf("attributes = %v, want id (S), sweepShard (S), sweepAt (N), createdDay (S)", tbl.Get("attributes"))
	}

	var defs []struct {
		Command      []string
		Environment  []struct{ Name, Value string }
		Secrets      []struct{ Name, ValueFrom string }
		PortMappings []struct{ ContainerPort int }
	}
	td := m.OfType(awstest.ECSTaskDefinition)[0]
	if err := td.JSON("containerDefinitions", &defs); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range defs[0].Environment {
		env[kv.Name] = kv.Value
	}
	if want := api.APIEnv(queueURL, tbl.Outputs["name"].(string)); !maps.Equal(env, want) {
		t.Errorf("API env = %v, want %v", env, want)
	}
	if !slices.Equal(defs[0].Command, pipeline.APICommand()) || defs[0].Secrets != nil || defs[0].PortMappings[0].ContainerPort != api.Port {
		t.Errorf("container = %+v", defs[0])
	}

	grants := m.Grants(t, "api-task")
	wantTask := map[string][]string{
		"sqs:SendMessage":        {queueArn},
		"sqs:GetQueueAttributes": {queueArn},
	}
	for _, a := range []string{"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem"} {
		wantTask[a] = []string{tbl.Outputs["arn"].(string)}
	}
	// Query on the indexes only, never on the table, never a Scan: the
	// sweeper's and the live page's.
	wantTask["dynamodb:Query"] = []string{tbl.Outputs["arn"].(string) + "/index/accepted", tbl.Outputs["arn"].(string) + "/index/recent"}
	if !maps.EqualFunc(grants, wantTask, slices.Equal) {
		t.Errorf("API task role = %v\nwant %v", grants, wantTask)
	}
	if exec := m.Grants(t, "api-execution"); exec["secretsmanager:GetSecretValue"] != nil {
		t.Errorf("execution role reads secrets without an API key: %v", exec)
	}
}

func TestOrderAPIOverHTTPSWithKey(t *testing.T) {
	api, table := apiFrom(t, `{"certificateArn":"`+certArn+`","apiKeySecretArn":"`+secretArn+`","port":9000,"sweepAfter":"10m"}`,
		`{"pointInTimeRecovery":true,"deletionProtection":true}`)
	r := run(t, api, table)
	m := r.m
	if !strings.HasPrefix(r.url, "https://") {
		t.Errorf("Url = %q, want https", r.url)
	}
	albSG, _ := m.Find(awstest.EC2SecurityGroup, "api-alb")
	apiSG, _ := m.Find(awstest.EC2SecurityGroup, "api")
	checkSecurityGroups(t, m, albSG, apiSG, []float64{80, 443}, 9000)

	https, _ := m.Find(awstest.LBListener, "api-https")
	http, _ := m.Find(awstest.LBListener, "api-http")
	if https.String("certificateArn") != certArn || https.String("protocol") != "HTTPS" || https.String("defaultActions.0.type") != "forward" {
		t.Errorf("HTTPS listener = %v", https.Inputs)
	}
	if http.String("defaultActions.0.type") != "redirect" || http.String("defaultActions.0.redirect.protocol") != "HTTPS" ||
		http.String("defaultActions.0.redirect.port") != "443" {
		t.Errorf("HTTP listener = %v, want a redirect to HTTPS", http.Inputs)
	}
	tbl := m.OfType(awstest.DynamoDBTable)[0]
	if !tbl.Bool("pointInTimeRecovery.enabled") || !tbl.Bool("deletionProtectionEnabled") {
		t.Errorf("table = %v, want PITR and deletion protection", tbl.Inputs)
	}

	var defs []struct {
		Secrets     []struct{ Name, ValueFrom string }
		Environment []struct{ Name, Value string }
	}
	if err := m.OfType(awstest.ECSTaskDefinition)[0].JSON("containerDefinitions", &defs); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(defs[0].Environment, struct{ Name, Value string }{"LINECOOK_SWEEP_AFTER", "10m0s"}) {
		t.Errorf("environment = %+v, want LINECOOK_SWEEP_AFTER=10m0s", defs[0].Environment)
	}
	if len(defs[0].Secrets) != 1 || defs[0].Secrets[0].Name != "LINECOOK_API_KEY" || defs[0].Secrets[0].ValueFrom != secretArn {
		t.Errorf("secrets = %+v, want LINECOOK_API_KEY from the secret", defs[0].Secrets)
	}
	exec := m.Grants(t, "api-execution")
	if got := exec["secretsmanager:GetSecretValue"]; !slices.Equal(got, []string{secretArn}) {
		t.Errorf("execution role GetSecretValue on %v, want only %s", got, secretArn)
	}
	if got := m.Grants(t, "api-task")["secretsmanager:GetSecretValue"]; got != nil {
		t.Errorf("task role can read secrets: %v", got)
	}
}

// checkSecurityGroups: the ALB takes only listenPorts from anywhere and
// sends only to the API SG; the API takes only its port, only from the
// ALB SG.
func checkSecurityGroups(t *testing.T, m *awstest.Mocks, albSG, apiSG awstest.Resource, listenPorts []float64, port float64) {
	t.Helper()
	for _, sg := range []awstest.Resource{albSG, apiSG} {
		if sg.Get("ingress") != nil || sg.Get("egress") != nil {
			t.Errorf("SG %s has inline rules %v %v; all rules should be separate resources", sg.Name, sg.Get("ingress"), sg.Get("egress"))
		}
	}
	var albPorts []float64
	for _, r := range m.OfType(awstest.VPCSecurityGroupIngressRule) {
		switch r.String("securityGroupId") {
		case albSG.ID():
			if r.String("cidrIpv4") != "0.0.0.0/0" || r.Number("fromPort") != r.Number("toPort") {
				t.Errorf("ALB ingress %v", r.Inputs)
			}
			albPorts = append(albPorts, r.Number("fromPort"))
		case apiSG.ID():
			if r.String("referencedSecurityGroupId") != albSG.ID() || r.String("cidrIpv4") != "" ||
				r.Number("fromPort") != port || r.Number("toPort") != port {
				t.Errorf("API ingress %v, want port %v from the ALB SG only", r.Inputs, port)
			}
		default:
			t.Errorf("ingress rule on unknown SG %v", r.Inputs)
		}
	}
	slices.Sort(albPorts)
	if !slices.Equal(albPorts, listenPorts) {
		t.Errorf("ALB listens on %v, want %v", albPorts, listenPorts)
	}
	for _, r := range m.OfType(awstest.VPCSecurityGroupEgressRule) {
		if r.String("securityGroupId") == albSG.ID() &&
			(r.String("referencedSecurityGroupId") != apiSG.ID() || r.Number("fromPort") != port) {
			t.Errorf("ALB egress %v, want only the API SG on %v", r.Inputs, port)
		}
	}
}

// TestOrderAPIWithJWT: the issuer, audience and JWKS URL reach the API
// task as plain environment (none is a secret), and the tasks may reach
// the JWKS: HTTPS out on 443.
func TestOrderAPIWithJWT(t *testing.T) {
	api, table := apiFrom(t, `{"jwt":{"issuer":"https://login.example.com/","audience":"orders","jwksUrl":"https://login.example.com/.well-known/jwks.json"}}`, "")
	m := run(t, api, table).m
	var defs []struct {
		Environment []struct{ Name, Value string }
		Secrets     []struct{ Name, ValueFrom string }
	}
	if err := m.OfType(awstest.ECSTaskDefinition)[0].JSON("containerDefinitions", &defs); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range defs[0].Environment {
		env[kv.Name] = kv.Value
	}
	for k, v := range map[string]string{
		pipeline.EnvJWTIssuer: "https://login.example.com/", pipeline.EnvJWTAudience: "orders",
		pipeline.EnvJWTJWKSURL: "https://login.example.com/.well-known/jwks.json",
	} {
		if env[k] != v {
			t.Errorf("API env %s = %q, want %q", k, env[k], v)
		}
	}
	if defs[0].Secrets != nil {
		t.Errorf("secrets = %+v, want none: the issuer's settings are public", defs[0].Secrets)
	}
	apiSG, _ := m.Find(awstest.EC2SecurityGroup, "api")
	out := false
	for _, r := range m.OfType(awstest.VPCSecurityGroupEgressRule) {
		if r.String("securityGroupId") == apiSG.ID() && r.Number("fromPort") == 443 && r.String("cidrIpv4") == "0.0.0.0/0" {
			out = true
		}
	}
	if !out {
		t.Error("the API tasks cannot reach the JWKS: no HTTPS egress on 443")
	}
}

func TestOrderAPIArgErrors(t *testing.T) {
	api, _ := apiFrom(t, "", "")
	m, err := awstest.Run(func(ctx *pulumi.Context) error {
		args := orderapi.ArgsOf(api, pipeline.OrderTable{})
		args.Cpu, args.Port, args.LogRetentionDays, args.SweepAfterSeconds = 300, 70000, 10, 30
		_, err := orderapi.New(ctx, "api", &args)
		return err
	})
	for _, want := range []string{"image (unset): required", "queueArn (unset): required", "privateSubnetIds (unset): required",
		"cpu 300: not a Fargate CPU size", "port 70000: must be a TCP port", "logRetentionDays 10: not a CloudWatch Logs retention",
		"sweepAfterSeconds 30: must be whole seconds from 1m to 24h"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to say %q", err, want)
		}
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered despite the error", n)
	}

	for _, tc := range []struct {
		issuer, audience, jwks string
		want                   string
	}{
		{"https://login.example.com/", "", "https://login.example.com/jwks", `jwtAudience "": jwtIssuer, jwtAudience and jwksUrl are set together`},
		{"login.example.com", "orders", "https://login.example.com/jwks", `jwtIssuer "login.example.com": must be an https URL`},
		{"https://login.example.com/", "orders", "http://login.example.com/jwks", `jwksUrl "http://login.example.com/jwks": must be an https URL`},
		{"https://login.example.com/", "orders", "https://login.example.com:8443/jwks", "must be on port 443"},
	} {
		_, err := awstest.Run(func(ctx *pulumi.Context) error {
			args := orderapi.ArgsOf(api, pipeline.OrderTable{})
			args.JwtIssuer, args.JwtAudience, args.JwksUrl = tc.issuer, tc.audience, tc.jwks
			_, err := orderapi.New(ctx, "api", &args)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("jwt args %q, %q, %q: error = %v, want it to say %q", tc.issuer, tc.audience, tc.jwks, err, tc.want)
		}
	}
}
