package main

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestImageBuildAndPush runs both commands for one platform: build prints
// the index digest and writes the OCI layout; push to a registry prints
// the repository at that same digest, with HEAD's commit as the revision
// label when no --revision is given.
func TestImageBuildAndPush(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "oci")
	out, err := execute(t, imageCmd(), "build", "--platform", "linux/amd64", "--revision", "abc123", "--oci", dir)
	if err != nil {
		t.Fatalf("linecook image build: %v", err)
	}
	digest := strings.TrimSpace(out)
	if !strings.HasPrefix(digest, "sha256:") || strings.Contains(digest, "\n") {
		t.Fatalf("linecook image build printed %q, want the index digest alone", out)
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || !strings.Contains(string(index), digest) {
		t.Errorf("the OCI layout's index.json (%v) does not list %s:\n%s", err, digest, index)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/linecook"
	out, err = execute(t, imageCmd(), "push", "--platform", "linux/amd64", "--revision", "abc123", repo+":v1")
	if err != nil {
		t.Fatalf("linecook image push: %v", err)
	}
	if got, want := strings.TrimSpace(out), repo+"@"+digest; got != want {
		t.Errorf("linecook image push printed %q, want %q", got, want)
	}

	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not in a git checkout: no revision to check")
	}
	out, err = execute(t, imageCmd(), "push", "--platform", "linux/amd64", repo)
	if err != nil {
		t.Fatalf("linecook image push: %v", err)
	}
	ref, err := name.NewDigest(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Labels["org.opencontainers.image.revision"]; got != strings.TrimSpace(string(head)) {
		t.Errorf("revision label %q, want HEAD %s", got, head)
	}
}

func TestImagePushChecksTheReferenceFirst(t *testing.T) {
	_, err := execute(t, imageCmd(), "push", "example.com/linecook@sha256:"+strings.Repeat("0", 64))
	if err == nil || !strings.Contains(err.Error(), "not a digest") {
		t.Errorf("push to a digest: %v, want a refusal before any build", err)
	}
}
