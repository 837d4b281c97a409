package enginetest_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dynamodb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	awsxecr "github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/enginetest"
)

var update = flag.Bool("update", false, "rewrite schema/*.json from the Go SDKs")

// typed is what a Go SDK's args and result types have: the Go type whose
// fields carry the `pulumi:"name"` tags.
type typed interface{ ElementType() reflect.Type }

// resources are the types the stand-in serves a schema for: every type
// linecook creates, each with its Go SDK resource and args, which were
// generated from the real provider's schema at the version go.mod pins.
var resources = map[string]struct {
	res  any
	args typed
}{
	awstest.AppAutoScalingPolicy:           {&appautoscaling.Policy{}, appautoscaling.PolicyArgs{}},
	awstest.AppAutoScalingTarget:           {&appautoscaling.Target{}, appautoscaling.TargetArgs{}},
	awstest.CloudWatchDashboard:            {&cloudwatch.Dashboard{}, cloudwatch.DashboardArgs{}},
	awstest.CloudWatchLogGroup:             {&cloudwatch.LogGroup{}, cloudwatch.LogGroupArgs{}},
	awstest.CloudWatchMetricAlarm:          {&cloudwatch.MetricAlarm{}, cloudwatch.MetricAlarmArgs{}},
	awstest.DynamoDBTable:                  {&dynamodb.Table{}, dynamodb.TableArgs{}},
	awstest.EC2Eip:                         {&ec2.Eip{}, ec2.EipArgs{}},
	awstest.EC2InternetGateway:             {&ec2.InternetGateway{}, ec2.InternetGatewayArgs{}},
	awstest.EC2NatGateway:                  {&ec2.NatGateway{}, ec2.NatGatewayArgs{}},
	enginetest.EC2Route:                    {&ec2.Route{}, ec2.RouteArgs{}},
	awstest.EC2RouteTable:                  {&ec2.RouteTable{}, ec2.RouteTableArgs{}},
	awstest.EC2RouteTableAssociation:       {&ec2.RouteTableAssociation{}, ec2.RouteTableAssociationArgs{}},
	awstest.EC2SecurityGroup:               {&ec2.SecurityGroup{}, ec2.SecurityGroupArgs{}},
	awstest.EC2Subnet:                      {&ec2.Subnet{}, ec2.SubnetArgs{}},
	awstest.EC2Vpc:                         {&ec2.Vpc{}, ec2.VpcArgs{}},
	awstest.EC2VpcEndpoint:                 {&ec2.VpcEndpoint{}, ec2.VpcEndpointArgs{}},
	enginetest.ECRLifecyclePolicy:          {&ecr.LifecyclePolicy{}, ecr.LifecyclePolicyArgs{}},
	awstest.ECRRepository:                  {&ecr.Repository{}, ecr.RepositoryArgs{}},
	awstest.ECSCluster:                     {&ecs.Cluster{}, ecs.ClusterArgs{}},
	enginetest.ECSClusterCapacityProviders: {&ecs.ClusterCapacityProviders{}, ecs.ClusterCapacityProvidersArgs{}},
	awstest.ECSService:                     {&ecs.Service{}, ecs.ServiceArgs{}},
	awstest.ECSTaskDefinition:              {&ecs.TaskDefinition{}, ecs.TaskDefinitionArgs{}},
	awstest.IAMRole:                        {&iam.Role{}, iam.RoleArgs{}},
	awstest.IAMRolePolicy:                  {&iam.RolePolicy{}, iam.RolePolicyArgs{}},
	awstest.LBListener:                     {&lb.Listener{}, lb.ListenerArgs{}},
	awstest.LBLoadBalancer:                 {&lb.LoadBalancer{}, lb.LoadBalancerArgs{}},
	awstest.LBTargetGroup:                  {&lb.TargetGroup{}, lb.TargetGroupArgs{}},
	awstest.SNSTopic:                       {&sns.Topic{}, sns.TopicArgs{}},
	awstest.SNSTopicSubscription:           {&sns.TopicSubscription{}, sns.TopicSubscriptionArgs{}},
	awstest.SQSQueue:                       {&sqs.Queue{}, sqs.QueueArgs{}},
	awstest.SQSRedriveAllowPolicy:          {&sqs.RedriveAllowPolicy{}, sqs.RedriveAllowPolicyArgs{}},
	awstest.VPCSecurityGroupEgressRule:     {&vpc.SecurityGroupEgressRule{}, vpc.SecurityGroupEgressRuleArgs{}},
	awstest.VPCSecurityGroupIngressRule:    {&vpc.SecurityGroupIngressRule{}, vpc.SecurityGroupIngressRuleArgs{}},
	awstest.AWSXECRImage:                   {&awsxecr.Image{}, awsxecr.ImageArgs{}},
	// The provider resource, whose inputs are also the package's config.
	"pulumi:providers:aws": {&aws.Provider{}, aws.ProviderArgs{}},
}

// functions are the invokes the stand-in answers (awstest.Mocks.Call),
// with their Go SDK args and results.
var functions = map[string]struct{ args, result any }{
	"aws:index/getAvailabilityZones:getAvailabilityZones": {aws.GetAvailabilityZonesArgs{}, aws.GetAvailabilityZonesResult{}},
	"aws:index/getCallerIdentity:getCallerIdentity":       {aws.GetCallerIdentityArgs{}, aws.GetCallerIdentityResult{}},
	"aws:index/getPartition:getPartition":                 {aws.GetPartitionArgs{}, aws.GetPartitionResult{}},
	"aws:index/getRegion:getRegion":                       {aws.GetRegionArgs{}, aws.GetRegionResult{}},
	"aws:ec2/getVpc:getVpc":                               {ec2.LookupVpcArgs{}, ec2.LookupVpcResult{}},
}

// TestSchema checks that the schemas the stand-in serves are the ones the
// Go SDKs in go.mod describe (go test -run TestSchema -update rewrites
// them), and that every type the stand-in gives a replace rule has one.
func TestSchema(t *testing.T) {
	for _, pkg := range []string{"aws", "awsx"} {
		want := generate(t, pkg)
		if *update {
			if err := os.WriteFile("schema/"+pkg+".json", want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := enginetest.Schema(pkg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("schema/%s.json is not what the Go SDKs describe: run go test ./components/enginetest -run TestSchema -update", pkg)
		}
	}
	for typ := range enginetest.ReplaceKeys {
		if _, ok := resources[typ]; !ok {
			t.Errorf("%s has replace keys but no schema: add it to resources", typ)
		}
	}
}

// generate builds pkg's schema: each resource's input and output property
// names and types, which inputs and outputs are required, and the
// functions' inputs and outputs. Descriptions are left out, and nested
// objects are typed as any value: the stand-in validates no shape.
func generate(t *testing.T, pkg string) []byte {
	t.Helper()
	version := enginetest.AWSVersion.String()
	if pkg == "awsx" {
		version = enginetest.AWSXVersion.String()
	}
	spec := map[string]any{
		"name":        pkg,
		"version":     version,
		"description": "The schema linecook's stand-in " + pkg + " provider serves (components/enginetest), generated from the " + pkg + " Go SDK.",
		"meta":        map[string]any{"moduleFormat": "(.*)(?:/[^/]*)"},
	}
	res, fns := map[string]any{}, map[string]any{}
	for typ, r := range resources {
		if provider, ok := strings.CutPrefix(typ, "pulumi:providers:"); ok {
			if provider == pkg {
				p := resourceSpec(r.res, r.args.ElementType())
				spec["provider"] = p
				spec["config"] = map[string]any{"variables": p["inputProperties"]}
			}
			continue
		}
		if !strings.HasPrefix(typ, pkg+":") {
			continue
		}
		s := resourceSpec(r.res, r.args.ElementType())
		if _, custom := r.res.(pulumi.CustomResource); !custom {
			s["isComponent"] = true
		}
		res[typ] = s
	}
	for tok, f := range functions {
		if strings.HasPrefix(tok, pkg+":") {
			in, inReq := objectSpec(reflect.TypeOf(f.args))
			out, outReq := objectSpec(reflect.TypeOf(f.result))
			fns[tok] = map[string]any{
				"inputs":  map[string]any{"type": "object", "properties": in, "required": inReq},
				"outputs": map[string]any{"type": "object", "properties": out, "required": outReq},
			}
		}
	}
	spec["resources"] = res
	if len(fns) > 0 {
		spec["functions"] = fns
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// resourceSpec describes a resource from its Go SDK type (its output
// fields) and its args' element type (its input fields).
func resourceSpec(res any, args reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	rt := reflect.TypeOf(res).Elem()
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, ok := tag(f)
		if !ok {
			continue
		}
		out, ok := reflect.Zero(f.Type).Interface().(typed)
		if !ok {
			continue
		}
		et := out.ElementType()
		props[name] = typeSpec(et)
		if et.Kind() != reflect.Pointer {
			required = append(required, name)
		}
	}
	inputs, requiredInputs := objectSpec(args)
	slices.Sort(required)
	return map[string]any{
		"properties": props, "required": required,
		"inputProperties": inputs, "requiredInputs": requiredInputs,
	}
}

// objectSpec describes a struct's tagged fields; a field that is neither
// a pointer, a slice nor a map is required, as the SDK generator makes it.
func objectSpec(st reflect.Type) (map[string]any, []string) {
	props := map[string]any{}
	required := []string{}
	for i := range st.NumField() {
		f := st.Field(i)
		name, ok := tag(f)
		if !ok {
			continue
		}
		props[name] = typeSpec(f.Type)
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		default:
			required = append(required, name)
		}
	}
	slices.Sort(required)
	return props, required
}

func tag(f reflect.StructField) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get("pulumi"), ",")
	return name, name != ""
}

// typeSpec is a Go SDK type's schema type. Objects are any value: the
// YAML host then checks property names at the top level only.
func typeSpec(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		return typeSpec(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": typeSpec(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSpec(t.Elem())}
	}
	return map[string]any{"$ref": "pulumi.json#/Any"}
}
