package fargate

import (
	"slices"
	"strings"
	"testing"
)

func TestECRRepositoryARN(t *testing.T) {
	for _, tc := range []struct {
		image, want string
		ok          bool
	}{
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com/linecook@sha256:abcd", "arn:aws:ecr:us-east-1:123456789012:repository/linecook", true},
		{"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/worker:1.2", "arn:aws:ecr:eu-west-1:123456789012:repository/team/worker", true},
		{"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/worker", "arn:aws:ecr:eu-west-1:123456789012:repository/team/worker", true},
		{"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/x:latest", "arn:aws:ecr:us-east-1:123456789012:repository/x", true},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/x:1", "arn:aws-cn:ecr:cn-north-1:123456789012:repository/x", true},
		{"public.ecr.aws/docker/library/busybox:latest", "", false},
		{"ghcr.io/acme/thumbs:1.2", "", false},
		{"localhost:5000/x", "", false},
		{"busybox", "", false},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/x", "", false},
	} {
		got, ok := ECRRepositoryARN(tc.image)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ECRRepositoryARN(%q) = %q, %v; want %q, %v", tc.image, got, ok, tc.want, tc.ok)
		}
	}
}

func TestExecutionPolicyScopes(t *testing.T) {
	doc := ExecutionPolicy("ghcr.io/acme/x:1", "arn:aws:logs:us-east-1:1:log-group:g", "aws", nil)
	var actions []string
	for _, s := range doc.Statement {
		actions = append(actions, s.Action...)
	}
	if slices.ContainsFunc(actions, func(a string) bool {
		return strings.HasPrefix(a, "ecr:") || strings.HasPrefix(a, "secretsmanager:")
	}) {
		t.Errorf("actions %v: no ECR for a non-ECR image, no secrets without secrets", actions)
	}
}

func TestContainerDefinitionsAreStable(t *testing.T) {
	env := map[string]string{"B": "2", "A": "1", "C": "3"}
	first, err := containerDefinitions(Container{Name: "x"}, "img", env, "lg", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := containerDefinitions(Container{Name: "x"}, "img", env, "lg", "us-east-1")
		if again != first {
			t.Fatalf("rendering changed between calls:\n%s\n%s", first, again)
		}
	}
}
