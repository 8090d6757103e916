#!/usr/bin/env bash
# Makes this machine able to build and run MtnnCluster, then builds it. Idempotent and quick when nothing is needed.
# Every entry point (./mtnn, ./test.sh, .ci/run) calls it.
#   1. TorchSharp 0.107's native library needs libstdc++ from GCC 13+ (GLIBCXX_3.4.32). Debian 12 ships GCC 12's.
#      Only when the check fails on a Debian system: add Debian trixie as an apt source pinned at priority 100
#      (never chosen unless asked for) and install libstdc++6 from it.
#   2. Only when MTNN_TEST_TOOLS=1 (./test.sh sets it) and no chromium is on the PATH: install Debian's chromium,
#      which the report tests use to load report.html headless.
#   3. dotnet restore + build (Release) when a source file is newer than the last build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "[setup] $*" >&2; }

have_glibcxx() {
  local lib
  for lib in $(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 /{print $NF}') /usr/lib/x86_64-linux-gnu/libstdc++.so.6; do
    [[ -f $lib ]] && grep -qa 'GLIBCXX_3\.4\.32' "$lib" && return 0
  done
  return 1
}

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else say "need root for: $*"; exit 1; fi; }

if ! have_glibcxx; then
  if [[ -r /etc/os-release ]] && . /etc/os-release && [[ ${ID:-} == debian ]]; then
    say "libstdc++ lacks GLIBCXX_3.4.32 (TorchSharp needs GCC 13+'s); installing libstdc++6 from Debian trixie, pinned low"
    as_root tee /etc/apt/sources.list.d/mtnn-trixie.sources >/dev/null <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    as_root tee /etc/apt/preferences.d/mtnn-trixie-low >/dev/null <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -t trixie libstdc++6 >&2
    have_glibcxx || { say "libstdc++6 from trixie still lacks GLIBCXX_3.4.32"; exit 1; }
    say "libstdc++6 upgraded"
  else
    say "libstdc++ lacks GLIBCXX_3.4.32: install GCC 13+'s libstdc++ (Ubuntu 24.04+, Debian 13+) and retry"; exit 1
  fi
fi

if [[ ${MTNN_TEST_TOOLS:-} == 1 ]] && ! command -v chromium >/dev/null; then
  say "tests need a headless browser for report.html; installing Debian's chromium (apt-get install chromium)"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends chromium >&2
  command -v chromium >/dev/null || { say "chromium is still not on the PATH after installing it"; exit 1; }
fi

command -v dotnet >/dev/null || { say "the .NET 10 SDK is required (dotnet not on PATH)"; exit 1; }

[[ ${MTNN_SKIP_BUILD:-} == 1 ]] && exit 0
stamp="$root/.build/stamp"
newest=$(find "$root" -path "$root/.build" -prune -o -path '*/bin' -prune -o -path '*/obj' -prune -o -path "$root/.git" -prune -o -path "$root/runs" -prune -o \
  \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' -o -name '*.sln' \) -newer "$stamp" -print -quit 2>/dev/null || true)
if [[ ! -f $stamp || -n $newest ]]; then
  say "building (dotnet build -c Release)"
  mkdir -p "$root/.build"
  dotnet build "$root/MtnnCluster.sln" -c Release -nologo -v quiet -clp:ErrorsOnly >&2
  touch "$stamp"
fi
