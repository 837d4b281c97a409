#!/usr/bin/env bash
# Fails when an import runs upward. Every package belongs to a layer and
# may import only packages of its own layer or a lower one. The layers, low
# to high, are the README's: the toolkit's contracts (policies, workers),
# the config (pipeline), the toolkit's parts (components, the runtime and
# its test suites), the burger application, the tools (the stack builds its
# image with tools/image), the stack, and the programs and examples. Test files count too, with one exception: any
# test may start the local emulators (tools/emulators and its emutest),
# the fixture every integration test runs against.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
rank() {
	case "${1#"$mod"/}" in
	policies | policies/* | workers | workers/logkey) echo 0 ;;
	pipeline | pipeline/*) echo 1 ;;
	components/* | workers/*) echo 2 ;;
	burger/*) echo 3 ;;
	tools/*) echo 4 ;;
	stacks/*) echo 5 ;;
	cmd/* | examples/* | "$mod") echo 6 ;;
	*) echo 99 ;;
	esac
}
bad=0
check() { # from-package import is-test
	local pkg=$1 imp=$2 from to
	case "$imp" in "$mod"/*) ;; *) return 0 ;; esac
	if [ "$3" = test ]; then
		case "${imp#"$mod"/}" in tools/emulators | tools/emulators/emutest) return 0 ;; esac
	fi
	from=$(rank "$pkg") to=$(rank "$imp")
	if ((from == 99)); then
		echo "layers: no layer for ${pkg#"$mod"/}: add it to scripts/layers.sh and the README's table" >&2
		bad=1
	elif ((to > from)); then
		echo "layers: ${pkg#"$mod"/} (layer $from) imports ${imp#"$mod"/} (layer $to)${3:+ in its tests}: imports run downward only" >&2
		bad=1
	fi
}
while IFS='|' read -r pkg imports tests; do
	for imp in $imports; do check "$pkg" "$imp" ""; done
	for imp in $tests; do check "$pkg" "$imp" test; done
done < <(go list -f '{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}' ./...)
if ((bad == 0)); then echo "layers: every import runs downward"; fi
exit $bad
