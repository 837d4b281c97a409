#!/usr/bin/env bash
# The test command: everything CI runs, on a fresh machine.
# Installs what the tests need that Go cannot fetch itself (Chromium for the
# dashboard test), then vets, builds and tests every package, then fuzzes
# the order API's request decoding briefly. The local emulators (fauxqs,
# dynalite, Node 22) are installed by the tests themselves through the
# emulators package, with npm, on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== go vet"
go vet ./...
echo "== layers"
scripts/layers.sh
# Compile every test binary first, in parallel (the first pulumi-aws
# compile takes minutes), then run the packages one at a time: the
# integration tests start real processes against real emulators and time
# their scaling, and two of them at once on a 2-core machine measure the
# machine, not linecook.
echo "== go test (build)"
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... |
	xargs -P 2 -I{} sh -c 'go test -c -o "$1/$(echo "$2" | tr / _).test" "$2"' _ "$bins" {}
# components/clitest's tests build the Pulumi CLI, the YAML language host
# and the stand-in provider from source when they start (go build, cached
# by Go: ~4 min cold on top of the test binaries, ~3 s warm), then run the
# CLI; under -short they skip.
echo "== go test"
go test -count=1 -p 1 -timeout 30m ./...
# Plain go test runs the fuzz targets on their seed corpus only
# (testdata/fuzz); this explores beyond it for a few seconds. A crasher
# is saved under testdata/fuzz and fails the run. Minimizing each new
# interesting input may take 60 s by default, which left CI's 10 s of fuzzing
# at ~40k executions; bounded at 200 runs, 15 s made 314k.
echo "== go test -fuzz (order decoding, 10s)"
go test -run '^$' -fuzz '^FuzzDecodeRequest$' -fuzztime 10s -fuzzminimizetime 200x ./burger/orders
