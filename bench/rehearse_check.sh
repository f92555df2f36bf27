#!/bin/bash
# Issue 14's bench-check target, rehearsed: `twinlab check` on five good emulated boards
# (seeds 0-4) and on each injected fault kind, alone and a swapped pair with a stuck edge
# together. One line per board: the exit status, the FAIL lines. Run from the checkout:
#     bash bench/rehearse_check.sh [TWINLAB]    (TWINLAB: default `.venv/bin/python -m lab.cli`)
# Each board is served by `twinlab emulate --write-bench` (SCPI emulator over TCP, Python
# clock board) and checked with the bench's default settings; the reports stay in a
# temporary directory, printed at the end.
set -u
twinlab=${1:-.venv/bin/python -m lab.cli}
out=$(mktemp -d)
run() {
  name=$1; shift
  d=$out/$name; mkdir -p "$d"
  $twinlab emulate --write-bench "$d/bench.toml" "$@" > "$d/emu.log" 2>&1 &
  epid=$!
  for _ in $(seq 150); do [ -s "$d/bench.toml" ] && break; sleep 0.2; done
  sleep 0.5
  $twinlab check --bench "$d/bench.toml" --json "$d/check.json" > "$d/check.txt" 2>&1
  rc=$?
  echo "$name exit $rc: $(grep -h '^  ' "$d/check.txt" | grep -v 'not checked' | grep -iE 'swapped|nothing|stuck|open|short|mismatch|power-up|FAIL' | tr -s ' ' | cut -c1-160 | tr '\n' '|')"
  kill $epid 2>/dev/null; wait $epid 2>/dev/null
}
for s in 0 1 2 3 4; do run "good$s" --seed "$s"; done
run swap_sense --seed 0 --fault swap-channels:2001,2002
run swap_drive --seed 0 --fault swap-channels:1,2
run dead_drive --seed 1 --fault dead-channel:3
run dead_sense --seed 1 --fault dead-channel:2003
run stuck --seed 2 --fault stuck-edge:1-4
run open --seed 3 --fault open-edge:2-9
run swap_stuck --seed 4 --fault swap-channels:1,2 --fault stuck-edge:4-6
echo "reports: $out"
