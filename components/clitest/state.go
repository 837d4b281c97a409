package clitest

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// Resource is one resource of the stack, as `pulumi stack export` shows
// it, with secrets in plain text.
type Resource struct {
	URN, Type, Name, ID string
	// Parent is the parent's URN: the stack's for a top-level resource.
	Parent string
	// Custom is false for components and the stack.
	Custom bool
	// Provider is the provider reference (URN::id) that manages it.
	Provider        string
	Inputs, Outputs map[string]any
	Dependencies    []string
}

// secretSig marks a secret in a deployment's JSON; with --show-secrets its
// value is in "plaintext", as JSON.
const (
	secretSigKey = "4dabf18193072939515e22adb298388d"
	secretSig    = "1b47061264138c4ac30d75fd1eb44270"
)

// Export returns every resource of the stack's last deployment (`pulumi
// stack export --show-secrets`), the stack and providers included.
func (s *Stack) Export() []Resource {
	s.t.Helper()
	out, err := s.Run("stack", "export", "--show-secrets")
	if err != nil {
		s.t.Fatal(err)
	}
	var d struct {
		Deployment apitype.DeploymentV3 `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		s.t.Fatalf("clitest: stack export: %v", err)
	}
	var rs []Resource
	for _, r := range d.Deployment.Resources {
		if r.Delete {
			continue
		}
		res := Resource{
			URN: string(r.URN), Type: string(r.Type), Name: urnName(string(r.URN)), ID: string(r.ID),
			Parent: string(r.Parent), Custom: r.Custom, Provider: r.Provider,
			Inputs: reveal(r.Inputs).(map[string]any), Outputs: reveal(r.Outputs).(map[string]any),
		}
		for _, d := range r.Dependencies {
			res.Dependencies = append(res.Dependencies, string(d))
		}
		rs = append(rs, res)
	}
	return rs
}

// Resources returns the resources the program manages: the export less
// the stack and the providers.
func (s *Stack) Resources() []Resource {
	s.t.Helper()
	return slices.DeleteFunc(s.Export(), func(r Resource) bool {
		return r.Type == "pulumi:pulumi:Stack" || strings.HasPrefix(r.Type, "pulumi:providers:")
	})
}

// Find returns the stack's resources of type typ; with names, only those
// whose logical name is one of them.
func (s *Stack) Find(typ string, names ...string) []Resource {
	s.t.Helper()
	return slices.DeleteFunc(s.Resources(), func(r Resource) bool {
		return r.Type != typ || (len(names) > 0 && !slices.Contains(names, r.Name))
	})
}

// Outputs returns the stack's outputs (`pulumi stack output --json
// --show-secrets`).
func (s *Stack) Outputs() map[string]any {
	s.t.Helper()
	out, err := s.Run("stack", "output", "--json", "--show-secrets")
	if err != nil {
		s.t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		s.t.Fatalf("clitest: stack output: %v", err)
	}
	return m
}

// reveal replaces the secrets in v with their plain values; a nil map
// becomes an empty one.
func reveal(v any) any {
	switch v := v.(type) {
	case nil:
		return map[string]any{}
	case map[string]any:
		if v[secretSigKey] == secretSig {
			var plain any
			if s, ok := v["plaintext"].(string); ok && json.Unmarshal([]byte(s), &plain) == nil {
				return reveal1(plain)
			}
			return v
		}
		for k, e := range v {
			v[k] = reveal1(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = reveal1(e)
		}
		return v
	}
	return v
}

// reveal1 is reveal for a value inside a map or list, where nil stays nil.
func reveal1(v any) any {
	if v == nil {
		return nil
	}
	return reveal(v)
}
