#!/usr/bin/env bash
# For developers: runs every test (unit tests, the RDKit oracle comparison, training and predict round trips,
# multi-process and deployment tests), one at a time: under an hour on 2 cores. Not needed to use mtnn.
# First installs, when missing, the tools the tests use (see MTNN_TEST_TOOLS in Deploy/setup.sh): chromium,
# openssl, procps, prometheus, fonts-dejavu-core, nodejs and npm packages, kubectl; and builds Tests and Bench.
# Extra arguments go to `dotnet test` (for example: ./test.sh --filter FullyQualifiedName~Chem).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export MTNN_TEST_TOOLS=1 # setup.sh also installs every tool the tests use (chromium, kubectl, prometheus, ...)
MTNN_BUILD=all "$root/Deploy/setup.sh" # the tests and benchmarks too, not only the command line
source "$root/Deploy/runtime-env.sh" # the test host and the processes it starts run as ./mtnn does
log=$(mktemp -t mtnn-test.XXXXXX.log)
trap 'rm -f "$log"' EXIT
run() { dotnet test "$root/Tests/MtnnCluster.Tests.csproj" -c Release --no-build --logger "console;verbosity=normal" "$@"; }
status=0
run "$@" | tee "$log" || status=$?
[ "$status" -eq 0 ] && exit 0

# A CI log may keep only its tail: repeat each failed test with its message and stack there.
echo
echo "=== failed tests, again ==="
awk '/^  Failed /{show=1} /^  Passed |^\[xUnit|^Test Run|^Total tests/{show=0} show' "$log"
mapfile -t failed < <(sed -n 's/^  Failed \([A-Za-z0-9_.]*\).*/\1/p' "$log" | sort -u)
# Multi-process tests share two cores with the processes they start, so one can lose a race with the machine
# (a failure detector's deadline, a poll between two epochs). One or two of them failing are run once more, alone,
# and reported as flaky if they pass then; any other failure, or a second one, fails the run.
if [ $# -gt 0 ] || [ "${#failed[@]}" -eq 0 ] || [ "${#failed[@]}" -gt 2 ]; then exit "$status"; fi
for name in "${failed[@]}"; do # the namespaces whose tests start processes or open sockets
    case $name in MtnnCluster.Tests.Cluster.*|MtnnCluster.Tests.Deploy.*|MtnnCluster.Tests.Collectives.*|MtnnCluster.Tests.Commands.*) ;; *) exit "$status" ;; esac
done
filter=$(printf 'FullyQualifiedName=%s|' "${failed[@]}")
echo
echo "=== running the failed multi-process tests once more: ${failed[*]} ==="
run --filter "${filter%|}" || exit "$status"
echo "FLAKY (failed once, passed alone): ${failed[*]}"
