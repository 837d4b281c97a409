//go:build !unix

package clitest

// lock does not lock where there is no flock: run one package that uses
// clitest at a time there.
func lock(string) (func(), error) { return func() {}, nil }
