package enginetest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/pkg/v3/engine"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/linecook/linecook/components/awstest"
)

// The engine's step ops (display.StepOp values) a test meets. A
// replacement is three steps on one URN: create-replacement, replace (the
// logical one, counted) and delete-replaced.
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

// Result is what one operation did, as the engine reported it.
type Result struct {
	// Op is "up" or "destroy".
	Op string
	// Steps are the engine's steps, in the order they began.
	Steps []Step
	// Snapshot is the stack's state after the operation.
	Snapshot *deploy.Snapshot
	// Diagnostics are the engine's and program's warnings and errors.
	Diagnostics []string
	// Err is the engine's error, if the operation failed.
	Err      error
	Duration time.Duration
}

// Step is one step the engine took, from its ResourcePreEvent and
// ResourceOutputsEvent.
type Step struct {
	Op     string
	URN    resource.URN
	Type   string
	Name   string
	Parent resource.URN
	// Custom is false for components and the stack.
	Custom bool
	// Logical is the engine's own flag: false for the create and delete
	// halves of a replacement. The engine's summary counts logical steps.
	Logical bool
	// Internal marks the engine's bookkeeping steps (default providers),
	// which `pulumi up` does not show.
	Internal bool
	// Keys are the properties that forced a replacement; Diffs those that
	// changed.
	Keys, Diffs []string
	// Old and New are the resource's state before and after the step
	// (nil when there is none): inputs and outputs as plain Go values.
	Old, New *State
	// Begin and End are the positions (from 1) in the engine's event stream
	// of the step's start and of its completion (End is 0 if no completion
	// was reported: a failed step, or a component whose outputs came
	// later). A step that began after another ended ran after it.
	Begin, End int
	// Failed is set when the engine reported the step failed.
	Failed bool
}

// State is a resource's state as a step reports it.
type State struct {
	ID              string
	Inputs, Outputs map[string]any
	Protect         bool
}

// Counts are a result's logical steps by op, as `pulumi up` summarises
// them (default providers and the halves of replacements left out).
type Counts struct {
	Create, Update, Replace, Delete, Same int
}

func (c Counts) String() string {
	return fmt.Sprintf("create=%d update=%d replace=%d delete=%d same=%d", c.Create, c.Update, c.Replace, c.Delete, c.Same)
}

// Counted reports whether the engine's summary counts s.
func (s Step) Counted() bool { return s.Logical && !s.Internal }

// Counts counts the result's logical steps.
func (r *Result) Counts() Counts {
	var c Counts
	for _, s := range r.Steps {
		if !s.Counted() {
			continue
		}
		switch s.Op {
		case OpCreate:
			c.Create++
		case OpUpdate:
			c.Update++
		case OpReplace:
			c.Replace++
		case OpDelete:
			c.Delete++
		case OpSame:
			c.Same++
		}
	}
	return c
}

// Ops returns each URN's logical op.
func (r *Result) Ops() map[resource.URN]string {
	out := map[resource.URN]string{}
	for _, s := range r.Steps {
		if s.Counted() {
			out[s.URN] = s.Op
		}
	}
	return out
}

// Changed returns the counted steps that are not "same".
func (r *Result) Changed() []Step {
	return r.Filter(func(s Step) bool { return s.Counted() && s.Op != OpSame })
}

// Filter returns the steps for which keep is true.
func (r *Result) Filter(keep func(Step) bool) []Step {
	var out []Step
	for _, s := range r.Steps {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// Step returns the step with op on urn.
func (r *Result) Step(urn resource.URN, op string) (Step, bool) {
	for _, s := range r.Steps {
		if s.URN == urn && s.Op == op {
			return s, true
		}
	}
	return Step{}, false
}

// Summary lists the changed steps, one a line ("update aws:ecs/service:Service api [desiredCount]"),
// for failure messages and logs.
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

// stepsOf reads the steps out of the engine's events.
func stepsOf(events []engine.Event) []Step {
	var steps []Step
	open := map[string]int{} // URN + op → index in steps, while it has no End
	for i, e := range events {
		switch p := e.Payload().(type) {
		case engine.ResourcePreEventPayload:
			if p.Planning {
				continue
			}
			s := stepOf(p.Metadata)
			s.Internal = p.Internal
			s.Begin = i + 1
			open[string(s.URN)+" "+s.Op] = len(steps)
			steps = append(steps, s)
		case engine.ResourceOutputsEventPayload:
			if p.Planning {
				continue
			}
			k := string(p.Metadata.URN) + " " + string(p.Metadata.Op)
			if j, ok := open[k]; ok {
				steps[j].End = i + 1
				if n := stateOf(p.Metadata.New); n != nil {
					steps[j].New = n
				}
				delete(open, k)
			}
		case engine.ResourceOperationFailedPayload:
			k := string(p.Metadata.URN) + " " + string(p.Metadata.Op)
			if j, ok := open[k]; ok {
				steps[j].Failed = true
				delete(open, k)
			}
		}
	}
	return steps
}

func stepOf(m engine.StepEventMetadata) Step {
	s := Step{
		Op: string(m.Op), URN: m.URN, Type: string(m.Type), Name: m.URN.Name(),
		Logical: m.Logical, Old: stateOf(m.Old), New: stateOf(m.New),
	}
	for _, st := range []*engine.StepEventStateMetadata{m.New, m.Old} {
		if st != nil {
			s.Parent, s.Custom = st.Parent, st.Custom
			break
		}
	}
	for _, k := range m.Keys {
		s.Keys = append(s.Keys, string(k))
	}
	for _, k := range m.Diffs {
		s.Diffs = append(s.Diffs, string(k))
	}
	return s
}

func stateOf(m *engine.StepEventStateMetadata) *State {
	if m == nil {
		return nil
	}
	return &State{ID: string(m.ID), Inputs: awstest.Plain(m.Inputs), Outputs: awstest.Plain(m.Outputs), Protect: m.Protect}
}

// diagnosticsOf keeps the warnings and errors among the engine's events.
func diagnosticsOf(events []engine.Event) []string {
	var out []string
	for _, e := range events {
		if p, ok := e.Payload().(engine.DiagEventPayload); ok && (p.Severity == diag.Warning || p.Severity == diag.Error) {
			out = append(out, fmt.Sprintf("%s: %s %s", p.Severity, p.URN, strings.TrimSpace(p.Message)))
		}
	}
	return out
}
