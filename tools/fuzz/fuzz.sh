#!/usr/bin/env bash
# Coverage-guided fuzzing campaign: SharpFuzz-instrumented EdgeQuant assemblies under AFL++ (Debian afl++).
#   tools/fuzz/fuzz.sh [--execs N | --seconds S] [harness...]     default: --execs 1000000, every harness; EDGEQUANT_FUZZ_OUT=dir
# Builds into out/fuzz (publish, instrument Format/Engine/Converter/libedgequant; Kernels stay uninstrumented: their
# loops depend on shapes, not on input bytes), writes seed corpora from tests/assets, runs afl-fuzz per harness one
# after another, and prints per harness: executions, exec/s, edges and map coverage, crashes and hangs saved.
# Findings stay in out/fuzz/findings/<harness>/default/{crashes,hangs}; replay them with the plain build
#   tools/fuzz/EdgeQuant.Fuzz/bin/Release/net10.0/EdgeQuant.Fuzz replay <harness> out/fuzz/findings/<harness>/default/crashes
# and commit each fixed one to tests/assets/fuzz/<harness>/ (replayed by ./build.sh test).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT=${EDGEQUANT_FUZZ_OUT:-$ROOT/out/fuzz}   # separate folders let two campaigns run side by side
LIMIT=(-E 1000000)
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --execs) LIMIT=(-E "$2"); shift 2 ;;
    --seconds) LIMIT=(-V "$2"); shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++ (./build.sh deps does)" >&2; exit 1; }

echo "== build + instrument -> $OUT/bin" >&2
rm -rf "$OUT/bin"
dotnet publish tools/fuzz/EdgeQuant.Fuzz -c Release -o "$OUT/bin" -nologo -clp:ErrorsOnly >&2
FUZZ=(dotnet "$OUT/bin/EdgeQuant.Fuzz.dll")
[ ${#harnesses[@]} -eq 0 ] && mapfile -t harnesses < <("${FUZZ[@]}" list | awk '{print $1}')
# Seeds before instrumenting: instrumented code only runs inside SharpFuzz's fork server (it writes AFL's shared map).
rm -rf "$OUT/seeds"
"${FUZZ[@]}" seeds "$OUT/seeds" --repo "$ROOT" >&2
[ -x "$OUT/tool/sharpfuzz" ] || dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$OUT/tool" >&2
for dll in EdgeQuant.Format EdgeQuant.Engine EdgeQuant.Converter libedgequant; do "$OUT/tool/sharpfuzz" "$OUT/bin/$dll.dll" >&2; done

# dotnet is not an AFL-instrumented binary (the instrumentation is in the IL); crashes are reported by SharpFuzz's
# fork server, not by a core dump; no UI in logs.
export AFL_SKIP_BIN_CHECK=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_SHUFFLE_QUEUE=1
DOTNET=$(command -v dotnet)
printf '%-10s %12s %9s %7s %9s %8s %6s %8s\n' harness execs exec/s edges map crashes hangs seconds
status=0
for h in "${harnesses[@]}"; do
  rm -rf "$OUT/findings/$h"
  mkdir -p "$OUT/findings"
  afl-fuzz -i "$OUT/seeds/$h" -o "$OUT/findings/$h" -t 5000 -m none "${LIMIT[@]}" -- "$DOTNET" "$OUT/bin/EdgeQuant.Fuzz.dll" run "$h" \
    > "$OUT/findings/$h.log" 2>&1 || { echo "afl-fuzz failed for $h: see $OUT/findings/$h.log" >&2; tail -5 "$OUT/findings/$h.log" >&2; status=1; continue; }
  s=$OUT/findings/$h/default/fuzzer_stats
  get() { awk -v k="$1" '$1 == k {print $3}' "$s"; }
  printf '%-10s %12s %9s %7s %9s %8s %6s %8s\n' "$h" "$(get execs_done)" "$(get execs_per_sec)" "$(get edges_found)" "$(get bitmap_cvg)" \
    "$(get saved_crashes)" "$(get saved_hangs)" "$(get run_time)"
  [ "$(get saved_crashes)" = 0 ] && [ "$(get saved_hangs)" = 0 ] || status=1
done
exit $status
