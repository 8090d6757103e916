#!/usr/bin/env bash
# Runs every test: unit tests, the RDKit oracle comparison, training and predict round trips.
# Extra arguments go to `dotnet test` (for example: ./test.sh --filter FullyQualifiedName~Chem).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export MTNN_TEST_TOOLS=1 # setup.sh also installs every tool the tests use (chromium, kubectl, prometheus, ...)
"$root/Deploy/setup.sh"
source "$root/Deploy/runtime-env.sh" # the test host and the processes it starts run as ./mtnn does
log=$(mktemp -t mtnn-test.XXXXXX.log)
trap 'rm -f "$log"' EXIT
status=0
dotnet test "$root/Tests/MtnnCluster.Tests.csproj" -c Release --no-build --logger "console;verbosity=normal" "$@" \
    | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
    # A CI log may keep only its tail: repeat each failed test with its message and stack there.
    echo
    echo "=== failed tests, again ==="
    awk '/^  Failed /{show=1} /^  Passed |^\[xUnit|^Test Run|^Total tests/{show=0} show' "$log"
fi
exit "$status"
