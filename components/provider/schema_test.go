package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
)

var update = flag.Bool("update", false, "rewrite schema.json from the code")

// TestSchema checks that schema.json, which the plugin serves, is infer's
// schema of the components with the Go doc comments as descriptions. Run
// `go test ./components/provider -update` after changing a component's
// Args or outputs.
func TestSchema(t *testing.T) {
	want := generate(t)
	if *update {
		if err := os.WriteFile("schema.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal([]byte(schema), want) {
		t.Fatalf("schema.json does not match the components: run go test ./components/provider -update and commit it\n%s", firstDiff(schema, string(want)))
	}
}

// TestServedSchema: the plugin serves schema.json as it is.
func TestServedSchema(t *testing.T) {
	prov, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s := server(t, prov)
	got, err := s.GetSchema(p.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Schema != schema {
		t.Error("the provider does not serve schema.json")
	}
}

// TestEveryPropertyIsDescribed: a property without a description is a
// field without a doc comment, and shows undocumented in every SDK.
func TestEveryPropertyIsDescribed(t *testing.T) {
	var spec pkgSpec
	if err := json.Unmarshal([]byte(schema), &spec); err != nil {
		t.Fatal(err)
	}
	for tok, r := range spec.Resources {
		if r.Description == "" {
			t.Errorf("%s has no description (its package doc comment)", tok)
		}
		for _, props := range []map[string]property{r.InputProperties, r.Properties} {
			for name, pr := range props {
				if pr.Description == "" {
					t.Errorf("%s.%s has no description (its field's doc comment)", tok, name)
				}
			}
		}
	}
	for tok, ty := range spec.Types {
		for name, pr := range ty.Properties {
			if pr.Description == "" {
				t.Errorf("%s.%s has no description", tok, name)
			}
		}
	}
	if len(spec.Resources) != 4 {
		t.Errorf("resources = %d, want the 4 components", len(spec.Resources))
	}
}

type property struct {
	Description string `json:"description"`
}

type pkgSpec struct {
	Resources map[string]struct {
		Description     string              `json:"description"`
		InputProperties map[string]property `json:"inputProperties"`
		Properties      map[string]property `json:"properties"`
	} `json:"resources"`
	Types map[string]struct {
		Description string              `json:"description"`
		Properties  map[string]property `json:"properties"`
	} `json:"types"`
}

func server(t *testing.T, prov p.Provider) integration.Server {
	t.Helper()
	s, err := integration.NewServer(context.Background(), Name, semver.MustParse(Version), integration.WithProvider(prov))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// generate is infer's schema with descriptions from the Go sources.
func generate(t *testing.T) []byte {
	t.Helper()
	prov, err := Inferred()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := server(t, prov).GetSchema(p.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal([]byte(resp.Schema), &spec); err != nil {
		t.Fatal(err)
	}
	docs := map[string]goDocs{}
	for tok, r := range spec["resources"].(map[string]any) {
		pkg, typ := split(t, tok)
		d := docsOf(t, pkg, docs)
		res := r.(map[string]any)
		// "Package stage is a Pulumi component for …" → "A Pulumi component for …".
		res["description"] = upperFirst(strings.TrimPrefix(d.pkg, "Package "+pkg+" is "))
		describe(res["inputProperties"], d.fields["Args"])
		describe(res["properties"], d.fields[typ])
	}
	for tok, ty := range spec["types"].(map[string]any) {
		pkg, typ := split(t, tok)
		d := docsOf(t, pkg, docs)
		obj := ty.(map[string]any)
		if doc := d.types[typ]; doc != "" {
			obj["description"] = doc
		}
		describe(obj["properties"], d.fields[typ])
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(spec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func split(t *testing.T, tok string) (pkg, typ string) {
	parts := strings.Split(tok, ":")
	if len(parts) != 3 || parts[0] != Name {
		t.Fatalf("token %q: want linecook:<package>:<Type>", tok)
	}
	return parts[1], parts[2]
}

func describe(props any, fields map[string]string) {
	m, _ := props.(map[string]any)
	for name, pr := range m {
		if doc := fields[name]; doc != "" {
			pr.(map[string]any)["description"] = doc
		}
	}
}

// goDocs are one component package's doc comments: the package's, each
// type's, and each tagged field's by its schema name.
type goDocs struct {
	pkg    string
	types  map[string]string
	fields map[string]map[string]string
}

var tagName = regexp.MustCompile(`pulumi:"([^",]+)`)

func docsOf(t *testing.T, pkg string, cache map[string]goDocs) goDocs {
	t.Helper()
	if d, ok := cache[pkg]; ok {
		return d
	}
	fset := token.NewFileSet()
	d := goDocs{types: map[string]string{}, fields: map[string]map[string]string{}}
	files, _ := filepath.Glob(filepath.Join("..", pkg, "*.go"))
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			d.pkg = firstParagraph(f.Doc.Text())
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				if doc := ts.Doc; doc != nil {
					d.types[ts.Name.Name] = text(doc.Text())
				} else if gd.Doc != nil {
					d.types[ts.Name.Name] = text(gd.Doc.Text())
				}
				fields := map[string]string{}
				for _, fld := range st.Fields.List {
					if fld.Tag == nil || fld.Doc == nil {
						continue
					}
					if m := tagName.FindStringSubmatch(fld.Tag.Value); m != nil {
						fields[m[1]] = text(fld.Doc.Text())
					}
				}
				d.fields[ts.Name.Name] = fields
			}
		}
	}
	cache[pkg] = d
	return d
}

// text joins a doc comment's lines into paragraphs, as SDK docs show them.
func text(doc string) string {
	var paras []string
	for _, p := range strings.Split(strings.TrimSpace(doc), "\n\n") {
		paras = append(paras, strings.Join(strings.Fields(p), " "))
	}
	return strings.Join(paras, "\n\n")
}

func firstParagraph(doc string) string {
	return text(strings.SplitN(strings.TrimSpace(doc), "\n\n", 2)[0])
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		x, y := "", ""
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  schema.json: " + x + "\n  the code:    " + y
		}
	}
	return ""
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
