package enginetest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/pkg/v3/resource/deploy/deploytest"
	"github.com/pulumi/pulumi/pkg/v3/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
)

// AnyChange marks a type every change of which replaces it.
const AnyChange = "*"

// ReplaceKeys lists, by type, the input properties AWS cannot change in
// place: a change to one makes the stand-in's Diff ask for a replacement
// (ReplaceKeys), so the engine replaces where AWS would. Any other change
// is an in-place update. Types not listed update in place.
//
// The first group is what the burger stack's resources are checked
// against; the second completes the types linecook creates with the
// properties the AWS provider also marks as forcing a new resource.
var ReplaceKeys = map[string][]string{
	awstest.SQSQueue:              {"name", "namePrefix", "fifoQueue"},
	awstest.DynamoDBTable:         {"name", "hashKey", "rangeKey"},
	awstest.ECSService:            {"name", "cluster", "launchType"},
	awstest.ECSCluster:            {"name"},
	awstest.EC2Subnet:             {"cidrBlock", "vpcId", "availabilityZone"},
	awstest.EC2Vpc:                {"cidrBlock"},
	awstest.LBLoadBalancer:        {"name", "namePrefix", "internal", "loadBalancerType"},
	awstest.AppAutoScalingTarget:  {"resourceId", "scalableDimension", "serviceNamespace"},
	awstest.AppAutoScalingPolicy:  {"name", "resourceId", "policyType"},
	awstest.CloudWatchMetricAlarm: {"name"},
	awstest.IAMRole:               {"name", "namePrefix"},
	// A task definition revision is immutable: any change registers a new
	// revision (a new ARN) and deregisters the old one.
	awstest.ECSTaskDefinition:  {AnyChange},
	awstest.CloudWatchLogGroup: {"name", "namePrefix"},

	awstest.EC2SecurityGroup:            {"name", "namePrefix", "vpcId", "description"},
	awstest.VPCSecurityGroupIngressRule: {"securityGroupId"},
	awstest.VPCSecurityGroupEgressRule:  {"securityGroupId"},
	awstest.EC2RouteTable:               {"vpcId"},
	awstest.EC2RouteTableAssociation:    {"subnetId", "gatewayId"},
	EC2Route:                            {"routeTableId", "destinationCidrBlock"},
	awstest.EC2NatGateway:               {"allocationId", "subnetId", "connectivityType"},
	awstest.EC2Eip:                      {"domain"},
	awstest.EC2VpcEndpoint:              {"vpcId", "serviceName", "vpcEndpointType"},
	awstest.LBTargetGroup:               {"name", "namePrefix", "port", "protocol", "vpcId", "targetType"},
	awstest.LBListener:                  {"loadBalancerArn"},
	awstest.IAMRolePolicy:               {"name", "namePrefix", "role"},
	awstest.SNSTopic:                    {"name", "namePrefix", "fifoTopic"},
	awstest.SNSTopicSubscription:        {"topic", "protocol", "endpoint"},
	awstest.SQSRedriveAllowPolicy:       {"queueUrl"},
	awstest.ECRRepository:               {"name"},
	ECRLifecyclePolicy:                  {"repository"},
	ECSClusterCapacityProviders:         {"clusterName"},
	awstest.CloudWatchDashboard:         {"dashboardName"},
}

// Type tokens the stand-in knows that awstest does not name.
const (
	EC2Route                    = "aws:ec2/route:Route"
	ECRLifecyclePolicy          = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
	ECSClusterCapacityProviders = "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"
)

// deletionProtection names, by type, the output that makes AWS refuse a
// delete while it is true.
var deletionProtection = map[string]string{
	awstest.DynamoDBTable:  "deletionProtectionEnabled",
	awstest.LBLoadBalancer: "enableDeletionProtection",
}

// Call is one provider operation the stand-in performed (not previews).
type Call struct {
	// Op is "create", "update", "delete", "read" or "construct".
	Op   string       `json:"op"`
	Type string       `json:"type"`
	URN  resource.URN `json:"urn"`
	ID   string       `json:"id,omitempty"`
	// Inputs are the new inputs (the old outputs for a delete).
	Inputs map[string]any `json:"inputs,omitempty"`
}

// StandIn is the recording stand-in for the aws and awsx providers. One
// serves a harness's whole life, so what it recorded and the task
// definition revisions it handed out carry over between operations; the
// engine gets a fresh provider object on every load. It is safe for the
// engine's parallel steps.
type StandIn struct {
	mu        sync.Mutex
	calls     []Call
	revisions map[string]int
	invokes   *awstest.Mocks
	latency   map[string]time.Duration
	journal   *os.File // see Journal
}

// NewStandIn returns a stand-in that has recorded nothing. Harness makes
// its own; this is for serving the stand-in as a plugin binary (Provider).
func NewStandIn() *StandIn {
	return &StandIn{revisions: map[string]int{}, invokes: awstest.New(), latency: map[string]time.Duration{}}
}

// wait takes the time a create or delete of typ is set to take.
func (s *StandIn) wait(typ string) {
	if d := s.latency[typ]; d > 0 {
		time.Sleep(d)
	}
}

// Calls returns the operations performed so far, in order.
func (s *StandIn) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// record adds c to the calls, and to the journal if there is one. A call
// the journal failed to take fails, so no test reads a journal with a gap.
func (s *StandIn) record(c Call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	if s.journal != nil {
		return s.append(c)
	}
	return nil
}

func (s *StandIn) provider() *deploytest.Provider {
	return &deploytest.Provider{
		DiffF:      diff,
		CreateF:    s.create,
		UpdateF:    s.update,
		DeleteF:    s.delete,
		ReadF:      s.read,
		InvokeF:    s.invoke,
		ConstructF: s.construct,
	}
}

// diff compares old inputs with new ones, and asks for a replacement when
// a changed property is one AWS cannot update in place.
func diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResult, error) {
	d := req.OldInputs.Diff(req.NewInputs)
	if d == nil || !d.AnyChanges() {
		return plugin.DiffResult{Changes: plugin.DiffNone}, nil
	}
	changed := d.ChangedKeys()
	slices.Sort(changed)
	forcing := ReplaceKeys[string(req.Type)]
	var replace []resource.PropertyKey
	for _, k := range changed {
		if slices.Contains(forcing, AnyChange) || slices.Contains(forcing, string(k)) {
			replace = append(replace, k)
		}
	}
	return plugin.DiffResult{Changes: plugin.DiffSome, ChangedKeys: changed, ReplaceKeys: replace}, nil
}

func (s *StandIn) create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	typ := string(req.Type)
	if req.Preview {
		return plugin.CreateResponse{Properties: previewOutputs(typ, req.Name, req.Properties, nil)}, nil
	}
	out := awstest.Plain(req.Properties)
	id := awstest.Fake(typ, req.Name, out)
	if typ == awstest.ECSTaskDefinition {
		id = s.register(out)
	}
	if id == "" {
		return plugin.CreateResponse{}, fmt.Errorf("enginetest: no id for %s %s", typ, req.Name)
	}
	s.wait(typ)
	if err := s.record(Call{Op: "create", Type: typ, URN: req.URN, ID: id, Inputs: awstest.Plain(req.Properties)}); err != nil {
		return plugin.CreateResponse{}, err
	}
	return plugin.CreateResponse{ID: resource.ID(id), Properties: resource.NewPropertyMapFromMap(out), Status: resource.StatusOK}, nil
}

// register gives a task definition the family's next revision, as ECS
// does: a replacement is a new revision with a new ARN.
func (s *StandIn) register(out map[string]any) string {
	family, _ := out["family"].(string)
	s.mu.Lock()
	s.revisions[family]++
	rev := s.revisions[family]
	s.mu.Unlock()
	base, _ := out["arnWithoutRevision"].(string)
	out["revision"] = float64(rev)
	out["arn"] = base + ":" + strconv.Itoa(rev)
	return out["arn"].(string)
}

func (s *StandIn) update(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	typ := string(req.Type)
	if req.Preview {
		return plugin.UpdateResponse{Properties: previewOutputs(typ, req.Name, req.NewInputs, req.OldOutputs), Status: resource.StatusOK}, nil
	}
	out := awstest.Plain(req.NewInputs)
	awstest.Fake(typ, req.Name, out)
	// What AWS computed when it created the resource (ARN, revision...)
	// does not change on an update.
	old := awstest.Plain(req.OldOutputs)
	for k := range out {
		if _, input := req.NewInputs[resource.PropertyKey(k)]; !input {
			if v, ok := old[k]; ok {
				out[k] = v
			}
		}
	}
	if err := s.record(Call{Op: "update", Type: typ, URN: req.URN, ID: string(req.ID), Inputs: awstest.Plain(req.NewInputs)}); err != nil {
		return plugin.UpdateResponse{}, err
	}
	return plugin.UpdateResponse{Properties: resource.NewPropertyMapFromMap(out), Status: resource.StatusOK}, nil
}

// previewOutputs is what a provider answers in a preview: the inputs as
// given (unknowns stay unknown), and every value AWS would compute
// unknown, or kept from the old state for an update.
func previewOutputs(typ, name string, inputs, old resource.PropertyMap) resource.PropertyMap {
	out := awstest.Plain(inputs)
	awstest.Fake(typ, name, out)
	props := inputs.Copy()
	for k := range out {
		key := resource.PropertyKey(k)
		if _, ok := inputs[key]; ok {
			continue
		}
		if v, ok := old[key]; ok {
			props[key] = v
		} else {
			props[key] = resource.MakeComputed(resource.NewProperty(""))
		}
	}
	return props
}

func (s *StandIn) delete(_ context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	typ := string(req.Type)
	if key, ok := deletionProtection[typ]; ok {
		if v := req.Outputs[resource.PropertyKey(key)]; v.IsBool() && v.BoolValue() {
			// AWS answers ValidationException and the resource stays.
			return plugin.DeleteResponse{Status: resource.StatusOK}, fmt.Errorf(
				"deleting %s %s: ValidationException: resource cannot be deleted as it is currently protected against deletion (%s is true): disable deletion protection first",
				typ, req.ID, key)
		}
	}
	s.wait(typ)
	if err := s.record(Call{Op: "delete", Type: typ, URN: req.URN, ID: string(req.ID), Inputs: awstest.Plain(req.Outputs)}); err != nil {
		return plugin.DeleteResponse{}, err
	}
	return plugin.DeleteResponse{Status: resource.StatusOK}, nil
}

// read returns the state the engine already has: nothing changes behind
// the stand-in's back.
func (s *StandIn) read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	if err := s.record(Call{Op: "read", Type: string(req.Type), URN: req.URN, ID: string(req.ID)}); err != nil {
		return plugin.ReadResponse{}, err
	}
	state, inputs := req.State, req.Inputs
	if state == nil {
		state = resource.PropertyMap{}
	}
	if inputs == nil {
		inputs = resource.PropertyMap{}
	}
	return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: req.ID, Outputs: state, Inputs: inputs}, Status: resource.StatusOK}, nil
}

// invoke answers the data sources linecook reads with awstest's answers
// (getAvailabilityZones, getRegion, getCallerIdentity, getPartition,
// getVpc); any other is an error naming it.
func (s *StandIn) invoke(_ context.Context, req plugin.InvokeRequest) (plugin.InvokeResponse, error) {
	out, err := s.invokes.Call(pulumi.MockCallArgs{Token: string(req.Tok), Args: resource.ToResourcePropertyMap(req.Args)})
	if err != nil {
		return plugin.InvokeResponse{}, fmt.Errorf("enginetest: %w", err)
	}
	return plugin.InvokeResponse{Properties: resource.FromResourcePropertyMap(out)}, nil
}

// construct stands in for awsx's remote components. awsx:ecr:Image builds
// and pushes an image: here it registers the component with no children
// and an imageUri in the repository (unknown while the repository URL is).
func (s *StandIn) construct(_ context.Context, req plugin.ConstructRequest, monitor *deploytest.ResourceMonitor) (plugin.ConstructResponse, error) {
	typ := string(req.Type)
	if typ != awstest.AWSXECRImage {
		return plugin.ConstructResponse{}, fmt.Errorf("enginetest: no stand-in for the remote component %s", typ)
	}
	repo := req.Inputs["repositoryUrl"]
	var deps []resource.URN
	if repo.IsOutput() {
		deps = repo.OutputValue().Dependencies
	}
	resp, err := monitor.RegisterResource(tokens.Type(typ), req.Name, false, deploytest.ResourceOptions{
		Parent:       req.Parent,
		Dependencies: req.Options.Dependencies,
		Protect:      req.Options.Protect,
	})
	if err != nil {
		return plugin.ConstructResponse{}, err
	}
	uri := resource.MakeComputed(resource.NewProperty(""))
	if known(repo) {
		out := awstest.Plain(req.Inputs)
		awstest.Fake(typ, req.Name, out)
		uri = resource.NewProperty(out["imageUri"].(string))
	}
	outputs := resource.PropertyMap{"imageUri": uri}
	if err := monitor.RegisterResourceOutputs(resp.URN, outputs); err != nil {
		return plugin.ConstructResponse{}, err
	}
	if !req.Info.DryRun {
		if err := s.record(Call{Op: "construct", Type: typ, URN: resp.URN, Inputs: awstest.Plain(req.Inputs)}); err != nil {
			return plugin.ConstructResponse{}, err
		}
	}
	return plugin.ConstructResponse{
		URN:                resp.URN,
		Outputs:            resource.FromResourcePropertyMap(outputs),
		OutputDependencies: map[resource.PropertyKey][]resource.URN{"imageUri": deps},
	}, nil
}

// known reports whether v is a known value, looking through outputs and
// secrets.
func known(v resource.PropertyValue) bool {
	switch {
	case v.IsComputed():
		return false
	case v.IsOutput():
		return v.OutputValue().Known && known(v.OutputValue().Element)
	case v.IsSecret():
		return known(v.SecretValue().Element)
	}
	return !v.IsNull()
}

// ReplaceTable renders ReplaceKeys as a sorted "type: keys" list, for
// documentation and logs.
func ReplaceTable() string {
	var lines []string
	for _, typ := range slices.Sorted(maps.Keys(ReplaceKeys)) {
		lines = append(lines, typ+": "+strings.Join(ReplaceKeys[typ], ", "))
	}
	return strings.Join(lines, "\n")
}
