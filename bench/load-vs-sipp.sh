#!/usr/bin/env bash
# The harness's load run beside SIPp 3.6.1 (Debian's sip-tester), on the
# same SUT, at rising rates. A benchmark, not a test: it prints numbers and
# judges nothing but its own runs' success.
#
#   bench/load-vs-sipp.sh [-size full|small] [-sut refcore,kamailio]
#                         [-rates-refcore "500 1000 2000 3000"] [-rates-kamailio "100 200 400 800"]
#                         [-seconds 8] [-keep]
#
# For each SUT and each rate R it registers R × seconds distinct UEs at R
# initial registrations per second (open loop, each UE once), first with
# SIPp's AKA REGISTER scenario (bench/sipp/register-aka.xml, one UE of the
# population per call, with a SIPp UAS as the VCC Application the S-CSCF
# sends its third-party REGISTER to), then with the load run (imsload run:
# the UEs and the VCC Application, every field of every message judged).
# It prints, for each run, the ineffective attempts (RFC 6076 4.2), the p99
# Registration Request Delay and the generator's CPU per registration, and
# for each generator the highest rate with at most 1 % ineffective
# attempts.
#
# The SUTs:
#   refcore   the embedded reference core standing alone (harness/cmd/refcore,
#             its in-memory HSS serving the population), on 127.0.0.1;
#   kamailio  the Kamailio 5.6 lab (harness/cmd/kamailiolab -serve) on
#             127.0.0.2-6, the HSS emulator (harness/cmd/hss) serving the
#             population. It uses fixed addresses: run the script under
#             flock /tmp/imsconform-kamailio.lock (.ci/run is).
#
# Both generators register the same population (bench/lab.yaml's patterns,
# exported by imsload subscribers for SIPp's injection file) with the same
# keys, which SIPp takes as raw text. Each run registers a slice of the
# population no run before it registered (subscribers.first moves on), so
# that every registration is an initial one for the SUT, whichever
# generator and rate came before. The SUT's HSS draws no RAND whose RES
# holds a zero byte (subscribers.avoid_zero_res): SIPp 3.6.1 cuts such a RES
# short and fails about 3 % of its registrations otherwise, which is SIPp's
# fault, not the SUT's. Against Kamailio the load run applies
# labs/kamailio/expectations.yaml: Kamailio's known faults (one at must
# level on every registration) are expected results, and only other
# failures make a registration ineffective.
#
# CPU per registration: SIPp's is the user and system CPU of its two
# processes (UAC and UAS) over the run, divided by the calls that ended; the
# load run's is load.json's generator.cpu_per_registration_us (getrusage of
# the process over the run: the UEs, the VCC Application and the check
# engine). SIPp's response times come in its own clock's ticks (a few ms).
# The machine this runs on is shared and noisy: compare within one run.
set -euo pipefail
cd "$(dirname "$0")/.."

size=full
suts=refcore,kamailio
rates_refcore=""
rates_kamailio=""
seconds=""
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    -size) size=$2; shift 2 ;;
    -sut) suts=$2; shift 2 ;;
    -rates-refcore) rates_refcore=$2; shift 2 ;;
    -rates-kamailio) rates_kamailio=$2; shift 2 ;;
    -seconds) seconds=$2; shift 2 ;;
    -keep) keep=1; shift ;;
    -h|-help|--help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;/^set -euo/d'; exit 0 ;;
    *) echo "load-vs-sipp: unknown argument $1 (-h for help)" >&2; exit 2 ;;
  esac
done
case "$size" in
  full) : "${rates_refcore:=500 1000 2000 3000}" "${rates_kamailio:=100 200 400 800}" "${seconds:=8}" ;;
  small) : "${rates_refcore:=100 200}" "${rates_kamailio:=50 100}" "${seconds:=2}" ;;
  *) echo "load-vs-sipp: -size: expected full or small, got $size" >&2; exit 2 ;;
esac
for tool in sipp python3; do
  command -v "$tool" >/dev/null || { echo "load-vs-sipp: $tool not found (apt-get install sip-tester python3)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/load-vs-sipp.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  if [ "$keep" = 1 ]; then echo "load-vs-sipp: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "load-vs-sipp: building into $work/bin"
mkdir -p "$work/bin"
for c in imsload refcore hss kamailiolab; do
  go build -o "$work/bin/$c" "./harness/cmd/$c"
done
bin=$work/bin
clk=$(getconf CLK_TCK)

# cpu PID: user+system CPU seconds of a live process.
cpu() { awk -v t="$clk" '{print ($14+$15)/t}' "/proc/$1/stat"; }

# free_port: a port of 127.0.0.1 free on UDP and TCP a moment ago.
free_port() { python3 -c 'import socket
for _ in range(50):
    u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(("127.0.0.1",0)); p=u.getsockname()[1]
    t=socket.socket(); 
    try:
        t.bind(("127.0.0.1",p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()'; }

# wait_line FILE TEXT SECONDS: wait until FILE holds TEXT.
wait_line() {
  for _ in $(seq $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "load-vs-sipp: waited $3 s for \"$2\" in $1:" >&2; cat "$1" >&2; return 1
}

# population RATES: the subscribers all runs at RATES register, each its own.
population() { local t=0; for r in $1; do t=$(( t + 2 * r * seconds )); done; echo "$t"; }

# sipp_inf LAB FIRST N FILE: SIPp's injection file of N subscribers of the
# population from number FIRST.
sipp_inf() {
  "$bin/imsload" subscribers -lab "$1" -set "subscribers.first=$2" -ues "$3" -csv "$work/subs.csv" >/dev/null
  python3 - "$work/subs.csv" "$4" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
with open(sys.argv[2], "w") as f:
    f.write("SEQUENTIAL\n")
    for r in rows:
        impu = r["impus"].split()[0]
        # SIPp 3.6.1 takes K, OP and AMF as raw text: the lab's are the hex of these.
        k, op, amf = (bytes.fromhex(r[x]).decode() for x in ("k", "op", "amf"))
        f.write("%s;%s;[authentication username=%s aka_K=%s aka_OP=%s aka_AMF=%s]\n" % (r["impi"], impu, r["impi"], k, op, amf))
PY
  rm -f "$work/subs.csv"
}

# One SIPp run: sipp_run NAME PCSCF UE_IP VCC_IP VCC_PORT SCENARIO INF RATE N → "attempts ineffective% p99ms cpu_us"
sipp_run() {
  local name=$1 pcscf=$2 ueip=$3 vccip=$4 vccport=$5 sc=$6 inf=$7 rate=$8 n=$9
  local d="$work/sipp-$name"
  mkdir -p "$d"
  (cd "$d" && exec sipp -sf "$ROOT/bench/sipp/vccapp-uas.xml" -i "$vccip" -p "$vccport" -nostdin -bg -trace_err >uas.out 2>&1) || true
  local uas
  uas=$(sed -n 's/.*PID=\[\([0-9]*\)\].*/\1/p' "$d/uas.out" | head -1)
  [ -n "$uas" ] || { echo "load-vs-sipp: the SIPp UAS did not start:" >&2; cat "$d/uas.out" >&2; return 1; }
  pids+=("$uas")
  local port
  port=$(free_port)
  local ucpu
  TIMEFORMAT='%U %S'
  { time (cd "$d" && sipp "$pcscf" -sf "$sc" -inf "$inf" -i "$ueip" -p "$port" -r "$rate" -m "$n" -l 15000 \
      -nostdin -timeout $(( n / rate + 60 ))s -trace_rtt -rtt_freq 1 -trace_err >uac.out 2>&1 || true); } 2>"$d/uac.time"
  ucpu=$(cpu "$uas")
  kill "$uas" 2>/dev/null || true
  python3 - "$d" "$ucpu" <<'PY'
import glob, sys, re
d, uas = sys.argv[1], float(sys.argv[2])
out = open(d + "/uac.out", errors="replace").read()
def count(label):
    m = re.findall(label + r"\s*\|\s*\d+\s*\|\s*(\d+)", out)
    return int(m[-1]) if m else 0
ok, bad = count("Successful call"), count("Failed call")
u, s = (float(x) for x in open(d + "/uac.time").read().split()[:2])
rt = []
for f in glob.glob(d + "/*_rtt.csv"):
    for line in open(f).read().splitlines()[1:]:
        p = line.split(";")
        if len(p) > 1:
            rt.append(float(p[1]))
rt.sort()
p99 = rt[max(0, -(-len(rt) * 99 // 100) - 1)] if rt else float("nan")
ended = ok + bad
print("%d %.2f %.2f %.1f" % (ended, 100.0 * bad / ended if ended else 100.0, p99, (u + s + uas) / ended * 1e6 if ended else 0))
PY
}

# One load run: load_run NAME LAB FIRST RATE N EXTRA... → "attempts ineffective% p99ms cpu_us engine%"
load_run() {
  local name=$1 lab=$2 first=$3 rate=$4 n=$5; shift 5
  local d="$work/imsload-$name"
  "$bin/imsload" run -lab "$lab" -set "subscribers.first=$first" -ues "$n" -rate "$rate" -quiet -max-ineffective 100 -report-dir "$d" "$@" >"$d.out" 2>&1 || true
  [ -s "$d/load.json" ] || { echo "load-vs-sipp: the load run wrote no load.json:" >&2; cat "$d.out" >&2; return 1; }
  python3 - "$d/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
i, g = r["initial"], r["generator"]
ended = i["succeeded"] + i["ineffective"]
print("%d %.2f %.2f %.1f %.0f" % (ended, 100.0 * i["ineffective"] / ended if ended else 100.0, i["rrd"]["p99_ms"], g["cpu_per_registration_us"], 100 * g["engine_share"]))
PY
}

ROOT=$PWD
results=$work/results.txt
: >"$results"

# bench LABEL SUTNAME LAB PCSCF UE_IP VCC_IP VCC_PORT SCENARIO RATES EXTRA...
bench() {
  local label=$1 sut=$2 lab=$3 pcscf=$4 ueip=$5 vccip=$6 vccport=$7 sc=$8 rates=$9; shift 9
  local first=1
  echo
  echo "== $label: $seconds s per rate, each UE registering once"
  printf '%-12s %8s %9s %12s %10s %16s\n' generator rate/s attempts ineffective "p99 RRD" "CPU/registration"
  for r in $rates; do
    local n=$(( r * seconds ))
    local s l
    sipp_inf "$lab" "$first" "$n" "$work/users-$sut-$r.csv"
    first=$(( first + n ))
    s=$(sipp_run "$sut-$r" "$pcscf" "$ueip" "$vccip" "$vccport" "$sc" "$work/users-$sut-$r.csv" "$r" "$n")
    read -r sa si sp sc_ <<<"$s"
    [ "${sa:-0}" -gt 0 ] || { echo "load-vs-sipp: SIPp ended no call at $r/s (see $work/sipp-$sut-$r)" >&2; keep=1; return 1; }
    printf '%-12s %8s %9s %11s%% %7s ms %13s µs\n' "SIPp 3.6.1" "$r" "$sa" "$si" "$sp" "$sc_"
    echo "$sut sipp $r $s" >>"$results"
    sleep 1
    l=$(load_run "$sut-$r" "$lab" "$first" "$r" "$n" "$@")
    first=$(( first + n ))
    read -r la li lp lc le <<<"$l"
    [ "${la:-0}" -gt 0 ] || { echo "load-vs-sipp: the load run ended no registration at $r/s (see $work/imsload-$sut-$r.out)" >&2; keep=1; return 1; }
    printf '%-12s %8s %9s %11s%% %7s ms %13s µs  (check engine %s %%)\n' "imsload" "$r" "$la" "$li" "$lp" "$lc" "$le"
    echo "$sut imsload $r $l" >>"$results"
    sleep 1
  done
  python3 - "$results" "$sut" <<'PY'
import sys
sut = sys.argv[2]
best = {}
for line in open(sys.argv[1]):
    p = line.split()
    if p[0] != sut:
        continue
    gen, rate, ira, p99, cpu = p[1], int(p[2]), float(p[4]), p[5], float(p[6])
    if ira <= 1.0 and rate >= best.get(gen, (0,))[0]:
        best[gen] = (rate, p99, cpu)
print("highest rate with at most 1 % ineffective attempts:")
for gen, name in (("sipp", "SIPp 3.6.1"), ("imsload", "imsload (every field judged)")):
    if gen in best:
        r, p99, cpu = best[gen]
        print("  %-30s %5d/s   p99 RRD %s ms   %.1f µs CPU per registration" % (name, r, p99, cpu))
    else:
        print("  %-30s none of the rates tried" % name)
if "sipp" in best and "imsload" in best:
    s, i = best["sipp"], best["imsload"]
    print("  ratio imsload/SIPp: rate %.2f, CPU per registration %.2f" % (i[0] / s[0], i[2] / s[2]))
PY
}

IFS=, read -r -a sut_list <<<"$suts"
for sut in "${sut_list[@]}"; do
  case "$sut" in
  refcore)
    p=$(free_port); v=$(free_port)
    lab=$work/refcore-lab.yaml
    nmax=$(population "$rates_refcore")
    sed -e "s/@PCSCF@/127.0.0.1:$p/" -e "s/@VCC@/127.0.0.1:$v/" -e "s/@COUNT@/$nmax/" bench/lab.yaml >"$lab"
    "$bin/refcore" -lab "$lab" -listen "127.0.0.1:$p" -vcc "127.0.0.1:$v" >"$work/refcore.log" 2>&1 &
    pids+=($!)
    wait_line "$work/refcore.log" "P-CSCF listening" 10
    bench "embedded reference core apart (go run ./harness/cmd/refcore)" refcore "$lab" "127.0.0.1:$p" 127.0.0.1 127.0.0.1 "$v" \
      "$ROOT/bench/sipp/register-aka.xml" "$rates_refcore"
    kill "${pids[-1]}" 2>/dev/null || true
    ;;
  kamailio)
    command -v kamailio >/dev/null || { echo "load-vs-sipp: kamailio not installed (the lab installs it: go run ./harness/cmd/kamailiolab once)" >&2; exit 2; }
    "$bin/kamailiolab" -serve -lab-out "$work/kamailio-lab.yaml" -report-dir "$work/kamailio" >"$work/kamailio.log" 2>&1 &
    pids+=($!)
    wait_line "$work/kamailio.log" "^ready" 60
    nmax=$(population "$rates_kamailio")
    # SIPp's keys (raw text), the population and its HSS, for both generators.
    export IMSCONFORM_SUBSCRIBER_K=494d53434f4e464f524d746573744b31 IMSCONFORM_SUBSCRIBER_OP=494d53434f4e464f524d746573744f50 \
      IMSCONFORM_SUBSCRIBER_AMF=4142 IMSCONFORM_SUBSCRIBERS_COUNT=$nmax IMSCONFORM_SUBSCRIBERS_AVOID_ZERO_RES=true
    "$bin/hss" -lab "$work/kamailio-lab.yaml" >"$work/hss.log" 2>&1 &
    pids+=($!)
    wait_line "$work/hss.log" "listening" 10
    # cdp reconnects every Tc: wait until both CSCFs answered the HSS's CER.
    "$bin/imsload" run -lab "$work/kamailio-lab.yaml" -set hss.listen= -ues 1 -rate 1 -quiet -report-dir "$work/kamailio-warmup" >/dev/null 2>&1 || true
    for _ in $(seq 60); do
      python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["initial"]["succeeded"]==1 else 1)' "$work/kamailio-warmup/load.json" 2>/dev/null && break
      sleep 1
      "$bin/imsload" run -lab "$work/kamailio-lab.yaml" -set hss.listen= -ues 1 -rate 1 -quiet -report-dir "$work/kamailio-warmup" >/dev/null 2>&1 || true
    done
    sed -e '/<action>/,/<\/action>/d' -e '/Security-Verify/d' bench/sipp/register-aka.xml >"$work/register-aka-nosecagree.xml"
    bench "Kamailio 5.6 lab (go run ./harness/cmd/kamailiolab -serve), the HSS emulator apart" kamailio "$work/kamailio-lab.yaml" 127.0.0.2:5060 127.0.0.1 127.0.0.6 5060 \
      "$work/register-aka-nosecagree.xml" "$rates_kamailio" -set hss.listen= -expect labs/kamailio/expectations.yaml
    ;;
  *) echo "load-vs-sipp: -sut: expected refcore or kamailio, got $sut" >&2; exit 2 ;;
  esac
done
echo
echo "load-vs-sipp: done ($(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
