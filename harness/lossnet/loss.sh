#!/usr/bin/env bash
# The loss test at its full count: the conformance flow against the embedded
# reference core, N runs (default 10) in a network namespace of its own for
# each condition — 30 % of every UDP packet dropped (timeouts.step 32 s), and
# 30 % of the UE's access link only (default timeouts) — then the table of
# pass counts and times. Needs root, ip (iproute2) and nft (nftables); the
# namespaces and their rules are removed on every exit (the test's cleanup,
# and its sweep of what a killed run left).
#
#   bash harness/lossnet/loss.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-10}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
IMSCONFORM_LOSS_RUNS=$runs IMSCONFORM_REQUIRE_TOOLS=1 go test -count=1 -run '^TestLoss$' -v -timeout 120m ./harness/lossnet >"$log" 2>&1 || rc=$?
grep -E '    loss_test.go:[0-9]+: (run [0-9]+: |run [0-9]+: expected)' "$log" | sed 's/^ *loss_test.go:[0-9]*: /  /' | cut -c1-160 || true
echo
echo "| condition | PASS | median | min | max | packets dropped |"
echo "|---|---|---|---|---|---|"
grep -o 'LOSS TABLE | .*' "$log" | sed 's/^LOSS TABLE //' || true
if [ "$rc" -ne 0 ]; then
  echo
  tail -n 30 "$log"
  echo "loss: the test failed (exit $rc)"
fi
exit "$rc"
