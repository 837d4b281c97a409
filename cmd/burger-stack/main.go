// Command burger-stack is the Pulumi program of this project (Pulumi.yaml's
// main): the burger pipeline, as stacks/burger defines it.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/stacks/burger"
)

func main() {
	pulumi.Run(burger.Program)
}
