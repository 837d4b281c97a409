package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/tools/emulators/emutest"
	"github.com/linecook/linecook/tools/image"
)

func TestMain(m *testing.M) { emutest.Main(m) }

const (
	root     = "../.."
	revision = "0123456789abcdef0123456789abcdef01234567"
)

// platforms are what the tests build: both of the image's, but in -short
// only the host's own (the arm64 cross-compile is the slow part on a cold
// build cache).
func platforms() []string {
	if testing.Short() {
		return []string{"linux/" + runtime.GOARCH}
	}
	return image.DefaultPlatforms
}

// built is the index the tests share, built once.
var built = func() func(t *testing.T) v1.ImageIndex {
	var once sync.Once
	var idx v1.ImageIndex
	var err error
	return func(t *testing.T) v1.ImageIndex {
		t.Helper()
		once.Do(func() {
			start := time.Now()
			var log bytes.Buffer
			idx, err = image.Build(context.Background(), image.Options{Dir: root, Platforms: platforms(), Revision: revision, Log: &log})
			t.Logf("built in %s:\n%s", time.Since(start).Round(time.Millisecond), log.String())
		})
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
}()

// pushed pushes the shared index to an in-process registry and returns
// the reference by digest Push printed.
func pushed(t *testing.T) name.Digest {
	t.Helper()
	idx := built(t)
	srv := httptest.NewServer(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := image.Push(context.Background(), idx, host+"/linecook/linecookd:test")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	if want := host + "/linecook/linecookd@" + d.String(); ref.String() != want {
		t.Fatalf("Push = %s, want %s", ref, want)
	}
	// The tag names the same index.
	tagged, err := remote.Head(ref.Context().Tag("test"))
	if err != nil || tagged.Digest != d {
		t.Fatalf("tag test = %+v, %v; want %s", tagged, err, d)
	}
	return ref
}

// TestPushedIndexIsTheImage pushes the index to a registry, pulls it back
// by digest and checks everything ECS and a reader of the image see: the
// platforms, the config, the one layer's files, owners and modes.
func TestPushedIndexIsTheImage(t *testing.T) {
	ref := pushed(t)
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", im.MediaType, types.OCIImageIndex)
	}
	var got []string
	for _, desc := range im.Manifests {
		got = append(got, desc.Platform.String())
		if desc.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: manifest media type %s, want %s", desc.Platform, desc.MediaType, types.OCIManifestSchema1)
		}
		img, err := remote.Image(ref.Context().Digest(desc.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, *desc.Platform, img)
	}
	if !slices.Equal(got, platforms()) {
		t.Errorf("index platforms %q, want exactly %q", got, platforms())
	}
}

func checkImage(t *testing.T, p v1.Platform, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("%s: config %s, layers %+v; want an OCI config and one OCI gzip layer", p, m.Config.MediaType, m.Layers)
	}
	if cf.OS != p.OS || cf.Architecture != p.Architecture {
		t.Errorf("%s: config says %s/%s", p, cf.OS, cf.Architecture)
	}
	c := cf.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/linecookd"}) || len(c.Cmd) != 0 {
		t.Errorf("%s: user %q entrypoint %q cmd %q; want 65532:65532, [/linecookd], none", p, c.User, c.Entrypoint, c.Cmd)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("%s: exposed ports %v, want 8080/tcp", p, c.ExposedPorts)
	}
	if len(c.Env) != 0 {
		t.Errorf("%s: env %q, want none (the entrypoint is absolute)", p, c.Env)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/linecook/linecook",
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.title":    "linecookd",
	}
	if fmt.Sprint(c.Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("%s: labels %v, want %v", p, c.Labels, wantLabels)
	}
	if !cf.Created.Equal(time.Unix(0, 0)) || len(cf.History) != 1 || !cf.History[0].Created.Equal(time.Unix(0, 0)) {
		t.Errorf("%s: created %s, history %+v; want the epoch", p, cf.Created, cf.History)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := readLayer(t, layers[0])
	type want struct {
		typ      byte
		mode     int64
		uid, gid int
	}
	wants := map[string]want{
		"etc/":          {tar.TypeDir, 0o755, 0, 0},
		"etc/group":     {tar.TypeReg, 0o644, 0, 0},
		"etc/passwd":    {tar.TypeReg, 0o644, 0, 0},
		"home/":         {tar.TypeDir, 0o755, 0, 0},
		"home/nonroot/": {tar.TypeDir, 0o700, 65532, 65532},
		"linecookd":     {tar.TypeReg, 0o755, 0, 0},
	}
	var names []string
	for _, f := range files {
		names = append(names, f.h.Name)
		w, ok := wants[f.h.Name]
		if !ok {
			t.Errorf("%s: unexpected %s in the layer", p, f.h.Name)
			continue
		}
		if f.h.Typeflag != w.typ || f.h.Mode != w.mode || f.h.Uid != w.uid || f.h.Gid != w.gid || !f.h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: %s is type %c mode %o owner %d:%d time %s; want %c %o %d:%d at the epoch",
				p, f.h.Name, f.h.Typeflag, f.h.Mode, f.h.Uid, f.h.Gid, f.h.ModTime, w.typ, w.mode, w.uid, w.gid)
		}
	}
	if !slices.IsSorted(names) || len(names) != len(wants) {
		t.Errorf("%s: layer entries %q, want the %d expected, sorted", p, names, len(wants))
	}
	if got := files.data("etc/passwd"); !strings.Contains(got, "\nnonroot:x:65532:65532:nonroot:/home/nonroot:") {
		t.Errorf("%s: /etc/passwd does not name user 65532 nonroot:\n%s", p, got)
	}
	if got := files.data("etc/group"); !strings.Contains(got, "\nnonroot:x:65532:") {
		t.Errorf("%s: /etc/group does not name group 65532 nonroot:\n%s", p, got)
	}
	exe, err := elf.NewFile(bytes.NewReader([]byte(files.data("linecookd"))))
	if err != nil {
		t.Fatalf("%s: /linecookd is not an ELF binary: %v", p, err)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.Architecture]
	if exe.Machine != machine {
		t.Errorf("%s: /linecookd is for %s", p, exe.Machine)
	}
	for _, prog := range exe.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s: /linecookd has an ELF interpreter: it is not static", p)
		}
	}
	if exe.Section(".symtab") != nil {
		t.Errorf("%s: /linecookd has a symbol table: not built with -s", p)
	}
}

type file struct {
	h    *tar.Header
	body []byte
}

type layerFiles []file

func (fs layerFiles) data(name string) string {
	for _, f := range fs {
		if f.h.Name == name {
			return string(f.body)
		}
	}
	return ""
}

func readLayer(t *testing.T, l v1.Layer) layerFiles {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out layerFiles
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, file{h, b})
	}
}

// TestBuildIsReproducible builds the index again, from a copy of
// linecookd's sources at another path, in another temporary directory,
// with the platforms in the other order: the digest must not change. It
// writes both as OCI layouts, which must be equal too.
func TestBuildIsReproducible(t *testing.T) {
	first := built(t)
	copyDir := filepath.Join(t.TempDir(), "elsewhere", "linecook")
	copySources(t, copyDir)
	ps := slices.Clone(platforms())
	slices.Reverse(ps)
	second, err := image.Build(context.Background(), image.Options{Dir: copyDir, Platforms: ps, Revision: revision})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Digest()
	d2, _ := second.Digest()
	if d1 != d2 {
		t.Fatalf("two builds of the same sources: %s and %s", d1, d2)
	}
	var indexes []string
	for _, idx := range []v1.ImageIndex{first, second} {
		dir := t.TempDir()
		if err := image.WriteOCI(dir, idx); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d1.Hex)); err != nil {
			t.Errorf("the layout lacks the index blob: %v", err)
		}
		indexes = append(indexes, string(b))
		if err := image.WriteOCI(dir, idx); err == nil {
			t.Errorf("WriteOCI into an existing layout succeeded, want an error")
		}
	}
	if indexes[0] != indexes[1] || !strings.Contains(indexes[0], d1.String()) {
		t.Errorf("OCI layouts' index.json differ or miss %s:\n%s\n%s", d1, indexes[0], indexes[1])
	}
	t.Logf("index %s, both builds", d1)
}

// copySources copies go.mod, go.sum and the Go files of every package of
// the module linecookd imports into dir.
func copySources(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}} {{join .GoFiles \" \"}} {{join .EmbedFiles \" \"}}{{end}}", image.Package)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, _ := filepath.Abs(root)
	files := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		rel, err := filepath.Rel(abs, fields[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		for _, f := range fields[1:] {
			files = append(files, filepath.Join(rel, f))
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPulledBinaryRunsThePipeline takes linecookd out of the pulled image
// for this machine's architecture and runs it as ECS would, against the
// emulators: `linecookd api` answers its health check and accepts an
// order, and `linecookd worker payment` takes the order through the
// payment stage, recording it in the table and passing it to the next
// queue.
func TestPulledBinaryRunsThePipeline(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image's binaries are Linux's")
	}
	ref := pushed(t)
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	// The way `linecook local --from-image` takes it out.
	bin := filepath.Join(t.TempDir(), "linecookd")
	if err := image.ExtractBinary(idx, "linux/"+runtime.GOARCH, bin); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := emutest.Table(t)
	q := sqs.NewFromConfig(emutest.Config(t))
	payment, err := emulators.CreateQueues(ctx, q, emutest.Name(t)+"-payment", emulators.QueueSettings{MaxReceiveCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	grill := emutest.Queue(t, q)

	port := freePort(t)
	start(t, bin, pipeline.APICommand(), pipeline.API{Port: port}.APIEnv(payment.URL, store.Table()))
	stage := pipeline.Stage{
		Name: "payment", Worker: "payment", Concurrency: 2,
		VisibilityTimeout: 30 * time.Second, DrainTimeout: 5 * time.Second, MaxReceiveCount: 3,
		// No simulated provider delay: the test is about the binary.
		Env: map[string]string{"LINECOOK_WORK_SCALE": "0"},
	}
	start(t, bin, stage.Command(), stage.TaskEnv(pipeline.Queues{URL: payment.URL, NextURL: grill, DLQURL: payment.DLQURL, OrderTable: store.Table()}))

	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	for {
		resp, err := http.Get(api + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /healthz = %d, want 200", resp.StatusCode)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("linecookd api not answering: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Post(api+"/orders", "application/json", strings.NewReader(`{"items":[{"item":"burger"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || body.ID == "" {
		t.Fatalf("POST /orders = %d %+v, want 202 with an id", resp.StatusCode, body)
	}

	var o orders.Order
	for {
		o, err = store.Get(ctx, body.ID)
		if err == nil && o.Stages["payment"].Ended() {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("order %s: payment stage not ended after a minute (%+v, %v)", body.ID, o.Stages, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &grill, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Messages) == 1 {
			if !strings.Contains(aws.ToString(got.Messages[0].Body), body.ID) {
				t.Errorf("next queue's message %q is not order %s", aws.ToString(got.Messages[0].Body), body.ID)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the order never reached the next stage's queue")
		}
	}
	t.Logf("order %s: payment %+v, then on the grill's queue", body.ID, o.Stages["payment"])
}

// start runs the binary with args and the task's environment on top of the
// test's (which points the AWS SDK at the emulators), until the test ends.
func start(t *testing.T, bin string, args []string, env map[string]string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), pipeline.EnvList(env)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("linecookd %s:\n%s", strings.Join(args, " "), out.String())
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDockerfileBuildsTheSameBinary: the Dockerfile's go build flags are
// image.BuildFlags, so both ways of building the image build one binary.
func TestDockerfileBuildsTheSameBinary(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`go build ((?:-\S+(?:="[^"]*")? )+)-o \S+ (\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("no `go build … -o … ./cmd/linecookd` line in the Dockerfile")
	}
	// Split as the shell would: on blanks, double quotes grouping.
	var flags []string
	for _, w := range regexp.MustCompile(`(?:[^\s"]|"[^"]*")+`).FindAllString(m[1], -1) {
		flags = append(flags, strings.ReplaceAll(w, `"`, ""))
	}
	if !slices.Equal(flags, image.BuildFlags) || m[2] != image.Package {
		t.Errorf("the Dockerfile builds %s with %q; image builds %s with %q", m[2], flags, image.Package, image.BuildFlags)
	}
	if !strings.Contains(string(b), "ENV CGO_ENABLED=0") {
		t.Error("the Dockerfile does not set CGO_ENABLED=0")
	}
}

func TestPlatforms(t *testing.T) {
	for _, bad := range []string{"windows/amd64", "linux", "linux/arm/v7", "linux/arm64/v8", "amd64"} {
		_, err := image.Build(context.Background(), image.Options{Dir: root, Platforms: []string{bad}})
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("platform %q: %v, want an error naming it", bad, err)
		}
	}
}

func TestPushRefusesADigest(t *testing.T) {
	_, err := image.Push(context.Background(), nil, "example.com/linecook@sha256:"+strings.Repeat("0", 64))
	if err == nil || !strings.Contains(err.Error(), "not a digest") {
		t.Errorf("Push to a digest: %v", err)
	}
	_, err = image.Push(context.Background(), nil, "Not A Reference")
	if err == nil || !strings.Contains(err.Error(), "Not A Reference") {
		t.Errorf("Push to a bad reference: %v", err)
	}
}

func TestECRRegion(t *testing.T) {
	for host, want := range map[string]string{
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com":              "eu-west-1",
		"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com":         "us-east-1",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn":          "cn-north-1",
		"123456789012.dkr-ecr.us-west-2.on.aws":                     "us-west-2",
		"public.ecr.aws":                                            "",
		"ghcr.io":                                                   "",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example": "",
		"localhost:5000":                                            "",
	} {
		got, ok := image.ECRRegion(host)
		if got != want || ok != (want != "") {
			t.Errorf("ECRRegion(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

// TestECRKeychain answers GetAuthorizationToken from a stand-in for ECR's
// API: an ECR registry gets user AWS and the token's password, asked in
// the registry's region; any other registry is left to the next keychain.
func TestECRKeychain(t *testing.T) {
	var calls []string
	ecr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.Header.Get("X-Amz-Target")+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"authorizationData":[{"authorizationToken":"QVdTOnMzY3JldA==","expiresAt":1.7e9,"proxyEndpoint":"https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"}]}`)
	}))
	defer ecr.Close()
	t.Setenv("AWS_ENDPOINT_URL_ECR", ecr.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")

	kc := &image.ECRKeychain{}
	reg, _ := name.NewRegistry("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
	for range 2 {
		a, err := kc.ResolveContext(context.Background(), reg)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil || cfg.Username != "AWS" || cfg.Password != "s3cret" {
			t.Fatalf("ECR credentials = %+v, %v; want AWS:s3cret", cfg, err)
		}
	}
	if len(calls) != 1 || !strings.Contains(calls[0], "GetAuthorizationToken") || !strings.Contains(calls[0], "/eu-west-1/ecr/") {
		t.Errorf("calls to ECR: %q; want one GetAuthorizationToken signed for eu-west-1", calls)
	}
	other, _ := name.NewRegistry("ghcr.io")
	if a, err := kc.Resolve(other); a != authn.Anonymous || err != nil {
		t.Errorf("ECRKeychain for ghcr.io = %v, %v; want Anonymous", a, err)
	}

	ecr.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"not allowed"}`)
	})
	reg2, _ := name.NewRegistry("123456789012.dkr.ecr.eu-central-1.amazonaws.com")
	_, err := (&image.ECRKeychain{}).ResolveContext(context.Background(), reg2)
	if err == nil || !strings.Contains(err.Error(), "123456789012.dkr.ecr.eu-central-1.amazonaws.com") || !strings.Contains(err.Error(), "GetAuthorizationToken") {
		t.Errorf("ECR refusing: %v, want an error naming the registry and the call", err)
	}
	var ae interface{ ErrorCode() string }
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Errorf("ECR refusing: %v, want the AccessDeniedException kept", err)
	}
}

// TestDockerfileMakesTheSameFilesystem: the Dockerfile (for
// linecook:imageBuild docker) starts from scratch and adds the same files
// with the same owners and modes as Build's layer, runs as the same user
// with the same entrypoint. Checked from its text: no Docker runs here.
func TestDockerfileMakesTheSameFilesystem(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	final := df[strings.LastIndex(df, "\nFROM "):]
	printed := func(file string) string {
		m := regexp.MustCompile(`printf '([^']*)' > /rootfs` + regexp.QuoteMeta(file)).FindStringSubmatch(df)
		if m == nil {
			t.Fatalf("the Dockerfile writes no %s", file)
		}
		return strings.ReplaceAll(m[1], `\n`, "\n")
	}
	if got := printed("/etc/passwd"); got != image.Passwd {
		t.Errorf("Dockerfile's /etc/passwd = %q, want %q", got, image.Passwd)
	}
	if got := printed("/etc/group"); got != image.Group {
		t.Errorf("Dockerfile's /etc/group = %q, want %q", got, image.Group)
	}
	for _, want := range []string{
		"\nFROM scratch\n",
		"\nCOPY --from=build /rootfs/etc /etc\n",
		"\nCOPY --from=build --chown=65532:65532 /rootfs/home/nonroot /home/nonroot\n",
		"\nCOPY --from=build /out/linecookd " + image.Binary + "\n",
		"\nUSER 65532:65532\n",
		"\nEXPOSE 8080\n",
		"\nENTRYPOINT [\"" + image.Binary + "\"]\n",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("the Dockerfile's run stage lacks %q", strings.TrimSpace(want))
		}
	}
	if n := strings.Count(final, "\nCOPY "); n != 3 {
		t.Errorf("the run stage copies %d things, want the binary, /etc and the home", n)
	}
	if !strings.Contains(df, "chmod 644 /rootfs/etc/passwd /rootfs/etc/group && chmod 700 /rootfs/home/nonroot") {
		t.Error("the Dockerfile does not give passwd, group and the home the layer's modes")
	}
}
