package burger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	awsxecr "github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/image"
)

// keptImages is how many images the repository keeps: enough to roll
// back several deployments, few enough that storage stays negligible.
const keptImages = 20

// linecookImage is the one image the API and every built-in worker run:
// a prebuilt URI from linecook:image, or this repository's linecookd built
// and pushed to a repository of the stack's own, with Go
// (linecook:imageBuild go, the default; no Docker) or from the Dockerfile
// by awsx (docker).
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
	if cfg.ImageBuild == pipeline.ImageBuildDocker {
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
	return goImage(ctx, root, repo.RepositoryUrl)
}

// goImage builds linecookd's image with Go (tools/image: the same image
// `linecook image build --revision=` builds) and deploys it by digest.
//
// Why no resource of its own: the digest is a pure function of the
// sources and is known at preview, so the task definitions' image, and so
// their diff, changes exactly when linecookd does; a preview builds but
// pushes nothing. The push is the one side effect, made during `pulumi up`
// once the repository's URL is known and before any task definition that
// names the digest is created (they take the push's output). Pushing is
// idempotent (a registry that holds the digest takes it again at no cost),
// so a retried or repeated up does no harm, and `pulumi destroy` needs
// nothing undone: the repository goes with its images (ForceDelete).
func goImage(ctx *pulumi.Context, root string, repositoryURL pulumi.StringOutput) (pulumi.StringOutput, error) {
	idx, err := buildOnce(ctx.Context(), root)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("build the linecook image (or set linecook:image, or linecook:imageBuild docker): %w", err)
	}
	digest, err := idx.Digest()
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("build the linecook image: %w", err)
	}
	dryRun := ctx.DryRun()
	return repositoryURL.ApplyTWithContext(ctx.Context(), func(c context.Context, url string) (string, error) {
		ref := url + "@" + digest.String()
		if dryRun {
			return ref, nil
		}
		// The tag names the digest, so the repository lists it and ECR's
		// lifecycle rule counts it; deploys use the digest.
		if err := pushImage(c, idx, url+":"+imageTag(digest)); err != nil {
			return "", fmt.Errorf("push the linecook image to %s: %w", url, err)
		}
		return ref, nil
	}).(pulumi.StringOutput), nil
}

// pushImage pushes idx to ref with the usual credentials (ECR through the
// AWS SDK's, others through the Docker config). Tests replace it: there
// is no registry at the mocks' repository URL.
var pushImage = func(ctx context.Context, idx v1.ImageIndex, ref string) error {
	_, err := image.Push(ctx, idx, ref)
	return err
}

// imageTag is the tag a pushed image gets: sha256-<first 12 hex digits>.
func imageTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex[:12] }

// builds memoizes buildOnce per repository root: a program that runs more
// than once in one process (a preview then an up, the engine tests) builds
// once.
var builds sync.Map // root → *builtImage

type builtImage struct {
	once sync.Once
	idx  v1.ImageIndex
	err  error
}

func buildOnce(ctx context.Context, root string) (v1.ImageIndex, error) {
	v, _ := builds.LoadOrStore(root, &builtImage{})
	b := v.(*builtImage)
	b.once.Do(func() {
		// No revision label: the digest follows linecookd's sources
		// alone, so a commit that only changes docs redeploys nothing.
		b.idx, b.err = image.Build(ctx, image.Options{Dir: root})
	})
	return b.idx, b.err
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
