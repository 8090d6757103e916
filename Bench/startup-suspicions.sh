#!/usr/bin/env bash
# Counts false suspicions at cluster start-up: N times, a coordinator and 2 workers on 127.0.0.1 train one epoch of
# examples/toxcast.csv.gz (all three load and featurise the data at once on this host), and the lines in which Akka
# marks a node unreachable or reports a delayed heartbeat are counted. Usage: Bench/startup-suspicions.sh [N] [MTNN_DLL]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
dll=${2:-$root/Cli/bin/Release/net10.0/mtnn.dll}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
suspected=0
for ((r = 1; r <= runs; r++)); do
  port=$((20000 + RANDOM % 20000))
  log=$work/run-$r
  dotnet "$dll" coordinator --bind "127.0.0.1:$port" --min-workers 2 --data "$root/examples/toxcast.csv.gz" --epochs 1 \
    --layers 64 --bits 1024 --out "$work/out-$r" --verbose > "$log.coordinator" 2>&1 &
  pids=($!)
  for w in a b; do
    dotnet "$dll" worker --seed "127.0.0.1:$port" --id "worker-$w" --verbose > "$log.worker-$w" 2>&1 &
    pids+=($!)
  done
  timeout 300 tail --pid="${pids[0]}" -f /dev/null
  sleep 20 # the workers leave after the coordinator; one that does not is ended
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait
  unreachable=$(cat "$log".* | grep -ci 'marking node.* as unreachable')
  delayed=$(cat "$log".* | grep -ci 'heartbeat was delayed')
  moved=$(grep -c 'task(s) moved' "$log.coordinator")
  [[ $unreachable -gt 0 ]] && suspected=$((suspected + 1))
  echo "start $r: $unreachable node(s) marked unreachable, $delayed 'heartbeat was delayed' warnings, $moved task move(s)"
done
echo "starts with a node marked unreachable: $suspected of $runs"
