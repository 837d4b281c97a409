// Package provider serves linecook's components as a Pulumi package, so
// programs in TypeScript, Python, C#, Java and YAML use the same VPC,
// queue, stage and order API a Go program does. It is built with
// pulumi-go-provider's infer: each component's Args is its schema, and the
// tokens are the ones the components register from Go
// (linecook:stage:Stage, …), so a stack's URNs do not depend on the
// language that made it.
//
// The schema it serves is schema.json, committed beside this file: infer's
// schema of the components with each property's description taken from
// the Go doc comment of its field. TestSchema fails when schema.json and
// the code disagree; `go test ./components/provider -update` rewrites it.
package provider

import (
	"context"
	_ "embed"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/linecook/linecook/components/orderapi"
	"github.com/linecook/linecook/components/queue"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/components/vpc"
)

// Name is the package's name: the first part of its tokens, and the
// plugin's (pulumi-resource-linecook).
const Name = "linecook"

// Version is the package version the plugin reports. A source-based
// package is used at a git tag, which is the version users pin.
var Version = "0.1.0"

//go:embed schema.json
var schema string

// Inferred is the provider as infer builds it from the components, serving
// infer's own schema (without descriptions). New serves the committed one.
func Inferred() (p.Provider, error) {
	return infer.NewProviderBuilder().
		WithDisplayName("linecook").
		WithDescription("Queue-driven worker pipelines on AWS: a VPC, an SQS queue with its dead-letter queue, a scaled Fargate stage and an order API.").
		WithKeywords("linecook", "aws", "sqs", "ecs", "fargate", "autoscaling", "category/infrastructure", "kind/component").
		WithHomepage("https://github.com/linecook/linecook").
		WithRepository("https://github.com/linecook/linecook").
		WithNamespace("linecook").
		WithGoImportPath("github.com/linecook/linecook/sdk/go/linecook").
		WithComponents(
			infer.ComponentF(vpc.New),
			infer.ComponentF(queue.New),
			infer.ComponentF(stage.New),
			infer.ComponentF(orderapi.New),
		).
		Build()
}

// New is the provider the plugin runs: the components, and schema.json.
func New() (p.Provider, error) {
	prov, err := Inferred()
	if err != nil {
		return p.Provider{}, err
	}
	prov.GetSchema = func(context.Context, p.GetSchemaRequest) (p.GetSchemaResponse, error) {
		return p.GetSchemaResponse{Schema: schema}, nil
	}
	return prov, nil
}

// Run serves the provider to the Pulumi engine, as a plugin's main does.
func Run(ctx context.Context) error {
	prov, err := New()
	if err != nil {
		return err
	}
	return prov.Run(ctx, Name, Version)
}
