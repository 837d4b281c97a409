package image

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

type pushOptions struct {
	keychain authn.Keychain
	remote   []remote.Option
}

// PushOption configures Push.
type PushOption func(*pushOptions)

// WithKeychain replaces Push's credentials, Keychain(), by kc.
func WithKeychain(kc authn.Keychain) PushOption {
	return func(o *pushOptions) { o.keychain = kc }
}

// WithRemoteOptions passes options to go-containerregistry's remote
// writes (a transport, progress, retries). Push sets the context and the
// credentials itself.
func WithRemoteOptions(opts ...remote.Option) PushOption {
	return func(o *pushOptions) { o.remote = append(o.remote, opts...) }
}

// Push pushes idx, its images and their blobs to ref, a repository with an
// optional tag (no tag means latest, as docker push does), and returns the
// repository at idx's digest: the reference to deploy, which no later
// push to the tag changes.
func Push(ctx context.Context, idx v1.ImageIndex, ref string, opts ...PushOption) (name.Digest, error) {
	o := pushOptions{keychain: Keychain()}
	for _, opt := range opts {
		opt(&o)
	}
	r, err := Target(ref)
	if err != nil {
		return name.Digest{}, err
	}
	d, err := idx.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("image: push to %s: %w", r, err)
	}
	ropts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain), remote.WithUserAgent("linecook-image")}, o.remote...)
	if err := remote.WriteIndex(r, idx, ropts...); err != nil {
		return name.Digest{}, fmt.Errorf("image: push %s to %s: %w", d, r, err)
	}
	return r.Context().Digest(d.String()), nil
}

// Target parses what Push pushes to: a repository with an optional tag,
// not a digest (the digest is the image's). The CLI checks it before it
// builds.
func Target(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image: push to %q: %w", ref, err)
	}
	if _, ok := r.(name.Digest); ok {
		return nil, fmt.Errorf("image: push to %q: give a repository and optionally a tag, not a digest (the digest is the image's)", ref)
	}
	return r, nil
}

// Keychain is Push's default credentials: for an Amazon ECR registry, a
// token from ECR's GetAuthorizationToken with the AWS SDK's default
// credentials (AWS_PROFILE, AWS_* variables, SSO, the task or instance
// role); for any other registry, the Docker config's
// (~/.docker/config.json and its credential helpers), as `docker push`
// uses.
func Keychain() authn.Keychain {
	return authn.NewMultiKeychain(&ECRKeychain{}, authn.DefaultKeychain)
}

// ecrHost matches the hosts of ECR's private registries: account, region,
// the FIPS and dual-stack forms, the China partition.
var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr[.-]ecr(-fips)?\.([a-z0-9-]+)\.(amazonaws\.com(\.cn)?|on\.aws)$`)

// ECRRegion returns the AWS region of an ECR registry host
// (123456789012.dkr.ecr.eu-west-1.amazonaws.com is eu-west-1), and false
// for a host that is not ECR's.
func ECRRegion(host string) (string, bool) {
	m := ecrHost.FindStringSubmatch(strings.ToLower(host))
	if m == nil {
		return "", false
	}
	return m[3], true
}

// ECRKeychain gives ECR registries the credentials docker login would
// get from `aws ecr get-login-password`: user AWS and a 12-hour token from
// GetAuthorizationToken, asked in the registry's region. Other registries
// resolve to authn.Anonymous, so it composes with authn.NewMultiKeychain.
// The AWS configuration is the SDK's default chain with the registry's
// region (AWS_ENDPOINT_URL_ECR redirects the calls, as for any service).
// The zero ECRKeychain is ready to use; it keeps each registry's token for
// its lifetime.
type ECRKeychain struct {
	mu     sync.Mutex
	tokens map[string]authn.Authenticator
}

// Resolve implements authn.Keychain.
func (k *ECRKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain.
func (k *ECRKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	host := r.RegistryStr()
	region, ok := ECRRegion(host)
	if !ok {
		return authn.Anonymous, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if a, ok := k.tokens[host]; ok {
		return a, nil
	}
	fips := strings.Contains(host, "-fips.")
	cfg, err := awsConfig(ctx, region, fips)
	if err != nil {
		return nil, fmt.Errorf("image: credentials for ECR registry %s: AWS config: %w", host, err)
	}
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return nil, fmt.Errorf("image: credentials for ECR registry %s: ecr:GetAuthorizationToken in %s: %w", host, region, err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return nil, fmt.Errorf("image: credentials for ECR registry %s: ecr:GetAuthorizationToken in %s returned no token", host, region)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		return nil, fmt.Errorf("image: credentials for ECR registry %s: token: %w", host, err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, fmt.Errorf("image: credentials for ECR registry %s: %w", host, errors.New("token is not user:password"))
	}
	a := authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})
	if k.tokens == nil {
		k.tokens = map[string]authn.Authenticator{}
	}
	k.tokens[host] = a
	return a, nil
}

func awsConfig(ctx context.Context, region string, fips bool) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if fips {
		opts = append(opts, config.WithUseFIPSEndpoint(aws.FIPSEndpointStateEnabled))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}
