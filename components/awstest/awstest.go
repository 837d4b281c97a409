// Package awstest stands in for AWS under pulumi.WithMocks: it answers the
// engine's resource registrations and invokes the way the AWS provider
// would (ids, ARNs, URLs, names), records every registration, and lets
// tests assert on the resulting resource graph. No AWS, no Pulumi CLI and
// no provider plugin is involved.
package awstest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The fake account's coordinates.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
	Project   = "linecook"
	Stack     = "test"
)

// Resource is one registration the program made.
type Resource struct {
	Type, Name, URN, Parent string
	// Custom is false for component resources.
	Custom bool
	// Inputs are the registered inputs, secrets and outputs unwrapped.
	Inputs map[string]any
	// Outputs are what the fake returned (inputs plus computed values),
	// and the id under "id".
	Outputs       map[string]any
	IgnoreChanges []string
	// DependsOn are the URNs the engine would order this resource after:
	// explicit dependencies and those its inputs carry.
	DependsOn []string
}

// Mocks implements pulumi.MockResourceMonitor.
type Mocks struct {
	mu        sync.Mutex
	resources []Resource
	// AZs are the availability zones getAvailabilityZones returns.
	AZs []string
}

// New returns a fake AWS account with six availability zones.
func New() *Mocks {
	return &Mocks{AZs: []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"}}
}

// Run runs program against a fresh fake and returns it with the program's
// error. RunErr waits for every pending Apply, so values captured in
// callbacks are final when it returns.
func Run(program pulumi.RunFunc) (*Mocks, error) {
	m := New()
	err := pulumi.RunErr(program, pulumi.WithMocks(Project, Stack, m))
	return m, err
}

// SetConfig sets the stack configuration the next Run sees, the way the
// Pulumi CLI hands it to a Go program: PULUMI_CONFIG, a JSON object of
// "namespace:key" to string. It is restored when the test ends; tests that
// use it cannot run in parallel.
func SetConfig(t testing.TB, values map[string]string) {
	t.Helper()
	b, err := json.Marshal(values)
	if err != nil {
		t.Fatalf("encode config: %v", err)
	}
	t.Setenv(pulumi.EnvConfig, string(b))
}

// UnsetConfig removes PULUMI_CONFIG for the rest of the test.
func UnsetConfig(t testing.TB) {
	t.Helper()
	t.Setenv(pulumi.EnvConfig, "")
	os.Unsetenv(pulumi.EnvConfig)
}

// NewResource records the registration and returns fake outputs.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	inputs := Plain(args.Inputs)
	outputs := map[string]any{}
	for k, v := range inputs {
		outputs[k] = v
	}
	id := Fake(args.TypeToken, args.Name, outputs)
	state := resource.NewPropertyMapFromMap(outputs)
	recorded := maps.Clone(outputs)
	recorded["id"] = id
	r := Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: inputs, Outputs: recorded}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.URN = urn(rpc.GetParent(), args.TypeToken, args.Name)
		deps := map[string]bool{}
		for _, d := range rpc.GetDependencies() {
			deps[d] = true
		}
		for _, pd := range rpc.GetPropertyDependencies() {
			for _, d := range pd.GetUrns() {
				deps[d] = true
			}
		}
		r.DependsOn = slices.Sorted(maps.Keys(deps))
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return id, state, nil
}

// urn mirrors the mock monitor's URN scheme, so Parent fields match URNs.
func urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(Stack), tokens.PackageName(Project), parentType, tokens.Type(typ), name))
}

// Call answers the invokes linecook's components make.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	in := Plain(args.Args)
	var out map[string]any
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		var ids []any
		var names []any
		for i, az := range m.AZs {
			names = append(names, az)
			ids = append(ids, fmt.Sprintf("use1-az%d", i+1))
		}
		out = map[string]any{"id": Region, "names": names, "zoneIds": ids}
	case "aws:index/getRegion:getRegion":
		out = map[string]any{"id": Region, "name": Region, "endpoint": "ec2." + Region + ".amazonaws.com", "description": "US East (N. Virginia)"}
	case "aws:index/getCallerIdentity:getCallerIdentity":
		out = map[string]any{"id": AccountID, "accountId": AccountID, "arn": "arn:aws:iam::" + AccountID + ":user/test", "userId": "AIDTEST"}
	case "aws:index/getPartition:getPartition":
		out = map[string]any{"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}
	case "aws:ec2/getVpc:getVpc":
		id, _ := in["id"].(string)
		out = map[string]any{"id": id, "cidrBlock": "172.31.0.0/16", "arn": "arn:aws:ec2:" + Region + ":" + AccountID + ":vpc/" + id}
	default:
		return nil, fmt.Errorf("awstest: no answer for invoke %s", args.Token)
	}
	return resource.NewPropertyMapFromMap(out), nil
}

// Resources returns every registration, in order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.resources)
}

// OfType returns the registrations of one type token.
func (m *Mocks) OfType(typ string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the registration of type typ named name.
func (m *Mocks) Find(typ, name string) (Resource, bool) {
	for _, r := range m.Resources() {
		if r.Type == typ && r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// Children returns the resources registered with parent as their parent.
func (m *Mocks) Children(parent Resource) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Parent == parent.URN {
			out = append(out, r)
		}
	}
	return out
}

// Descendants returns the resources below parent, at any depth.
func (m *Mocks) Descendants(parent Resource) []Resource {
	var out []Resource
	for _, c := range m.Children(parent) {
		out = append(out, c)
		out = append(out, m.Descendants(c)...)
	}
	return out
}

// Counts returns how many resources of each type were registered.
func (m *Mocks) Counts() map[string]int {
	out := map[string]int{}
	for _, r := range m.Resources() {
		out[r.Type]++
	}
	return out
}

// CountsUnder counts parent's descendants by type.
func (m *Mocks) CountsUnder(parent Resource) map[string]int {
	out := map[string]int{}
	for _, r := range m.Descendants(parent) {
		out[r.Type]++
	}
	return out
}

// ByOutput finds the resource whose output key holds value (an id, an
// ARN...): how a test follows a reference from one resource to another.
func (m *Mocks) ByOutput(key, value string) (Resource, bool) {
	for _, r := range m.Resources() {
		if v, ok := r.Outputs[key].(string); ok && v == value {
			return r, true
		}
	}
	return Resource{}, false
}

// ID returns the id the fake gave the resource.
func (r Resource) ID() string { s, _ := r.Outputs["id"].(string); return s }

// String returns the string input at a dotted path ("healthCheck.path").
func (r Resource) String(path string) string { s, _ := r.Get(path).(string); return s }

// Number returns the number input at path.
func (r Resource) Number(path string) float64 { n, _ := r.Get(path).(float64); return n }

// Bool returns the bool input at path.
func (r Resource) Bool(path string) bool { b, _ := r.Get(path).(bool); return b }

// List returns the list input at path.
func (r Resource) List(path string) []any { l, _ := r.Get(path).([]any); return l }

// Strings returns the list of strings input at path.
func (r Resource) Strings(path string) []string {
	var out []string
	for _, v := range r.List(path) {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// Get returns the input at a dotted path; list items by index ("steps.0").
func (r Resource) Get(path string) any {
	var cur any = r.Inputs
	for _, part := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[part]
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i < 0 || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

// JSON decodes the string input at path as JSON into v.
func (r Resource) JSON(path string, v any) error {
	s := r.String(path)
	if s == "" {
		return fmt.Errorf("%s %s: no %s", r.Type, r.Name, path)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%s %s: %s is not JSON: %w", r.Type, r.Name, path, err)
	}
	return nil
}

// Plain turns a property map into ordinary Go values, unwrapping secrets
// and outputs; unknown values become nil.
func Plain(pm resource.PropertyMap) map[string]any {
	var unwrap func(v resource.PropertyValue) (any, bool)
	unwrap = func(v resource.PropertyValue) (any, bool) {
		switch {
		case v.IsSecret():
			return v.SecretValue().Element.MapRepl(nil, unwrap), true
		case v.IsOutput():
			return v.OutputValue().Element.MapRepl(nil, unwrap), true
		case v.IsComputed():
			return nil, true
		}
		return nil, false
	}
	return pm.MapRepl(nil, unwrap)
}
