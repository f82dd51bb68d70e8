#!/usr/bin/env bash
# Instructions per iteration of Go benchmarks, counted by valgrind's
# callgrind: a measure that a loaded machine does not disturb, unlike
# ns/op. Each benchmark runs twice, N and 3N iterations; the difference
# divided by 2N is its cost per iteration, setup excluded. It runs on one
# processor (GOMAXPROCS=1), so that idle threads do not spin a count that
# depends on timing into the result, and without the garbage collector
# (GOGC=off): a collection scans the whole heap, the scenario loaded
# included, and would make the count depend on how many cycles fall in
# each run. What a benchmark leaves to the collector is its allocations,
# which -benchmem reports.
#
#   bench/instructions.sh PACKAGE BENCH-REGEXP [N]
#   bench/instructions.sh ./harness/check 'BenchmarkTable/A.3.2.2-10$' 300
#
# BENCH-REGEXP should select one benchmark (a sub-benchmark each run for
# BenchmarkTable/...; list them with -list). Needs valgrind (Debian
# package valgrind). The test binary is built without cgo and runs
# without asynchronous preemption, which callgrind's signal handling does
# not survive.
set -euo pipefail
pkg=${1:?usage: bench/instructions.sh PACKAGE BENCH-REGEXP [N]}
bench=${2:?usage: bench/instructions.sh PACKAGE BENCH-REGEXP [N]}
n=${3:-200}
command -v valgrind >/dev/null || { echo "bench/instructions.sh: expected valgrind on PATH (apt-get install valgrind), saw none" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
CGO_ENABLED=0 go test -c -o "$dir/test" "$pkg"
count() {
	GOMAXPROCS=1 GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
		"$dir/test" -test.run='^$' -test.bench="$bench" -test.benchtime="${1}x" 2>"$dir/err" >/dev/null
	sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' "$dir/err" | tr -d ,
}
a=$(count "$n")
b=$(count $((3 * n)))
if [ -z "$a" ] || [ -z "$b" ]; then
	echo "bench/instructions.sh: callgrind gave no count:" >&2
	tail -20 "$dir/err" >&2
	exit 1
fi
echo "$bench $(( (b - a) / (2 * n) )) instructions/op"
