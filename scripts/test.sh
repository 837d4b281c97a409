#!/usr/bin/env bash
# The test command: everything CI runs, on a fresh machine.
# Installs what the tests need that Go cannot fetch itself (Chromium for the
# dashboard test), then vets and tests every package. The local emulators
# (fauxqs, dynalite, Node 22) are installed by the tests themselves through
# the emulators package, with npm, on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 30m ./...
