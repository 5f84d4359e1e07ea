#!/usr/bin/env bash
# A/B latency of two edgequant builds on the same models, alternated within one invocation (so both see the same
# machine state): rounds × (old, new) of `edgequant run --repeat N`, then the median of the per-round medians and the
# new/old ratio per model.
#   tools/bench/ab_latency.sh OLD_CLI NEW_CLI ROUNDS MODEL_PAIR...
# OLD_CLI/NEW_CLI: commands running each build's CLI (e.g. "dotnet /tmp/old/.../edgequant.dll");
# MODEL_PAIR: NAME=OLD.eqm,NEW.eqm,INPUT-ARGS,RUNS (INPUT-ARGS: what `run` takes after the model, ';' for spaces;
# RUNS: timed runs per round).
set -euo pipefail
old=$1 new=$2 rounds=$3; shift 3
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
for spec in "$@"; do
  name=${spec%%=*}; rest=${spec#*=}
  IFS=, read -r mo mn input reps <<<"$rest"
  args=${input//;/ }
  : >/tmp/ab_old.txt; : >/tmp/ab_new.txt
  for ((r = 0; r < rounds; r++)); do
    # shellcheck disable=SC2086
    $old run "$mo" $args --repeat "$reps" 2>&1 | sed -n 's/.*median \([0-9.]*\) \(us\|ms\).*/\1 \2/p' >>/tmp/ab_old.txt
    # shellcheck disable=SC2086
    $new run "$mn" $args --repeat "$reps" 2>&1 | sed -n 's/.*median \([0-9.]*\) \(us\|ms\).*/\1 \2/p' >>/tmp/ab_new.txt
  done
  unit=$(head -1 /tmp/ab_old.txt | cut -d' ' -f2)
  o=$(cut -d' ' -f1 /tmp/ab_old.txt | median); n=$(cut -d' ' -f1 /tmp/ab_new.txt | median)
  printf '%-22s old %10.3f %s   new %10.3f %s   new/old %.3f   (%d rounds of %d runs)\n' "$name" "$o" "$unit" "$n" "$unit" "$(echo "$n / $o" | bc -l)" "$rounds" "$reps"
done
