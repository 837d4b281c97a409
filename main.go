// The linecook Pulumi plugin: linecook's components (VPC, queue with DLQ,
// scaled stage, order API) for programs in any Pulumi language.
//
// It sits at the repository's root, beside PulumiPlugin.yaml, because that
// is where Pulumi runs a source-based plugin from:
//
//	pulumi package add github.com/linecook/linecook@v0.1.0
//
// builds and runs this package, reads its schema and generates an SDK in
// the program's language. Built by hand it is the executable plugin:
//
//	go build -o pulumi-resource-linecook github.com/linecook/linecook
//
// The provider itself is components/provider.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/linecook/linecook/components/provider"
)

func main() {
	if err := provider.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-resource-linecook:", err)
		os.Exit(1)
	}
}
