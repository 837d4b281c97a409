// Package enginetest runs a Pulumi Go program through the real Pulumi
// engine, in-process, inside `go test`, with no cloud, no Pulumi CLI and no
// provider plugin.
//
// What is real: the engine of github.com/pulumi/pulumi/pkg/v3 (its
// deploytest plugin host and the lifecycletest/framework driver), which
// runs the program, builds the resource graph, asks the providers for
// diffs, decides create/update/replace/delete/same, orders and runs the
// steps in parallel, and journals the snapshot, exactly as `pulumi up`,
// `pulumi destroy` and their previews do.
//
// What is not: the `aws` and `awsx` providers are a recording STAND-IN,
// not AWS and not the real provider plugins. It returns plausible ids,
// ARNs and URLs (components/awstest's Fake, the values the mocks give),
// diffs old inputs against new ones, asks for a replacement when a
// property AWS cannot change in place changes (ReplaceKeys, one table
// below), answers the invokes linecook makes, constructs awsx:ecr:Image
// (a remote component) with an imageUri, and refuses to delete a resource
// whose deletion protection is on, as AWS does. It does NOT validate
// anything AWS would: names, CIDRs, IAM documents, Fargate CPU/memory
// pairs, quotas and eventual consistency are all unchecked, and it does
// not autoname (a resource's physical name is its logical name).
//
// A test drives a program through a stack's life and asserts on the
// engine's own decisions:
//
//	h := enginetest.New(t, burger.Program)
//	up := h.Up(config)                // preview, then update
//	up.Counts()                       // {Create: 119, ...}
//	up.Ops()[urn]                     // "create", "update", "replace", ...
//	h.Destroy()
//
// Steps come from the engine's events (ResourcePreEvent and
// ResourceOutputsEvent payload metadata): op, URN, type, old and new
// state, the keys that forced a replacement, and their positions in the
// event stream, so a test can also assert what ran before what.
//
// The same stand-in also runs as a provider plugin binary (standin/,
// built as pulumi-resource-aws and pulumi-resource-awsx) for tests that
// drive the real Pulumi CLI (components/clitest): there it serves a
// schema generated from the Go SDKs (schema/, see Schema) and keeps a
// journal of its calls across the CLI's provider processes (Journal).
//
// Only tests import this package: it pulls in the engine (pkg/v3), which
// must stay out of the worker binary and out of the components' own
// import graph.
package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/pkg/v3/engine"
	"github.com/pulumi/pulumi/pkg/v3/engine/lifecycletest/framework"
	pkgresource "github.com/pulumi/pulumi/pkg/v3/resource"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy/deploytest"
	"github.com/pulumi/pulumi/pkg/v3/resource/graph"
	"github.com/pulumi/pulumi/pkg/v3/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
)

// The provider versions the stand-ins load as. The engine asks for the
// version the program's SDK packages declare, so these must equal the
// go.mod versions of pulumi-aws and pulumi-awsx.
var (
	AWSVersion  = semver.MustParse("6.83.0")
	AWSXVersion = semver.MustParse("2.22.0")
)

// Harness is one stack driven through the engine: its snapshot carries
// over from one operation to the next, as a backend's would.
type Harness struct {
	t        testing.TB
	program  pulumi.RunFunc
	project  string
	stack    string
	parallel int32
	preview  bool

	cloud  *StandIn
	snap   *deploy.Snapshot
	config map[string]string
	runs   int
}

// Option configures a Harness.
type Option func(*Harness)

// Stack names the stack (default "test").
func Stack(name string) Option { return func(h *Harness) { h.stack = name } }

// Project names the project (default awstest.Project, "linecook": the
// namespace of the program's own config keys).
func Project(name string) Option { return func(h *Harness) { h.project = name } }

// Parallel sets how many resource operations the engine runs at once.
// The default is `pulumi up`'s: four per GOMAXPROCS.
func Parallel(n int) Option { return func(h *Harness) { h.parallel = int32(n) } }

// NoPreview skips the preview each operation otherwise runs first, as
// `pulumi up --skip-preview` does.
func NoPreview() Option { return func(h *Harness) { h.preview = false } }

// Latency makes the stand-in take d to create or delete a resource of
// type typ, as AWS takes its time: steps the engine does not order by a
// dependency then overlap, so an ordering test cannot pass by luck. Other
// operations are instant.
func Latency(typ string, d time.Duration) Option {
	return func(h *Harness) { h.cloud.latency[typ] = d }
}

// New returns a harness for program with an empty stack. The program gets
// its config from the engine, as under the Pulumi CLI: New unsets
// PULUMI_CONFIG for the rest of the test (a program that reads it first
// would otherwise see a stale value), so tests using it cannot run in
// parallel with tests that set it.
func New(t testing.TB, program pulumi.RunFunc, opts ...Option) *Harness {
	t.Helper()
	t.Setenv(pulumi.EnvConfig, "")
	os.Unsetenv(pulumi.EnvConfig)
	h := &Harness{t: t, program: program, project: awstest.Project, stack: "test", preview: true, cloud: NewStandIn(),
		parallel: int32(runtime.GOMAXPROCS(0)) * 4}
	for _, o := range opts {
		o(h)
	}
	return h
}

// StandIn returns the recording stand-in provider behind the harness.
func (h *Harness) StandIn() *StandIn { return h.cloud }

// Snapshot returns the stack's current state as the engine journaled it.
func (h *Harness) Snapshot() *deploy.Snapshot { return h.snap }

// Up runs `pulumi up` with config ("namespace:key" to string, objects and
// lists as JSON: what pipeline.ReadStackFile returns): a preview, then the
// update. It fails the test if either fails.
func (h *Harness) Up(config map[string]string) *Result {
	h.t.Helper()
	r := h.TryUp(config)
	if r.Err != nil {
		h.t.Fatalf("up #%d: %v", h.runs, r.Err)
	}
	return r
}

// TryUp is Up, returning the engine's error in the result instead of
// failing the test. The stack keeps whatever the engine journaled.
func (h *Harness) TryUp(config map[string]string) *Result {
	h.t.Helper()
	h.config = config
	return h.run("up", framework.TestOp(engine.Update))
}

// Destroy runs `pulumi destroy` with the last config Up was given. It
// fails the test if the engine reports an error.
func (h *Harness) Destroy() *Result {
	h.t.Helper()
	r := h.TryDestroy()
	if r.Err != nil {
		h.t.Fatalf("destroy #%d: %v", h.runs, r.Err)
	}
	return r
}

// TryDestroy is Destroy, returning the engine's error in the result.
func (h *Harness) TryDestroy() *Result {
	h.t.Helper()
	return h.run("destroy", framework.TestOp(engine.Destroy))
}

func (h *Harness) run(kind string, op framework.TestOp) *Result {
	h.t.Helper()
	h.runs++
	res := &Result{Op: kind}
	cfg, err := configMap(h.config)
	if err != nil {
		res.Err = err
		return res
	}
	plan := &framework.TestPlan{
		Project:   h.project,
		Stack:     h.stack,
		Config:    cfg,
		Decrypter: config.Base64Crypter,
		Options: framework.TestUpdateOptions{
			T:                h.t,
			HostF:            h.host(),
			SkipDisplayTests: true,
			UpdateOptions:    engine.UpdateOptions{Parallel: h.parallel},
		},
	}
	project := plan.GetProject()
	name := fmt.Sprintf("%s-%d", kind, h.runs)
	start := time.Now()
	if h.preview {
		if _, err := op.RunStep(project, plan.GetTarget(h.t, h.snap), plan.Options, true, nil, nil, name+"-preview"); err != nil {
			res.Err = fmt.Errorf("preview: %w", err)
			res.Duration = time.Since(start)
			return res
		}
	}
	var events []engine.Event
	validate := func(_ workspace.Project, _ deploy.Target, _ engine.JournalEntries, evs []engine.Event, err error) error {
		events = evs
		return err
	}
	snap, err := op.RunStep(project, plan.GetTarget(h.t, h.snap), plan.Options, false, nil, validate, name)
	res.Duration = time.Since(start)
	res.Err = err
	if snap != nil || err == nil {
		h.snap = snap
	}
	res.Snapshot = h.snap
	res.Steps = stepsOf(events)
	res.Diagnostics = diagnosticsOf(events)
	return res
}

// host builds the plugin host the engine uses: the program as its
// language runtime, the stand-in as the aws and awsx providers. Each load
// returns a new provider: the engine configures a provider once per load.
func (h *Harness) host() deploytest.PluginHostFactory {
	program := deploytest.NewLanguageRuntimeF(func(info plugin.RunInfo, _ *deploytest.ResourceMonitor) error {
		return h.runProgram(info)
	})
	load := func() (plugin.Provider, error) { return h.cloud.provider(), nil }
	return deploytest.NewPluginHostF(nil, nil, program, nil, nil,
		deploytest.NewProviderLoader("aws", AWSVersion, load),
		deploytest.NewProviderLoader("awsx", AWSXVersion, load),
	)
}

// runProgram runs the Go program against the engine's resource monitor,
// with the config the engine hands a language host (RunInfo.Config), the
// way pulumi.Run does under the CLI.
func (h *Harness) runProgram(info plugin.RunInfo) error {
	cfg := make(map[string]string, len(info.Config))
	for k, v := range info.Config {
		cfg[k.String()] = v
	}
	var secretKeys []string
	for _, k := range info.ConfigSecretKeys {
		secretKeys = append(secretKeys, k.String())
	}
	ctx, err := pulumi.NewContext(context.Background(), pulumi.RunInfo{
		Project:          info.Project,
		Stack:            info.Stack,
		Config:           cfg,
		ConfigSecretKeys: secretKeys,
		Parallel:         info.Parallel,
		DryRun:           info.DryRun,
		MonitorAddr:      info.MonitorAddress,
		Organization:     info.Organization,
	})
	if err != nil {
		return err
	}
	defer ctx.Close()
	return pulumi.RunWithContext(ctx, h.program)
}

// configMap turns "namespace:key" → string into the engine's config.
// Values that are JSON objects or lists become object values, as
// `pulumi config set --path` stores them.
func configMap(values map[string]string) (config.Map, error) {
	m := config.Map{}
	for k, v := range values {
		key, err := config.ParseKey(k)
		if err != nil {
			return nil, fmt.Errorf("config key %q: %w", k, err)
		}
		val := config.NewValue(v)
		if s := strings.TrimSpace(v); (strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")) && json.Valid([]byte(s)) {
			val = config.NewObjectValue(v)
		}
		m[key] = val
	}
	return m, nil
}

// Resources returns the snapshot's resources other than the stack and
// providers: what the program manages.
func Resources(snap *deploy.Snapshot) []*pkgresource.State {
	if snap == nil {
		return nil
	}
	var out []*pkgresource.State
	for _, r := range snap.Resources {
		if r.Type == resource.RootStackType || strings.HasPrefix(string(r.Type), "pulumi:providers:") {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Find returns the snapshot's live resources of type typ; with names,
// only those whose logical name is one of them.
func Find(snap *deploy.Snapshot, typ string, names ...string) []*pkgresource.State {
	var out []*pkgresource.State
	for _, r := range Resources(snap) {
		if string(r.Type) == typ && !r.Delete && (len(names) == 0 || slices.Contains(names, r.URN.Name())) {
			out = append(out, r)
		}
	}
	return out
}

// DependsOn reports whether, in the engine's dependency graph of snap
// (parents, providers, dependencies, property dependencies, deleted-with),
// a depends on b, directly or not: whether the engine must create a after
// b and delete a before b.
func DependsOn(snap *deploy.Snapshot, a, b resource.URN) bool {
	if snap == nil {
		return false
	}
	var ra *pkgresource.State
	for _, r := range snap.Resources {
		if r.URN == a && !r.Delete {
			ra = r
		}
	}
	if ra == nil {
		return false
	}
	for dep := range graph.NewDependencyGraph(snap.Resources).TransitiveDependenciesOf(ra).Iter() {
		if dep.URN == b {
			return true
		}
	}
	return false
}
