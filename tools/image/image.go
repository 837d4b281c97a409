// Package image builds the linecook image, the one every ECS task runs,
// without Docker and without pulling a base image: linecookd is
// cross-compiled for each platform with the Dockerfile's reproducible
// flags and put, with a minimal /etc/passwd and /etc/group naming the
// non-root user, into one layer of an OCI image; the platforms' images
// make one OCI image index.
//
// Everything that goes into the index is fixed by the sources, the Go
// release that compiles them and the options: the layer's entries are
// sorted and carry fixed times and owners, the config's and history's
// times are that same time (Options.Time, the Unix epoch by default), and
// no build id, VCS stamp or path enters the binary. So a commit gives the
// same index digest on any machine with the same Go release (Go records
// its version in the binary; the layer's history says which it was).
//
// linecookd embeds its CA roots and the zone database (see
// cmd/linecookd/main.go), so the image needs nothing else from a base.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Module is linecook's Go module; Package is the program the image runs.
const (
	Module  = "github.com/linecook/linecook"
	Package = "./cmd/linecookd"
)

// BuildFlags are the Dockerfile's `go build` flags, which make the binary
// reproducible: no paths (-trimpath), no VCS stamp, no build id, no symbol
// table or DWARF. The package's tests check that the Dockerfile uses the
// same, so both ways of building the image build the same binary.
var BuildFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid="}

// The image's fixed contents.
const (
	// Binary is where linecookd lives in the image, its entrypoint.
	Binary = "/linecookd"
	// UID and GID are the non-root user the container runs as: distroless's
	// `nonroot`, which the image's /etc/passwd and /etc/group name.
	UID, GID = 65532, 65532
	// User is the config's User.
	User = "65532:65532"
	// Port is the order API's (LINECOOK_PORT's default), exposed.
	Port = "8080/tcp"
	// Title is the org.opencontainers.image.title label.
	Title = "linecookd"
	// DefaultSource is the org.opencontainers.image.source label unless
	// Options.Source says otherwise.
	DefaultSource = "https://github.com/linecook/linecook"
)

// The OCI annotation keys the image's labels use.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelTitle    = "org.opencontainers.image.title"
)

// DefaultPlatforms are the platforms Build builds when Options.Platforms is
// empty: Fargate's two CPU architectures.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm64"}

// Options configures Build.
type Options struct {
	// Dir is the root of a linecook checkout (the directory of its
	// go.mod); empty means the module the working directory is in.
	Dir string
	// Platforms are os/arch pairs, linux only; empty means
	// DefaultPlatforms. The index lists them sorted, whatever the order
	// given, so the order does not change the digest.
	Platforms []string
	// Revision is the org.opencontainers.image.revision label (a commit
	// id); empty leaves the label out.
	Revision string
	// Source is the org.opencontainers.image.source label; empty means
	// DefaultSource.
	Source string
	// Time is the layer's file times and the config's created time; the
	// zero Time means the Unix epoch. The CLI passes SOURCE_DATE_EPOCH.
	Time time.Time
	// Log, when set, receives a line per platform built.
	Log io.Writer
}

// Build cross-compiles linecookd for each platform and returns the image
// index of their images. The binaries are built in a temporary directory,
// removed before Build returns; the layers are held in memory.
func Build(ctx context.Context, o Options) (v1.ImageIndex, error) {
	platforms, err := parsePlatforms(o.Platforms)
	if err != nil {
		return nil, err
	}
	if o.Dir == "" {
		if o.Dir, err = ModuleRoot(ctx, ""); err != nil {
			return nil, err
		}
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.Time.IsZero() {
		o.Time = time.Unix(0, 0)
	}
	o.Time = o.Time.UTC()
	goVersion, err := goEnv(ctx, o.Dir, "GOVERSION")
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "linecook-image-")
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer os.RemoveAll(tmp)

	// The platforms build at once: with a warm build cache most of the
	// time is each platform's link, which is mostly one thread.
	images := make([]v1.Image, len(platforms))
	errs := make([]error, len(platforms))
	var wg sync.WaitGroup
	for i, p := range platforms {
		wg.Go(func() {
			images[i], errs[i] = buildImage(ctx, o, p, goVersion, filepath.Join(tmp, p.OS+"-"+p.Architecture))
		})
	}
	wg.Wait()
	var adds []mutate.IndexAddendum
	for i, p := range platforms {
		if errs[i] != nil {
			return nil, errs[i]
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        images[i],
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture}},
		})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if _, err := idx.Digest(); err != nil {
		return nil, fmt.Errorf("image: index: %w", err)
	}
	return idx, nil
}

// buildImage compiles linecookd for p into bin and wraps it in an image.
func buildImage(ctx context.Context, o Options, p v1.Platform, goVersion, bin string) (v1.Image, error) {
	start := time.Now()
	if err := Compile(ctx, o.Dir, p.OS, p.Architecture, bin); err != nil {
		return nil, err
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("image: %s: %w", p, err)
	}
	tgz, err := Layer(exe, o.Time)
	if err != nil {
		return nil, fmt.Errorf("image: %s: layer: %w", p, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tgz)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: %s: layer: %w", p, err)
	}
	created := v1.Time{Time: o.Time}
	labels := map[string]string{LabelSource: o.Source, LabelTitle: Title}
	if o.Revision != "" {
		labels[LabelRevision] = o.Revision
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Created:      created,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			User:         User,
			Entrypoint:   []string{Binary},
			ExposedPorts: map[string]struct{}{Port: {}},
			Labels:       labels,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image: %s: config: %w", p, err)
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   created,
		CreatedBy: fmt.Sprintf("CGO_ENABLED=0 GOOS=%s GOARCH=%s go build %s %s (%s); /etc/passwd, /etc/group", p.OS, p.Architecture, shellJoin(BuildFlags), Package, goVersion),
		Comment:   "linecook image build",
	}})
	if err != nil {
		return nil, fmt.Errorf("image: %s: %w", p, err)
	}
	if _, err := img.Digest(); err != nil {
		return nil, fmt.Errorf("image: %s: manifest: %w", p, err)
	}
	if o.Log != nil {
		fmt.Fprintf(o.Log, "%s: linecookd %.1f MB, layer %.1f MB gzipped, %s\n",
			p, float64(len(exe))/1e6, float64(len(tgz))/1e6, time.Since(start).Round(100*time.Millisecond))
	}
	return img, nil
}

// Compile builds linecookd from the checkout at dir for goos/goarch into
// out, exactly as the Dockerfile does: BuildFlags, CGO_ENABLED=0. The
// variables that would change the code generated (GOFLAGS, GOAMD64,
// GOARM64) are set to the defaults, nonempty so that neither the
// environment nor `go env -w` can change them.
func Compile(ctx context.Context, dir, goos, goarch, out string) error {
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", out, Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch,
		"GOFLAGS=-mod=readonly", "GOAMD64=v1", "GOARM64=v8.0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("image: go build linecookd for %s/%s in %s: %v\n%s", goos, goarch, dir, err, b)
	}
	return nil
}

// The files of the layer besides the binary: the root and nonroot users
// and groups, as distroless names them, so `ps`, `ls -l` and the like
// show names. nonroot's home is the one directory it may write to.
// The Dockerfile writes the same (a test compares them).
const (
	Passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	Group  = "root:x:0:\nnonroot:x:65532:\n"
)

// Layer returns the gzipped tar of the image's one layer: /linecookd (the
// given executable), /etc/passwd, /etc/group and nonroot's home, with
// their directories, in sorted order, every entry at time t. The binary
// and /etc belong to root and are not writable by the user the container
// runs as, so a compromised process cannot replace its own program or
// add users; only /home/nonroot is nonroot's.
func Layer(exe []byte, t time.Time) ([]byte, error) {
	type entry struct {
		name     string
		dir      bool
		mode     int64
		uid, gid int
		data     []byte
	}
	entries := []entry{
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(Group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(Passwd)},
		{name: "home/", dir: true, mode: 0o755},
		{name: "home/nonroot/", dir: true, mode: 0o700, uid: UID, gid: GID},
		{name: strings.TrimPrefix(Binary, "/"), mode: 0o755, data: exe},
	}
	if !slices.IsSortedFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) }) {
		panic("image: layer entries out of order")
	}
	var buf bytes.Buffer
	// gzip's default level: on linecookd, 10% smaller than
	// go-containerregistry's BestSpeed for 0.2 s more, and within 0.3% of
	// BestCompression, which takes four times as long.
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: t,
			Format:  tar.FormatUSTAR,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parsePlatforms parses, checks, sorts and deduplicates os/arch pairs.
func parsePlatforms(in []string) ([]v1.Platform, error) {
	if len(in) == 0 {
		in = DefaultPlatforms
	}
	var out []v1.Platform
	for _, s := range in {
		p, err := v1.ParsePlatform(s)
		if err != nil {
			return nil, fmt.Errorf("image: platform %q: %w", s, err)
		}
		if p.OS != "linux" || p.Architecture == "" || p.Variant != "" || p.OSVersion != "" || strings.Count(s, "/") != 1 {
			return nil, fmt.Errorf("image: platform %q: want linux/ARCH (linux/amd64, linux/arm64)", s)
		}
		if !slices.ContainsFunc(out, func(q v1.Platform) bool { return q.Equals(*p) }) {
			out = append(out, *p)
		}
	}
	slices.SortFunc(out, func(a, b v1.Platform) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

// ModuleRoot returns the root of the linecook checkout dir is in (the
// working directory when dir is empty): the directory of its go.mod.
func ModuleRoot(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}} {{.Dir}}")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("image: find the linecook module (run inside a checkout): go list -m: %v%s", err, stderr(err))
	}
	path, root, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if path != Module {
		return "", fmt.Errorf("image: the module here is %q, not %s: run inside a linecook checkout", path, Module)
	}
	return root, nil
}

func goEnv(ctx context.Context, dir, key string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", key)
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("image: go env %s: %v%s", key, err, stderr(err))
	}
	return strings.TrimSpace(string(b)), nil
}

// shellJoin renders args as a shell command line would be written, with
// double quotes around the values that hold blanks.
func shellJoin(args []string) string {
	var out []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.ContainsAny(v, " \t") {
			a = k + `="` + v + `"`
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return "\n" + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// WriteOCI writes idx to dir as an OCI image layout whose index.json
// points at idx (by its digest, the one Build's caller prints), with every
// blob under blobs/. dir must not hold a layout already: a layout appends,
// and the old index would stay listed beside the new.
func WriteOCI(dir string, idx v1.ImageIndex) error {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return fmt.Errorf("image: %s already holds an OCI layout: write to a new directory", dir)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("image: write OCI layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx); err != nil {
		return fmt.Errorf("image: write OCI layout %s: %w", dir, err)
	}
	return nil
}

// ExtractBinary writes the linecookd of idx's image for platform (os/arch)
// to out, executable: the very bytes ECS runs, for `linecook local
// --from-image` and the tests.
func ExtractBinary(idx v1.ImageIndex, platform, out string) error {
	ps, err := parsePlatforms([]string{platform})
	if err != nil {
		return err
	}
	want := ps[0]
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	for _, d := range m.Manifests {
		if d.Platform == nil || d.Platform.OS != want.OS || d.Platform.Architecture != want.Architecture {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return fmt.Errorf("image: %s: %w", platform, err)
		}
		rc := mutate.Extract(img)
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return fmt.Errorf("image: %s: no %s in the image", platform, Binary)
			}
			if err != nil {
				return fmt.Errorf("image: %s: read the filesystem: %w", platform, err)
			}
			if "/"+strings.TrimPrefix(h.Name, "/") != Binary {
				continue
			}
			f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
			if err != nil {
				return fmt.Errorf("image: %w", err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return fmt.Errorf("image: write %s: %w", out, err)
			}
			return f.Close()
		}
	}
	return fmt.Errorf("image: no %s image in the index", platform)
}
