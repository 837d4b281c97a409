package burger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	awsxecr "github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/pipeline"
)

// keptImages is how many images the repository keeps: enough to roll
// back several deployments, few enough that storage stays negligible.
const keptImages = 20

// linecookImage is the one image the API and every built-in worker run:
// a prebuilt URI from linecook:image, or this repository's Dockerfile
// built and pushed to a repository of the stack's own.
func linecookImage(ctx *pulumi.Context, cfg pipeline.Config) (pulumi.StringOutput, error) {
	if cfg.Image != "" {
		return pulumi.String(cfg.Image).ToStringOutput(), nil
	}
	root, err := repositoryRoot(ctx)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	// A plain ECR repository rather than awsx's: awsx.ecr.Repository is a
	// remote component whose only addition is a lifecycle policy, and the
	// plain resource is visible to tests and exposes its ARN.
	repo, err := ecr.NewRepository(ctx, "linecook", &ecr.RepositoryArgs{
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		// `pulumi destroy` removes the repository with its images.
		ForceDelete: pulumi.Bool(true),
	})
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, "linecook", &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(lifecyclePolicy()),
	}); err != nil {
		return pulumi.StringOutput{}, err
	}
	img, err := awsxecr.NewImage(ctx, "linecook", &awsxecr.ImageArgs{
		RepositoryUrl: repo.RepositoryUrl,
		Context:       pulumi.String(root),
		Dockerfile:    pulumi.String(filepath.Join(root, "Dockerfile")),
		// The task definitions run X86_64.
		Platform: pulumi.String("linux/amd64"),
	})
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return img.ImageUri, nil
}

func lifecyclePolicy() string {
	return mustJSON(map[string]any{"rules": []map[string]any{{
		"rulePriority": 1,
		"description":  fmt.Sprintf("keep the last %d images", keptImages),
		"selection":    map[string]any{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keptImages},
		"action":       map[string]any{"type": "expire"},
	}}})
}

// repositoryRoot is the Docker build context: the directory of Pulumi.yaml
// when the Pulumi CLI runs the program, else the nearest directory above
// the working directory holding go.mod (tests, `go run`).
func repositoryRoot(ctx *pulumi.Context) (string, error) {
	if dir := ctx.RootDirectory(); dir != "" {
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find the repository root: %w", err)
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("find the repository root: no go.mod in %s or above it; run from the linecook repository or set linecook:image", wd)
		}
	}
}
