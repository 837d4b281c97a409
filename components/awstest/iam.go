package awstest

import (
	"slices"
	"testing"

	"github.com/linecook/linecook/components/internal/iampolicy"
)

// Grants returns what the IAM role named role may do: each action its
// inline policies allow, with the resources, sorted. It fails the test if
// there is no such role or a policy does not parse.
func (m *Mocks) Grants(t testing.TB, role string) map[string][]string {
	t.Helper()
	r, ok := m.Find(IAMRole, role)
	if !ok {
		t.Fatalf("no role %s", role)
	}
	out := map[string][]string{}
	for _, p := range m.OfType(IAMRolePolicy) {
		if p.String("role") != r.ID() {
			continue
		}
		doc, err := iampolicy.Parse(p.String("policy"))
		if err != nil {
			t.Fatalf("role %s: %v", role, err)
		}
		for _, s := range doc.Statement {
			if s.Effect != "Allow" {
				continue
			}
			for _, a := range s.Action {
				out[a] = append(out[a], s.Resource...)
				slices.Sort(out[a])
			}
		}
	}
	return out
}

// Policy parses an IAM policy document as the components render it, for
// tests outside components/ that check a policy's statements.
func Policy(s string) (iampolicy.Document, error) { return iampolicy.Parse(s) }
