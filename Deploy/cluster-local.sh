#!/usr/bin/env bash
# Runs a coordinator and N worker processes on this host (127.0.0.1), waits for all of them, and stops them all
# if any fails or on Ctrl-C. Usage:
#   Deploy/cluster-local.sh WORKERS [train options...]     e.g. Deploy/cluster-local.sh 2 --data examples/tox21.csv --out runs/c2
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
workers=${1:?usage: cluster-local.sh WORKERS [train options...]}
shift
"$root/Deploy/setup.sh"
port=${MTNN_PORT:-$((20000 + RANDOM % 20000))}
mtnn=(dotnet "$root/Cli/bin/Release/net10.0/mtnn.dll")
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
"${mtnn[@]}" coordinator --bind "127.0.0.1:$port" --min-workers "$workers" "$@" &
coordinator=$!
pids+=("$coordinator")
sleep 2
for ((i = 0; i < workers; i++)); do
  "${mtnn[@]}" worker --seed "127.0.0.1:$port" --bind 127.0.0.1:0 --id "worker-$i" > >(sed "s/^/[worker-$i] /") 2>&1 &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
trap - EXIT
exit "$status"
