#!/usr/bin/env bash
# bench-compare.sh [BENCHTIME]: credhost side by side with kubelogin and a
# hello-world Go process, in one `go test -bench` run against one emulator
# (cmd/credhost/bench_compare_test.go says what each benchmark runs), then
# the ratios: CLI miss (no agent, and with the agent warm) / kubelogin,
# CLI hit / hello, CLI hit / kubelogin (a miss, and kubelogin's own cache
# hit).
#
# kubelogin is built from the module proxy into a temporary GOBIN (it needs
# Go 1.27, fetched by GOTOOLCHAIN) and removed afterwards; nothing is
# committed or installed. KUBELOGIN=/path/to/kubelogin skips the build.
# Every request goes to the emulator on loopback. kubelogin keeps one
# 32-byte key on the user's kernel keyring (azidentity's persistent
# cache), as it does for every user; its cache files stay in the test's
# temporary directories.
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${1:-50x}
go=${GO:-go}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ -z "${KUBELOGIN:-}" ]]; then
	echo "bench-compare: building kubelogin into $tmp" >&2
	GOTOOLCHAIN=go1.27.3 GOBIN="$tmp" "$go" install github.com/Azure/kubelogin@latest
	KUBELOGIN=$tmp/kubelogin
fi
"$KUBELOGIN" --version >&2 || true

# Agent benchmarks (named *Agent*) join the same run.
KUBELOGIN=$KUBELOGIN "$go" test -run '^$' -bench 'Process|Kubelogin|Agent' -benchtime "$benchtime" -count "${COUNT:-1}" ./cmd/credhost/ | tee "$tmp/bench.txt"

# Mean ns/op per benchmark name (without the -GOMAXPROCS suffix), then
# the ratios the comparison is about.
awk '
	/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name); sum[name] += $3; n[name]++ }
	function mean(k) { return n[k] ? sum[k] / n[k] : 0 }
	function ratio(label, a, b) {
		if (mean(a) && mean(b)) printf "%-28s %6.2fx  (%.1f ms / %.1f ms)\n", label, mean(a) / mean(b), mean(a) / 1e6, mean(b) / 1e6
		else printf "%-28s n/a (missing %s or %s)\n", label, a, b
	}
	END {
		print ""
		ratio("CLI miss / kubelogin", "CLIMissProcess", "KubeloginGetToken")
		ratio("CLI miss, agent warm / kubelogin", "CLIMissAgentWarm", "KubeloginGetToken")
		ratio("CLI miss, agent warm / no agent", "CLIMissAgentWarm", "CLIMissProcess")
		ratio("CLI hit / hello", "CLIHitProcess", "HelloProcess")
		ratio("CLI hit / kubelogin", "CLIHitProcess", "KubeloginGetToken")
		ratio("CLI hit / kubelogin cached", "CLIHitProcess", "KubeloginGetTokenCached")
	}' "$tmp/bench.txt"
