package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// StackFile returns the path of a stack's settings file in dir:
// Pulumi.<stack>.yaml.
func StackFile(dir, stack string) string {
	return filepath.Join(dir, "Pulumi."+stack+".yaml")
}

// ReadStackFile reads a Pulumi.<stack>.yaml file into the form Pulumi gives
// a program its config: full keys to strings, with objects and lists as
// JSON. Parse takes the result, so `linecook local` and `linecook simulate`
// see exactly what `pulumi up` would.
func ReadStackFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Config map[string]yaml.Node `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	values := make(map[string]string, len(doc.Config))
	for key, node := range doc.Config {
		v, err := configValue(&node)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		values[key] = v
	}
	return values, nil
}

func configValue(n *yaml.Node) (string, error) {
	if n.Kind == yaml.ScalarNode {
		return n.Value, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return "", err
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if _, secure := m["secure"]; secure {
			return "", fmt.Errorf("is a Pulumi secret, which only the Pulumi CLI can decrypt")
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// StackConfig reads and parses a stack's settings file: the one call
// `linecook local` and `linecook simulate` make.
func StackConfig(dir, stack string, opts Options) (Config, error) {
	path := StackFile(dir, stack)
	values, err := ReadStackFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return Config{}, fmt.Errorf("no stack %q: %s does not exist (stacks here: %s)", stack, path, strings.Join(Stacks(dir), ", "))
		}
		return Config{}, err
	}
	cfg, err := Parse(values, opts)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return cfg, nil
}

// Stacks lists the stacks that have a settings file in dir.
func Stacks(dir string) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	var out []string
	for _, m := range matches {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "Pulumi."), ".yaml"))
	}
	return out
}
