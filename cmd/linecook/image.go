package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linecook/linecook/tools/image"
)

func init() { root.AddCommand(imageCmd()) }

// imageFlags are what build and push share.
type imageFlags struct {
	platforms []string
	revision  string
}

func (f *imageFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.platforms, "platform", image.DefaultPlatforms, "platforms to build, linux/ARCH, comma-separated or repeated")
	fl.StringVar(&f.revision, "revision", "", "the org.opencontainers.image.revision label (default: git rev-parse HEAD; --revision= leaves it out)")
}

// options turns the flags into image.Options for the checkout the working
// directory is in.
func (f *imageFlags) options(cmd *cobra.Command) (image.Options, error) {
	ctx := cmd.Context()
	dir, err := image.ModuleRoot(ctx, "")
	if err != nil {
		return image.Options{}, err
	}
	o := image.Options{Dir: dir, Platforms: f.platforms, Revision: f.revision, Log: cmd.ErrOrStderr()}
	if !cmd.Flags().Changed("revision") {
		o.Revision = gitRevision(ctx, dir, cmd.ErrOrStderr())
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil || sec < 0 {
			return image.Options{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)
		}
		o.Time = time.Unix(sec, 0)
	}
	return o, nil
}

// gitRevision is HEAD's commit id, or "" outside a git checkout. A work
// tree with changes gets a warning: the label names HEAD, not what was
// built.
func gitRevision(ctx context.Context, dir string, warn io.Writer) string {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	rev, err := git("rev-parse", "HEAD")
	if err != nil {
		return ""
	}
	if st, err := git("status", "--porcelain"); err == nil && st != "" {
		fmt.Fprintf(warn, "linecook: the work tree has changes: the revision label says %s, which is not quite what was built\n", rev)
	}
	return rev
}

func imageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the linecook image (linecookd on no base) and push it, without Docker",
		Long: `The linecook image is linecookd alone: cross-compiled for each platform with
the Dockerfile's reproducible flags, in one layer with an /etc/passwd and
/etc/group naming the user it runs as (65532, nonroot), under an OCI index of
the platforms. No Docker, no base image: the same commit gives the same
digest on any machine with the same Go release.

Run it inside a linecook checkout. The revision label is HEAD's commit id
unless --revision says otherwise, so each commit has its own digest; with
--revision= the digest changes only when linecookd does. SOURCE_DATE_EPOCH,
when set, replaces the epoch as the files' and the config's time.`,
	}
	cmd.AddCommand(imageBuildCmd(), imagePushCmd())
	return cmd
}

func imageBuildCmd() *cobra.Command {
	var (
		f   imageFlags
		oci string
	)
	cmd := &cobra.Command{
		Use:   "build [--oci DIR]",
		Short: "Build the image; print its index digest, and write it as an OCI layout with --oci",
		Example: `  linecook image build --oci /tmp/linecook-oci
  linecook image build --platform linux/arm64`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			idx, err := image.Build(cmd.Context(), o)
			if err != nil {
				return err
			}
			d, err := idx.Digest()
			if err != nil {
				return err
			}
			if oci != "" {
				if err := image.WriteOCI(oci, idx); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), d)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&oci, "oci", "", "write the image to this directory as an OCI image layout (a new directory)")
	return cmd
}

func imagePushCmd() *cobra.Command {
	var f imageFlags
	cmd := &cobra.Command{
		Use:   "push REPOSITORY[:TAG]",
		Short: "Build the image and push it; print REPOSITORY@sha256:… to deploy",
		Long: `Push builds the image and pushes it to REPOSITORY, tagged TAG (latest when
none is given), and prints the repository at the index's digest: the
reference to deploy (pulumi config set linecook:image …), which no later push
to the tag changes.

An Amazon ECR repository (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME) is
authenticated through the AWS SDK's default credentials (AWS_PROFILE, AWS_*
variables, SSO, a role): ecr:GetAuthorizationToken in the registry's region,
and the push permissions on the repository. Any other registry uses the
Docker config's credentials (~/.docker/config.json, credential helpers).`,
		Example: `  linecook image push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/linecook:v1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := image.Target(args[0]); err != nil {
				return err
			}
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			idx, err := image.Build(cmd.Context(), o)
			if err != nil {
				return err
			}
			ref, err := image.Push(cmd.Context(), idx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ref)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
