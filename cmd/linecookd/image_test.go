package main

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The image is built by Docker from the repository's Dockerfile with the
// repository as its context, filtered by .dockerignore. These tests check
// what Docker would be given and what it would build, without Docker: the
// context matcher below follows Docker's .dockerignore rules (patterns
// with *, ** and ?, matched against a path and each of its parents, the
// last matching line winning, ! re-including) for the patterns the file
// uses; it is a stand-in for Docker's matcher, not a copy of it.

const root = "../.."

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

func readDockerignore(t *testing.T) []ignoreRule {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []ignoreRule
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, line[1:]
		}
		line = strings.Trim(filepath.ToSlash(filepath.Clean(line)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case line[i] == '*':
				re.WriteString("[^/]*")
			case line[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(line[i : i+1]))
			}
		}
		re.WriteString("$")
		r.re = regexp.MustCompile(re.String())
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rules
}

// inContext reports whether Docker would send path (slash-separated,
// relative to the context) with the build context.
func inContext(rules []ignoreRule, path string) bool {
	excluded := false
	for _, r := range rules {
		for p := path; p != "."; p = filepath.ToSlash(filepath.Dir(p)) {
			if r.re.MatchString(p) {
				excluded = !r.negate
				break
			}
		}
	}
	return !excluded
}

// contextFiles lists the repository's files Docker would send.
func contextFiles(t *testing.T, rules []ignoreRule) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if inContext(rules, rel) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestBuildContextIsLinecookdsSourcesOnly: every package linecookd imports
// is in the context with its non-test Go files and embedded files, and
// nothing else is, so
// editing the docs, the stack, the tools or a test changes no image.
func TestBuildContextIsLinecookdsSourcesOnly(t *testing.T) {
	rules := readDockerignore(t)
	files := contextFiles(t, rules)
	// Embedded files (the API's live page) are read by the build too.
	list := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}} {{join .GoFiles \" \"}} {{join .EmbedFiles \" \"}}{{end}}", "./cmd/linecookd")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, _ := filepath.Abs(root)
	need := map[string]bool{"go.mod": true, "go.sum": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		rel, err := filepath.Rel(abs, fields[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency, fetched by the build
		}
		for _, f := range fields[1:] {
			need[filepath.ToSlash(filepath.Join(rel, f))] = true
		}
	}
	for f := range need {
		if !slices.Contains(files, f) {
			t.Errorf("%s is needed to build linecookd but .dockerignore keeps it out of the context", f)
		}
	}
	for _, f := range files {
		if !need[f] {
			t.Errorf("%s is in the build context but linecookd's build does not read it: any edit to it would rebuild every service's image", f)
		}
	}
	for _, f := range []string{"README.md", "Dockerfile", "stacks/burger/burger.go", "tools/local/runner.go", "burger/api/api_test.go", "docs/workers.md"} {
		if inContext(rules, f) {
			t.Errorf("%s is in the build context", f)
		}
	}
	t.Logf("build context: %d files", len(files))
}
