package main

import (
	"testing"

	"github.com/linecook/linecook/components/awstest"
)

// TestExampleDeploys runs the example against the fake AWS: it must keep
// working as the components change.
func TestExampleDeploys(t *testing.T) {
	m, err := awstest.Run(program)
	if err != nil {
		t.Fatal(err)
	}
	svc, ok := m.Find(awstest.ECSService, "thumbnails")
	if !ok {
		t.Fatal("no thumbnails service")
	}
	if svc.Number("desiredCount") != 0 {
		t.Errorf("desiredCount = %v, want 0: the stage scales from zero", svc.Number("desiredCount"))
	}
	if _, ok := m.Find(awstest.AppAutoScalingPolicy, "thumbnails-wake-up"); !ok {
		t.Error("no wake-up policy for a min-0 stage")
	}
	td, _ := m.Find(awstest.ECSTaskDefinition, "thumbnails")
	var defs []struct {
		Image   string
		Command []string
	}
	if err := td.JSON("containerDefinitions", &defs); err != nil {
		t.Fatal(err)
	}
	if defs[0].Image != "ghcr.io/acme/thumbnailer:1.4" || defs[0].Command != nil {
		t.Errorf("container = %+v, want the team's own image and entrypoint", defs[0])
	}
}
