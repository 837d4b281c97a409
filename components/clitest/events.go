package clitest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// The engine's step ops a test meets (the same values as enginetest's).
// A replacement is three steps on one URN: create-replacement, replace
// (the logical one, counted) and delete-replaced.
const (
	OpSame              = "same"
	OpCreate            = "create"
	OpUpdate            = "update"
	OpReplace           = "replace"
	OpDelete            = "delete"
	OpCreateReplacement = "create-replacement"
	OpDeleteReplaced    = "delete-replaced"
	OpRead              = "read"
)

// Result is what one CLI command did, from the engine events it logged
// (`--event-log`).
type Result struct {
	// Op is "up", "preview" or "destroy".
	Op string
	// Steps are the engine's steps, in the order they began. They include
	// the engine's own default providers (pulumi:providers:<pkg>, named
	// default...), which `pulumi up` does not show.
	Steps []Step
	// Changes are the CLI's summary: logical steps by op.
	Changes Counts
	// Diagnostics are the engine's, the program's and the providers'
	// warnings and errors.
	Diagnostics []string
	// Stdout and Stderr are what the CLI printed.
	Stdout, Stderr string
	// Err is the CLI's failure, with what it printed.
	Err      error
	Duration time.Duration
}

// Step is one step the engine took, from its resource-pre and
// resource-outputs events.
type Step struct {
	Op     string
	URN    string
	Type   string
	Name   string
	Parent string
	// Custom is false for components and the stack.
	Custom bool
	// Logical is false for the create and delete halves of a replacement.
	Logical bool
	// Keys are the properties that forced a replacement; Diffs those that
	// changed.
	Keys, Diffs []string
	// Old and New are the resource's state before and after the step (nil
	// when there is none). Secrets show as "[secret]".
	Old, New *State
	// Done is set when the engine reported the step complete, Failed
	// when it reported it failed.
	Done, Failed bool
}

// State is a resource's state as a step reports it.
type State struct {
	ID              string
	Inputs, Outputs map[string]any
}

// Counts are logical steps by op.
type Counts struct {
	Create, Update, Replace, Delete, Same int
}

func (c Counts) String() string {
	return fmt.Sprintf("create=%d update=%d replace=%d delete=%d same=%d", c.Create, c.Update, c.Replace, c.Delete, c.Same)
}

// Internal reports whether s is the engine's own bookkeeping (a default
// provider), which `pulumi up` does not show or count.
func (s Step) Internal() bool {
	return strings.HasPrefix(s.Type, "pulumi:providers:") && strings.HasPrefix(s.Name, "default")
}

// Counted reports whether the CLI's summary counts s.
func (s Step) Counted() bool { return s.Logical && !s.Internal() }

// Ops returns each URN's logical op.
func (r *Result) Ops() map[string]string {
	out := map[string]string{}
	for _, s := range r.Steps {
		if s.Counted() {
			out[s.URN] = s.Op
		}
	}
	return out
}

// Changed returns the counted steps that are not "same".
func (r *Result) Changed() []Step {
	var out []Step
	for _, s := range r.Steps {
		if s.Counted() && s.Op != OpSame {
			out = append(out, s)
		}
	}
	return out
}

// Step returns the step with op on the resource named name (its URN's
// last part).
func (r *Result) Step(name, op string) (Step, bool) {
	for _, s := range r.Steps {
		if s.Name == name && s.Op == op {
			return s, true
		}
	}
	return Step{}, false
}

// Summary lists the changed steps, one a line ("update aws:sqs/queue:Queue
// orders [visibilityTimeoutSeconds]"), for failure messages and logs.
func (r *Result) Summary() string {
	var lines []string
	for _, s := range r.Changed() {
		line := fmt.Sprintf("%s %s %s", s.Op, s.Type, s.Name)
		if len(s.Keys) > 0 {
			line += fmt.Sprintf(" replace-keys=%v", s.Keys)
		} else if len(s.Diffs) > 0 {
			line += fmt.Sprintf(" %v", s.Diffs)
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// readEvents reads the event log the CLI wrote: one apitype.EngineEvent a
// line. `pulumi up` writes its preview's events and then, over them, its
// update's, so the log holds one run.
func (r *Result) readEvents(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	open := map[string]int{} // URN + op → index in r.Steps
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		var e apitype.EngineEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("clitest: event log %s line %d: %w", path, n, err)
		}
		switch {
		case e.ResourcePreEvent != nil:
			s := stepOf(e.ResourcePreEvent.Metadata)
			open[s.URN+" "+s.Op] = len(r.Steps)
			r.Steps = append(r.Steps, s)
		case e.ResOutputsEvent != nil:
			m := e.ResOutputsEvent.Metadata
			if i, ok := open[m.URN+" "+string(m.Op)]; ok {
				r.Steps[i].Done = true
				if m.New != nil {
					r.Steps[i].New = stateOf(m.New)
				}
			}
		case e.ResOpFailedEvent != nil:
			m := e.ResOpFailedEvent.Metadata
			if i, ok := open[m.URN+" "+string(m.Op)]; ok {
				r.Steps[i].Failed = true
			}
		case e.DiagnosticEvent != nil:
			d := e.DiagnosticEvent
			if d.Severity == "warning" || d.Severity == "error" {
				msg := strings.TrimSpace(d.Message)
				if d.URN != "" {
					msg = d.URN + " " + msg
				}
				r.Diagnostics = append(r.Diagnostics, d.Severity+": "+msg)
			}
		case e.SummaryEvent != nil:
			c := e.SummaryEvent.ResourceChanges
			r.Changes = Counts{
				Create: c[apitype.OpCreate], Update: c[apitype.OpUpdate], Replace: c[apitype.OpReplace],
				Delete: c[apitype.OpDelete], Same: c[apitype.OpSame],
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("clitest: event log %s: %w", path, err)
	}
	return nil
}

func stepOf(m apitype.StepEventMetadata) Step {
	s := Step{Op: string(m.Op), URN: m.URN, Type: m.Type, Name: urnName(m.URN), Logical: m.Logical,
		Keys: m.Keys, Diffs: m.Diffs, Old: stateOf(m.Old), New: stateOf(m.New)}
	for _, st := range []*apitype.StepEventStateMetadata{m.New, m.Old} {
		if st != nil {
			s.Parent, s.Custom = st.Parent, st.Custom
			break
		}
	}
	return s
}

func stateOf(m *apitype.StepEventStateMetadata) *State {
	if m == nil {
		return nil
	}
	return &State{ID: m.ID, Inputs: m.Inputs, Outputs: m.Outputs}
}

// urnName is a URN's last part, the resource's logical name.
func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}
