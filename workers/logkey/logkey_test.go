package logkey_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The check reads the Go sources of everything linecookd links from this
// module, type-checked (so it knows a *slog.Logger call and a constant's
// value wherever they are written), and finds every attribute key:
//
//   - the key/value arguments of slog's logging calls (Info, Warn, Error,
//     Debug, their Context forms, Log, LogAttrs, With) on a *slog.Logger
//     or the package's default logger;
//   - the key of slog.String, slog.Int, … and slog.Group;
//   - the elements of every []any built with a literal or append: in
//     linecookd those are only ever lists of log attributes spread into a
//     logging call (the runtime's fields, the access log's attrs).
//
// A key must be a logkey constant: a literal (even one in the list) is
// where drift starts again.

const (
	linecookd   = "cmd/linecookd"
	logkeyPath  = "workers/logkey"
	docsPath    = "docs/workers.md"
	docsTable   = "Log keys"
	docsSection = "### " + docsTable
)

func TestLinecookdLogsOnlyDocumentedKeys(t *testing.T) {
	l := newLoader(t)
	l.load(t, l.module+"/"+linecookd)
	vocab := l.vocabulary(t)
	// These packages log: a check that finds no key in one of them is
	// not seeing its calls.
	logging := map[string]bool{"workers": true, "workers/consumer": true, "burger/api": true, "burger/handlers": true, "workers/protect": true, linecookd: true}
	for _, path := range slices.Sorted(maps.Keys(l.local)) {
		p := l.local[path]
		probs, n := check(l.fset, p.files, p.info, vocab)
		for _, prob := range probs {
			t.Errorf("%s", l.rel(prob))
		}
		rel := strings.TrimPrefix(path, l.module+"/")
		t.Logf("%s: %d keys", rel, n)
		if n > 0 {
			delete(logging, rel)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(logging)) {
		t.Errorf("found no log key in %s: the check does not see its logging calls", path)
	}
}

func TestVocabularyIsSnakeCaseOneKeyPerConcept(t *testing.T) {
	l := newLoader(t)
	l.load(t, l.module+"/"+logkeyPath)
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := map[string]string{}
	for name, key := range l.constants(t) {
		if !snake.MatchString(key) {
			t.Errorf("logkey.%s = %q: not snake_case", name, key)
		}
		if other, dup := seen[key]; dup {
			t.Errorf("logkey.%s and logkey.%s are both %q: one key per concept", name, other, key)
		}
		seen[key] = name
		if key == slog.TimeKey || key == slog.LevelKey || key == slog.MessageKey {
			t.Errorf("logkey.%s = %q: slog writes that key itself", name, key)
		}
	}
}

// The docs' table of log keys lists exactly the constants.
func TestDocsListEveryKey(t *testing.T) {
	l := newLoader(t)
	l.load(t, l.module+"/"+logkeyPath)
	documented, err := docKeys(filepath.Join(l.root, docsPath))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for name, key := range l.constants(t) {
		keys[key] = true
		if !documented[key] {
			t.Errorf("logkey.%s (%q) is missing from the %q table of %s", name, key, docsTable, docsPath)
		}
	}
	for key := range documented {
		if !keys[key] {
			t.Errorf("%s lists %q under %q, but package logkey has no such key", docsPath, key, docsTable)
		}
	}
}

// The check finds a stray key in every form it looks at, and passes the
// constants: without this, a check that found nothing would pass.
func TestCheckFindsStrayKeys(t *testing.T) {
	const src = `package fixture

import (
	"context"
	"log/slog"

	"github.com/linecook/linecook/workers/logkey"
)

const mine = "order_id"

func f(log *slog.Logger, err error, dynamic string) {
	log.Info("ok", logkey.OrderID, 1, slog.String(logkey.TraceID, "t"), logkey.Error, err)
	log.Info("stray", "order", 1)                                    // line 14
	log.Warn("literal in the list", "order_id", 1)                   // line 15
	log.InfoContext(context.Background(), "ctx", logkey.Stage, 1, "orderId", 2) // line 16
	log.LogAttrs(context.Background(), slog.LevelInfo, "attrs", slog.Int("receive", 1)) // line 17
	slog.Info("default logger", "err", err)                          // line 18
	l := log.With("trace", "t")                                      // line 19
	attrs := []any{logkey.MessageID, "m", "durationMs", 1.5}         // line 20
	attrs = append(attrs, "endedAt", 0)                              // line 21
	l.Error("spread", attrs...)
	log.Info("a local constant", mine, 1)                            // line 23
	log.Info("not a constant", dynamic, 1)                           // line 24
	_ = slog.Group(logkey.Stage, "inner", 1)                         // line 25
	_ = slog.Attr{Key: "raw", Value: slog.IntValue(1)}               // line 26
}
`
	l := newLoader(t)
	l.load(t, l.module+"/"+logkeyPath)
	f, err := parser.ParseFile(l.fset, "fixture.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	info := newInfo()
	conf := types.Config{Importer: l}
	if _, err := conf.Check("example.com/fixture", l.fset, []*ast.File{f}, info); err != nil {
		t.Fatal(err)
	}
	var got []string
	probs, _ := check(l.fset, []*ast.File{f}, info, l.vocabulary(t))
	for _, p := range probs {
		got = append(got, fmt.Sprintf("%d %s", p.pos.Line, p.key))
	}
	want := []string{
		"14 order", "15 order_id", "16 orderId", "17 receive", "18 err", "19 trace",
		"20 durationMs", "21 endedAt", "23 order_id", "24 ", "25 inner", "26 raw",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems found (line key):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// problem is a key the check refuses.
type problem struct {
	pos token.Position
	key string // "" when the key is not a constant
	why string
}

// check returns the problems of the files' attribute keys, and how many
// keys it checked; vocab maps each key to its constant's name.
func check(fset *token.FileSet, files []*ast.File, info *types.Info, vocab map[string]string) (probs []problem, n int) {
	key := func(e ast.Expr) {
		n++
		tv := info.Types[e]
		if tv.Value == nil || tv.Value.Kind() != constant.String {
			probs = append(probs, problem{fset.Position(e.Pos()), "", "key is not a constant string: use a logkey constant"})
			return
		}
		k := constant.StringVal(tv.Value)
		name, ok := vocab[k]
		switch {
		case !ok:
			probs = append(probs, problem{fset.Position(e.Pos()), k, "key is not in package logkey (nor in the \"" + docsTable + "\" table of " + docsPath + ")"})
		case !isLogkeyConst(info, e):
			probs = append(probs, problem{fset.Position(e.Pos()), k, "write it as logkey." + name})
		}
	}
	// pairs checks a list of alternating keys and values, where an
	// slog.Attr stands alone.
	pairs := func(args []ast.Expr) {
		for i := 0; i < len(args); {
			if isAttr(info.Types[args[i]].Type) {
				i++
				continue
			}
			key(args[i])
			i += 2
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				args := n.Args
				if n.Ellipsis.IsValid() {
					// A spread []any: its keys are checked where it is built.
					args = args[:len(args)-1]
				}
				switch fn := callee(info, n).(type) {
				case nil:
					// Unresolved: a logging call on a logger the check
					// cannot see would escape it.
					if sel, ok := ast.Unparen(n.Fun).(*ast.SelectorExpr); ok && loggingMethods[sel.Sel.Name] {
						probs = append(probs, problem{fset.Position(n.Pos()), "", "cannot tell whether this " + sel.Sel.Name + " call logs"})
					}
				case *types.Builtin:
					if fn.Name() == "append" && isAnySlice(info.Types[n].Type) && len(args) > 1 {
						pairs(args[1:])
					}
				case *types.Func:
					first, ok := slogKeys(fn)
					switch {
					case !ok:
					case first < 0: // slog.String(key, …), slog.Group(key, pairs…)
						if len(args) > 0 {
							key(args[0])
							if fn.Name() == "Group" {
								pairs(args[1:])
							}
						}
					case first <= len(args):
						pairs(args[first:])
					}
				}
			case *ast.CompositeLit:
				t := info.Types[n].Type
				switch {
				case isAnySlice(t):
					pairs(n.Elts)
				case isAttr(t):
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Key" {
								key(kv.Value)
							}
						} else {
							key(e) // slog.Attr{key, value}
							break
						}
					}
				}
			}
			return true
		})
	}
	slices.SortFunc(probs, func(a, b problem) int {
		if c := strings.Compare(a.pos.Filename, b.pos.Filename); c != 0 {
			return c
		}
		return a.pos.Offset - b.pos.Offset
	})
	return probs, n
}

// loggingMethods are the names of *slog.Logger's methods that take keys.
var loggingMethods = map[string]bool{
	"With": true, "Debug": true, "Info": true, "Warn": true, "Error": true, "Log": true, "LogAttrs": true,
	"DebugContext": true, "InfoContext": true, "WarnContext": true, "ErrorContext": true,
}

// slogKeys says whether fn is one of slog's functions or *slog.Logger's
// methods that take attribute keys, and the index of the first argument
// in key/value position; -1 for an attribute constructor or a group
// (key first).
func slogKeys(fn *types.Func) (int, bool) {
	if fn.Pkg() == nil || fn.Pkg().Path() != "log/slog" {
		return 0, false
	}
	sig := fn.Type().(*types.Signature)
	if recv := sig.Recv(); recv != nil {
		ptr, ok := recv.Type().(*types.Pointer)
		if !ok || !isSlog(ptr.Elem(), "Logger") {
			return 0, false
		}
	}
	switch fn.Name() {
	case "With":
		return 0, true
	case "Debug", "Info", "Warn", "Error":
		return 1, true
	case "DebugContext", "InfoContext", "WarnContext", "ErrorContext":
		return 2, true
	case "Log", "LogAttrs":
		return 3, true
	case "String", "Int", "Int64", "Uint64", "Float64", "Bool", "Time", "Duration", "Any", "Group":
		return -1, sig.Recv() == nil
	}
	return 0, false
}

func callee(info *types.Info, call *ast.CallExpr) types.Object {
	switch fun := ast.Unparen(call.Fun).(type) {
	case *ast.Ident:
		return info.Uses[fun]
	case *ast.SelectorExpr:
		return info.Uses[fun.Sel]
	}
	return nil
}

func isLogkeyConst(info *types.Info, e ast.Expr) bool {
	sel, ok := ast.Unparen(e).(*ast.SelectorExpr)
	if !ok {
		return false
	}
	c, ok := info.Uses[sel.Sel].(*types.Const)
	return ok && c.Pkg() != nil && strings.HasSuffix(c.Pkg().Path(), "/"+logkeyPath)
}

func isSlog(t types.Type, name string) bool {
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "log/slog" && n.Obj().Name() == name
}

func isAttr(t types.Type) bool { return t != nil && isSlog(t, "Attr") }

func isAnySlice(t types.Type) bool {
	s, ok := types.Unalias(t).(*types.Slice)
	if !ok {
		return false
	}
	i, ok := s.Elem().Underlying().(*types.Interface)
	return ok && i.Empty()
}

// docKeys reads the keys in the first column of the docs' table of log
// keys: the rows after docsSection, up to the next heading.
func docKeys(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| *`([^`]+)` *\\|")
	keys := map[string]bool{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			in = strings.TrimSpace(line) == docsSection
		case in:
			if m := row.FindStringSubmatch(line); m != nil {
				keys[m[1]] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s has no %q section with a table of keys", path, docsSection)
	}
	return keys, nil
}

// loader type-checks this module's packages from source, recursively, and
// the standard library from its export data. Other modules' packages (the
// AWS SDK) are stood in for by empty packages: the errors that leaves in
// code using them do not touch the types the check needs (slog's, the
// constants', []any).
type loader struct {
	t      *testing.T
	fset   *token.FileSet
	root   string // the module's directory
	module string // its path
	std    types.Importer
	// exports are the export data files of the standard packages, listed
	// at the first one imported.
	exports map[string]string
	local   map[string]*pkg
	other   map[string]*types.Package
}

type pkg struct {
	types *types.Package
	files []*ast.File
	info  *types.Info
}

func newLoader(t *testing.T) *loader {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod names no module")
	}
	fset := token.NewFileSet()
	l := &loader{
		t: t, fset: fset, root: dir, module: string(m[1]),
		local: map[string]*pkg{}, other: map[string]*types.Package{},
	}
	l.std = importer.ForCompiler(fset, "gc", l.export)
	return l
}

// Import implements types.Importer.
func (l *loader) Import(path string) (*types.Package, error) {
	switch {
	case l.isLocal(path):
		return l.load(l.t, path), nil
	case isStd(path):
		return l.std.Import(path)
	}
	p := l.other[path]
	if p == nil {
		p = types.NewPackage(path, filepath.Base(path))
		p.MarkComplete()
		l.other[path] = p
	}
	return p, nil
}

// export opens a standard package's export data. Asking the go command for
// each package separately costs a few tenths of a second apiece, so the
// first call lists every standard package linecookd imports at once.
func (l *loader) export(path string) (io.ReadCloser, error) {
	if l.exports == nil {
		l.exports = map[string]string{}
		l.listExports(l.stdImports(l.module+"/"+linecookd, map[string]bool{}))
	}
	if _, ok := l.exports[path]; !ok {
		l.listExports([]string{path})
	}
	if f := l.exports[path]; f != "" {
		return os.Open(f)
	}
	return nil, fmt.Errorf("no export data for %s", path)
}

func (l *loader) listExports(paths []string) {
	if len(paths) == 0 {
		return
	}
	cmd := exec.Command("go", append([]string{"list", "-export", "-f", "{{.ImportPath}}\t{{.Export}}"}, paths...)...)
	cmd.Dir = l.root
	out, err := cmd.Output()
	if err != nil {
		l.t.Fatalf("go list -export %s: %v", strings.Join(paths, " "), err)
	}
	for line := range strings.Lines(string(out)) {
		if path, file, ok := strings.Cut(strings.TrimSpace(line), "\t"); ok {
			l.exports[path] = file
		}
	}
}

// stdImports are the standard packages the module's package path and the
// module's packages it imports import.
func (l *loader) stdImports(path string, seen map[string]bool) []string {
	var out []string
	for _, imp := range l.goFiles(l.t, path, parser.ImportsOnly) {
		for _, spec := range imp.Imports {
			p := strings.Trim(spec.Path.Value, `"`)
			switch {
			case seen[p]:
			case l.isLocal(p):
				seen[p] = true
				out = append(out, l.stdImports(p, seen)...)
			case isStd(p):
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

func (l *loader) isLocal(path string) bool {
	return path == l.module || strings.HasPrefix(path, l.module+"/")
}

func isStd(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }

// goFiles parses the package's Go files, its tests left out.
func (l *loader) goFiles(t *testing.T, path string, mode parser.Mode) []*ast.File {
	t.Helper()
	dir := filepath.Join(l.root, strings.TrimPrefix(strings.TrimPrefix(path, l.module), "/"))
	bp, err := build.Default.ImportDir(dir, 0)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(l.fset, filepath.Join(dir, name), nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// load type-checks one of the module's packages (not its tests) and the
// module's packages it imports.
func (l *loader) load(t *testing.T, path string) *types.Package {
	t.Helper()
	if p, ok := l.local[path]; ok {
		return p.types
	}
	p := &pkg{info: newInfo(), files: l.goFiles(t, path, parser.SkipObjectResolution)}
	l.local[path] = p
	conf := types.Config{Importer: l, Error: func(error) {}}
	p.types, _ = conf.Check(path, l.fset, p.files, p.info)
	return p.types
}

// constants are package logkey's exported string constants: name → key.
func (l *loader) constants(t *testing.T) map[string]string {
	t.Helper()
	p := l.local[l.module+"/"+logkeyPath]
	if p == nil {
		t.Fatalf("linecookd does not import %s", logkeyPath)
	}
	out := map[string]string{}
	scope := p.types.Scope()
	for _, name := range scope.Names() {
		c, ok := scope.Lookup(name).(*types.Const)
		if !ok || !c.Exported() || c.Val().Kind() != constant.String {
			continue
		}
		out[name] = constant.StringVal(c.Val())
	}
	if len(out) == 0 {
		t.Fatal("package logkey declares no keys")
	}
	return out
}

// vocabulary maps each key to its constant's name.
func (l *loader) vocabulary(t *testing.T) map[string]string {
	v := map[string]string{}
	for name, key := range l.constants(t) {
		v[key] = name
	}
	return v
}

// rel is a problem as file:line relative to the module, key and why.
func (l *loader) rel(p problem) string {
	name, err := filepath.Rel(l.root, p.pos.Filename)
	if err != nil {
		name = p.pos.Filename
	}
	if p.key == "" {
		return fmt.Sprintf("%s:%d: %s", name, p.pos.Line, p.why)
	}
	return fmt.Sprintf("%s:%d: log key %q: %s", name, p.pos.Line, p.key, p.why)
}

func newInfo() *types.Info {
	return &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
}
