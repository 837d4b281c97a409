package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/linecook/linecook/pipeline"
)

func execute(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

func TestSimulateFlagErrorsNameFlagValueAndChoices(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--scenario", "stedy"}, []string{"--scenario", `"stedy"`, "flash-sale, steady, lunch-rush, csv"}},
		{[]string{"--policy", "stp"}, []string{"--policy", `"stp"`, "fixed, step, target-tracking"}},
		{[]string{"--compare", "--policy", "step"}, []string{"--policy", "--compare"}},
		{[]string{"--scenario", "steady", "--burst", "5m"}, []string{"--burst", `"5m0s"`, "flash-sale"}},
		{[]string{"--rate", "0"}, []string{"--rate", `"0"`, "more than 0"}},
		{[]string{"--base-rate", "70"}, []string{"--base-rate", `"70"`, "--rate (60)"}},
		{[]string{"--spread", "-1"}, []string{"--spread", `"-1"`, "0 (fixed) to 10"}},
		{[]string{"--arrivals", "burst"}, []string{"--arrivals", `"burst"`, "poisson, even"}},
		{[]string{"--scenario", "csv"}, []string{"--arrivals-file", "offset,rate"}},
		{[]string{"--sample-every", "90s"}, []string{"--sample-every", "1s to 1m"}},
		{[]string{"--cpu", "300"}, []string{"--cpu", `"300"`, "256, 512"}},
		{[]string{"--min", "5", "--max", "2"}, []string{"--min", `"5"`, "max (2)"}},
		{[]string{"--burst-at", "55m"}, []string{"--duration", "must cover the burst"}},
		{[]string{"--spot-discount", "1"}, []string{"--spot-discount", "under 1"}},
		{[]string{"--tasks", "3"}, []string{"--tasks", "--policy fixed"}},
		{[]string{"--stack", "nope", "--dir", "../.."}, []string{`no stack "nope"`, "dev, prod"}},
		{[]string{"--stack", "dev", "--dir", "../..", "--stage", "pay"}, []string{"--stage", `"pay"`, "payment, grill, fry, assemble"}},
		{[]string{"--stack", "dev", "--dir", "../..", "--concurrency", "3"}, []string{"--concurrency", "Pulumi.dev.yaml"}},
		{[]string{"--stage", "grill"}, []string{"--stage", "--stack"}},
	} {
		_, err := execute(t, newSimulateCmd(), tc.args...)
		if err == nil {
			t.Errorf("simulate %v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("simulate %v: error %q lacks %q", tc.args, err, w)
			}
		}
	}
}

func TestSimulateCompareOnDevStack(t *testing.T) {
	dir := t.TempDir()
	csv, png, html := filepath.Join(dir, "c.csv"), filepath.Join(dir, "c.png"), filepath.Join(dir, "c.html")
	out, err := execute(t, newSimulateCmd(), "--stack", "dev", "--dir", "../..", "--compare", "--duration", "20m",
		"--csv", csv, "--png", png, "--html", html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flash sale: 0/s, 60/s for 10m from 5m, 20m in all", "fixed", "step", "target-tracking", "assemble", "total"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{csv, png, html} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestSimulateSingleStageFromFlags(t *testing.T) {
	// Seed 001's table, 5 workers at 6.67 orders/s: the queue grows.
	out, err := execute(t, newSimulateCmd(), "--concurrency", "1", "--processing-time", "3s", "--policy", "fixed", "--tasks", "5",
		"--scenario", "steady", "--rate", "6.67", "--duration", "10m", "--arrivals", "even", "--spread", "0.02", "--drain-limit", "1h")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "fixed   work") || !strings.Contains(out, "steady 6.67/s for 10m") {
		t.Errorf("output:\n%s", out)
	}
}

func TestPlanSnippetParses(t *testing.T) {
	out, err := execute(t, newPlanCmd(), "--stage", "payment", "--rate", "60", "--processing-time", "3s", "--latency", "30s")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"180 messages", "concurrency per task     200", "min 1, max 2", "target backlog per task  2000", "Erlang C"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	_, snippet, ok := strings.Cut(out, "Paste under config: in Pulumi.<stack>.yaml:\n")
	if !ok {
		t.Fatalf("no snippet in:\n%s", out)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.x.yaml"), []byte("config:\n"+snippet), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.StackConfig(dir, "x", pipeline.Options{})
	if err != nil {
		t.Fatalf("snippet does not parse: %v\n%s", err, snippet)
	}
	if st := cfg.Stages[0]; st.Name != "payment" || st.Concurrency != 200 || st.Scaling.Max != 2 {
		t.Errorf("parsed stage %+v", st)
	}
}

func TestPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--processing-time", "3s"}, "--rate is required"},
		{[]string{"--rate", "60"}, "--processing-time is required"},
		{[]string{"--rate", "-1", "--processing-time", "3s"}, `--rate "-1": must be a rate`},
		{[]string{"--rate", "6", "--processing-time", "3s", "--memory", "4096"}, `--memory "4096"`},
		{[]string{"--rate", "6", "--processing-time", "3s", "--headroom", "0.5"}, `--headroom "0.5"`},
	} {
		_, err := execute(t, newPlanCmd(), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("plan %v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
