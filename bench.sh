#!/usr/bin/env bash
# Benchmarks (not part of the test suite). Usage: ./bench.sh NAME [options]   (./bench.sh NAME --help for options)
#   epoch      joint vs alternate epoch time, one process (--data FILE | --synthetic ROWS,TASKS,DENSITY; --precision fp32|tf32|bf16)
#   collectives all-reduce (2.3 M floats) and all-to-all (128x100 floats per peer) of 2 and 3 ranks: in process, TCP loopback, TCP + shared memory
#   step       the parts of one training step on this CPU (forward+backward, AdamW, buffer copies, a head step), one thread
#   scaling    a coordinator and 1, 2, 4 worker processes on this host, one epoch each; --model: predicted epoch time and efficiency of 1-256 GPU workers
#   generate   stream a synthetic dataset (default 1,000,000 rows x 10,000 tasks) and report speed and memory
#   precision  the trunk's training step and embedding in fp32 and bf16 (and tf32 on CUDA), interleaved, medians
#   fewshot    FS-Mol few-shot: heads fitted on stratified support sets of new tasks (--checkpoint, --data, --support 16,32,64, --draws 10), mean ΔAUPRC per size
#   graph-step the parts of one graph-trunk training step (assembly, forward, backward, AdamW) and the tensors it creates
#   graph-features time GraphFeatures.Of on a SMILES file, dump its columns (--dump; Bench/graph_features_rdkit.py compares them with RDKit)
#   graph-prep featurization time of fingerprints against graphs (default FS-Mol), bytes per molecule of a stored graph
#   reference  the same model and loop in PyTorch (Bench/reference.py; needs python3 with torch, CUDA if present; same --precision; --trunk graph)
# With --json the last line of output is one JSON object of the results.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=${1:-}
if [[ -z "$name" || "$name" == -h || "$name" == --help ]]; then sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
shift
MTNN_BUILD=all "$root/Deploy/setup.sh" # the benchmark harness too, not only the command line
source "$root/Deploy/runtime-env.sh"
if [[ "$name" == reference ]]; then
  if ! command -v python3 >/dev/null; then
    echo "bench.sh reference: python3 is not installed; the PyTorch reference needs python3 with torch (pip install torch)" >&2
    exit 3
  fi
  exec python3 "$root/Bench/reference.py" --mtnn "$root/mtnn" "$@"
fi
exec dotnet "$root/Bench/bin/Release/net10.0/mtnn-bench.dll" "$name" "$@"
