#!/usr/bin/env bash
# netns-lab.sh: the Kamailio IMS lab on a network that is not loopback.
#
# It creates two network namespaces joined by a veth pair: "core", where
# Kamailio runs as P-CSCF, I-CSCF and S-CSCF, and "lab", where the harness
# runs (the UE, the mock VCC Application and the HSS emulator), with
# addresses from the documentation prefixes (192.0.2.0/24, 2001:db8::/32)
# inside the namespaces only. Then, from the lab namespace, it runs the
# conformance suite as a user does, once per transport:
#
#   IMSCONFORM_LAB=<lab file> go tool ginkgo -r ./suites -- --set sut.pcscf=<P-CSCF> --set sut.transport=<t>
#
# and removes both namespaces (and so the veth pair) and stops Kamailio on
# every exit: success, failure, Ctrl-C, SIGTERM.
#
# Usage (root; from anywhere in the repository):
#   labs/kamailio/netns-lab.sh [-f 4|6] [-t udp,tcp] [-o DIR] [-p PREFIX] [--no-suite] [-- SUITE-FLAGS...]
#
#   -f 4|6       IP family of the lab network (default 6)
#   -t LIST      transports to run the suite over, comma-separated (default udp,tcp)
#   -o DIR       where the lab file, the reports (DIR/<t>/) and the Kamailio
#                logs go (default out/netns-<family>)
#   -p PREFIX    prefix of the namespace names (default imsconform-); the
#                names are PREFIXcore-PID and PREFIXlab-PID, and namespaces
#                with this prefix left by a run that was killed (its PID
#                gone) are removed first
#   --no-suite   bring the lab up, check from the lab namespace that the
#                P-CSCF answers SIP, and stop
#   SUITE-FLAGS  passed to the suite after --set sut.pcscf=..., e.g. --profile ts24229
#
# Exit status: the worst exit status of the suite runs (0: every rule
# passed; 1: some rule failed, as against any real core), 2 when the lab
# could not be brought up, 3 on a usage or setup error.
set -euo pipefail

family=6 transports=udp,tcp out= prefix=imsconform- suite=1
suite_args=()
while [ $# -gt 0 ]; do
  case $1 in
    -f) family=$2; shift 2 ;;
    -t) transports=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -p) prefix=$2; shift 2 ;;
    --no-suite) suite=0; shift ;;
    --) shift; suite_args=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "netns-lab: unknown argument $1 (see -h)" >&2; exit 3 ;;
  esac
done
case $family in
  6) net=2001:db8:c0:: ; plen=64 ; pcscf=${net}2 icscf=${net}3 scscf=${net}4 harness=${net}100 ;;
  4) net=192.0.2. ; plen=24 ; pcscf=${net}130 icscf=${net}131 scscf=${net}132 harness=${net}200 ;;
  *) echo "netns-lab: -f: expected 4 or 6, got $family" >&2; exit 3 ;;
esac
[ "$(id -u)" = 0 ] || { echo "netns-lab: needs root (ip netns)" >&2; exit 3; }
command -v ip >/dev/null || { echo "netns-lab: needs ip (apt-get install iproute2)" >&2; exit 3; }
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${out:-out/netns-$family}
mkdir -p "$out"
out=$(cd "$out" && pwd)
began=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - began) / 1000000 )) ms"; }

core=${prefix}core-$$ lab=${prefix}lab-$$
tmp=$(mktemp -d)
kam_pid=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$kam_pid" ] && kill -0 "$kam_pid" 2>/dev/null; then
    kill -TERM "$kam_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$kam_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$kam_pid" 2>/dev/null || true
  fi
  for ns in "$lab" "$core"; do
    if ip netns list | grep -qw "^$ns"; then
      # Anything still running inside was started by this script.
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || echo "netns-lab: could not remove namespace $ns" >&2
    fi
  done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Namespaces of this prefix whose run is gone (killed with SIGKILL).
for ns in $(ip netns list | awk '{print $1}' | grep -E "^${prefix}(core|lab)-[0-9]+$" || true); do
  pid=${ns##*-}
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "netns-lab: removing $ns, left by run $pid"
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" || true
  fi
done

if ! command -v kamailio >/dev/null; then
  echo "netns-lab: installing kamailio kamailio-ims-modules kamailio-presence-modules"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio kamailio-ims-modules kamailio-presence-modules >/dev/null
fi
go build -o "$tmp/kamailiolab" ./harness/cmd/kamailiolab

# The network: core <-veth-> lab, created inside the namespaces (nothing is
# added to this host's own namespace).
ip netns add "$core"
ip netns add "$lab"
ip link add "vc$$" netns "$core" type veth peer name "vl$$" netns "$lab"
nodad=; [ "$family" = 6 ] && nodad=nodad
for a in "$pcscf" "$icscf" "$scscf"; do ip -n "$core" addr add "$a/$plen" dev "vc$$" $nodad; done
ip -n "$lab" addr add "$harness/$plen" dev "vl$$" $nodad
for ns in "$core" "$lab"; do ip -n "$ns" link set lo up; done
ip -n "$core" link set "vc$$" up
ip -n "$lab" link set "vl$$" up
echo "netns-lab: namespaces $core ($pcscf, $icscf, $scscf) and $lab ($harness), IPv$family ($(elapsed))"

# Kamailio in the core namespace; the harness's addresses are in the lab's.
mkfifo "$tmp/kam.out"
ip netns exec "$core" "$tmp/kamailiolab" -serve -install=false -lab-out "$out/lab.yaml" -report-dir "$out" \
  -pcscf "$pcscf" -icscf "$icscf" -scscf "$scscf" -hss "$harness" -vccapp "$harness" -ue "$harness" \
  >"$tmp/kam.out" 2>"$out/kamailiolab.log" &
kam_pid=$!
exec 3<"$tmp/kam.out"
ready=0
while IFS= read -r -t 60 -u 3 line; do
  echo "  kamailiolab: $line"
  [ "$line" = ready ] && { ready=1; break; }
done
# Keep draining its output (the read end stays open: no SIGPIPE).
cat <&3 >>"$out/kamailiolab.log" &
exec 3<&-
if [ "$ready" != 1 ]; then
  echo "netns-lab: the Kamailio lab did not come up; its log:" >&2
  tail -20 "$out/kamailiolab.log" >&2
  exit 2
fi
if [ "$family" = 6 ]; then pcscf_ap="[$pcscf]:5060"; else pcscf_ap="$pcscf:5060"; fi
echo "netns-lab: Kamailio up in $core, P-CSCF $pcscf_ap ($(elapsed))"

if [ "$suite" = 0 ]; then
  ip netns exec "$lab" "$tmp/kamailiolab" -probe "$pcscf_ap" &
  wait $!
  echo "netns-lab: the P-CSCF answers SIP from $lab ($(elapsed))"
  exit 0
fi

worst=0
for t in ${transports//,/ }; do
  echo "netns-lab: suite over $t from $lab ($(elapsed))"
  rc=0
  # In the background and waited for, so that a signal reaches the trap at
  # once (the cleanup then ends whatever runs in the lab namespace).
  ip netns exec "$lab" env IMSCONFORM_LAB="$out/lab.yaml" GOPROXY=off GOTOOLCHAIN=local \
    go tool ginkgo -r ./suites -- --set "sut.pcscf=$pcscf_ap" --set "sut.transport=$t" \
    --report-dir "$out/$t" "${suite_args[@]}" &
  wait $! || rc=$?
  [ -s "$out/$t/report.json" ] || { echo "netns-lab: the suite over $t wrote no report" >&2; rc=2; }
  echo "netns-lab: reports of $t in $out/$t, suite exit $rc ($(elapsed))"
  [ "$rc" -gt "$worst" ] && worst=$rc
done
echo "netns-lab: done ($(elapsed)); Kamailio's logs go to $out/kamailio when it stops"
exit "$worst"
