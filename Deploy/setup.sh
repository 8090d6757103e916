#!/usr/bin/env bash
# Makes this machine able to build and run MtnnCluster, then builds it. Idempotent and quick when nothing is needed.
# Every entry point (./mtnn, ./test.sh, .ci/run) calls it.
#   1. The .NET SDK must run: `dotnet --info`. An SDK unpacked from a tarball brings no ICU; on Debian, install
#      libicu72 (bookworm) or libicu76 (trixie) when that is what stops it.
#   2. TorchSharp 0.107's native library needs libstdc++ from GCC 13+ (GLIBCXX_3.4.32). Debian 12 ships GCC 12's.
#      Debian 13's libstdc++6 needs glibc 2.38 (bookworm has 2.36), so it cannot be used as a private copy beside
#      the system's C library: installing it upgrades libc6, libc-bin and base-files to trixie's too. That is done
#      only when asked: MTNN_ALLOW_SYSTEM_UPGRADE=1, or a "y" at the prompt on a terminal, which lists exactly
#      the packages that would change (apt-get -s). The trixie sources are added pinned at priority 100 (never
#      chosen unless asked for), with trixie-security. Otherwise: the container image (Deploy/Dockerfile).
#   3. Only when MTNN_TEST_TOOLS=1 (./test.sh sets it): every tool the tests use, when missing: chromium, kubectl
#      (1.21+: kustomize components), openssl, procps, prometheus (promtool), fonts-dejavu-core, node and npm,
#      and the npm packages kubernetes-models and yaml in .tools/npm.
#   4. dotnet build (Release) when the hash of the source files differs from the last build's, or an output is missing:
#      the command line alone (Cli and what it references) for ./mtnn, the whole solution (Tests, Bench) when
#      MTNN_BUILD=all (./test.sh, ./bench.sh). One build at a time: a second waits for the first (.build/build.lock).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
say() { echo "[setup] $*" >&2; }
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else say "need root for: $*"; exit 1; fi; }
codename=""
[[ -r /etc/os-release ]] && codename=$(. /etc/os-release && [[ ${ID:-} == debian ]] && echo "${VERSION_CODENAME:-}")

apt_updated=0
apt_install() {
  if [[ $apt_updated == 0 ]]; then as_root apt-get update -qq >&2; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

# --- 1. the .NET SDK runs --------------------------------------------------------------------------------------
command -v dotnet >/dev/null || { say "the .NET 10 SDK is required (dotnet not on PATH)"; exit 1; }
# checked once per SDK (half a second each time otherwise)
dotnet_checked="$root/.build/dotnet-runs"
dotnet_path=$(readlink -f "$(command -v dotnet)")
if [[ $(cat "$dotnet_checked" 2>/dev/null) == "$dotnet_path" ]]; then
  :
elif ! info=$(dotnet --info 2>&1); then
  if [[ $info == *ICU* && -n $codename ]]; then
    icu=$(case $codename in bookworm) echo libicu72 ;; trixie) echo libicu76 ;; esac)
    [[ -n $icu ]] || { say "dotnet needs ICU: install your release's libicu package and retry"; exit 1; }
    say "dotnet cannot start without ICU (Unicode and globalization); installing $icu (apt-get install $icu)"
    apt_install "$icu"
    info=$(dotnet --info 2>&1) || { say "dotnet still does not start:"; echo "$info" >&2; exit 1; }
  else
    say "'dotnet --info' fails:"; echo "$info" >&2
    [[ $info == *ICU* ]] && say "install ICU (libicu) for your system, or set DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1"
    exit 1
  fi
fi
mkdir -p "$root/.build" && echo "$dotnet_path" > "$dotnet_checked"

# --- 2. libstdc++ from GCC 13+ -----------------------------------------------------------------------------------
have_glibcxx() {
  local lib
  for lib in $(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 /{print $NF}') /usr/lib/x86_64-linux-gnu/libstdc++.so.6; do
    [[ -f $lib ]] && grep -qa 'GLIBCXX_3\.4\.32' "$lib" && return 0
  done
  return 1
}

trixie_sources() {
  cat <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

# both suites low: unpinned, trixie-security (priority 500, as high as bookworm's) would win with its newer
# versions of chromium or nodejs, whose trixie dependencies cannot be installed beside bookworm's
trixie_pin() {
  printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n\n' trixie trixie-security
}

# apt with the system's sources plus trixie's, its lists and cache under .tools/apt: asks what trixie would bring
# without changing the system's apt configuration
private_apt() {
  local dir="$tools/apt"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/sources.list.d" "$dir/preferences.d"
  [[ -f $dir/sources.list.d/trixie.sources ]] || trixie_sources > "$dir/sources.list.d/trixie.sources"
  cp -f /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list "$dir/sources.list.d/" 2>/dev/null || true
  rm -f "$dir/sources.list.d/mtnn-trixie.sources" # the system's own copy of the trixie source, if added before
  trixie_pin > "$dir/preferences.d/trixie"
  apt-get -o Dir::Etc::SourceList=/etc/apt/sources.list -o Dir::Etc::SourceParts="$dir/sources.list.d" \
    -o Dir::Etc::PreferencesParts="$dir/preferences.d" -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@"
}
private_apt_updated=0
private_apt_update() {
  [[ $private_apt_updated == 1 ]] && return 0
  say "reading Debian trixie's package lists into .tools/apt (the system's apt configuration is left as it is)"
  private_apt update -qq >&2
  private_apt_updated=1
}

if ! have_glibcxx; then
  if [[ -z $codename ]]; then
    say "libstdc++ lacks GLIBCXX_3.4.32: install GCC 13+'s libstdc++ (Ubuntu 24.04+, Debian 13+) and retry, or use the container image (Deploy/Dockerfile)"; exit 1
  fi
  private_apt_update
  # what `apt-get install -t trixie libstdc++6` would change: "Inst NAME [OLD] (NEW ...)"
  plan=$(private_apt -s install -t trixie libstdc++6 2>/dev/null | awk '/^Inst /{old=($3 ~ /^\[/) ? $3 : "(new)"; gsub(/[\[\]]/, "", old); v=$0; sub(/^[^(]*\(/, "", v); sub(/ .*/, "", v); printf "  %s %s -> %s\n", $2, old, v}')
  [[ -n $plan ]] || { say "libstdc++ lacks GLIBCXX_3.4.32 and trixie offers no libstdc++6 upgrade here"; exit 1; }
  cat >&2 <<MSG
[setup] TorchSharp needs libstdc++ from GCC 13+ (GLIBCXX_3.4.32); this system's lacks it. Debian 13 (trixie) has
[setup] it, but its libstdc++6 needs glibc 2.38, so installing it changes these packages (apt-get -s):
$plan
[setup] libc6 and base-files from trixie make this a partly Debian 13 system (/etc/os-release will say trixie).
[setup] trixie and trixie-security are added as apt sources pinned at priority 100 (only what is asked for comes from them).
MSG
  if [[ ${MTNN_ALLOW_SYSTEM_UPGRADE:-} == 1 ]]; then
    say "MTNN_ALLOW_SYSTEM_UPGRADE=1: upgrading"
  elif [[ -t 0 && -t 2 ]]; then
    read -r -p "[setup] Upgrade these packages now? [y/N] " answer || answer=""
    [[ $answer == [yY]* ]] || { say "nothing changed. Alternatives: the container image (Deploy/Dockerfile, Ubuntu 24.04), or a Debian 13 machine"; exit 1; }
  else
    say "not upgrading the system unasked: set MTNN_ALLOW_SYSTEM_UPGRADE=1 to allow it, or run mtnn in its container image (Deploy/Dockerfile, Ubuntu 24.04), which needs no change to this system"
    exit 1
  fi
  trixie_sources | as_root tee /etc/apt/sources.list.d/mtnn-trixie.sources >/dev/null
  trixie_pin | as_root tee /etc/apt/preferences.d/mtnn-trixie-low >/dev/null
  as_root apt-get update -qq >&2
  apt_updated=1
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -t trixie libstdc++6 >&2
  have_glibcxx || { say "libstdc++6 from trixie still lacks GLIBCXX_3.4.32"; exit 1; }
  say "libstdc++6 upgraded"
fi

# --- 3. test tools ---------------------------------------------------------------------------------------------
# kubectl 1.21+ embeds a kustomize that renders components (bookworm's kubernetes-client is 1.20)
kubectl_ok() {
  local k=$1 minor
  [[ -x $k ]] || return 1
  minor=$("$k" version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -1)
  [[ -n $minor && $minor -ge 21 ]]
}
if [[ ${MTNN_TEST_TOOLS:-} == 1 ]]; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v openssl >/dev/null || missing+=(openssl)
  [[ -x /usr/bin/kill ]] || missing+=(procps) # the tests signal processes with kill(1), not the shell's builtin
  command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
  [[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
  command -v npm >/dev/null || missing+=(nodejs npm)
  if (( ${#missing[@]} )); then
    say "the tests need ${missing[*]}; installing (apt-get install ${missing[*]})"
    apt_install "${missing[@]}"
  fi
  if ! kubectl_ok "$(command -v kubectl || true)" && ! kubectl_ok "$tools/bin/kubectl"; then
    if [[ -n $(apt-cache policy kubectl 2>/dev/null | awk '/Candidate:/{print ($2 == "(none)") ? "" : $2}') && $codename != bookworm ]]; then
      say "the tests render k8s/ with kubectl 1.21+; installing Debian's kubectl (apt-get install kubectl)"
      apt_install kubectl
    elif [[ -n $codename ]]; then
      # trixie's kubectl needs only libc6 >= 2.34: its binary, unpacked under .tools/bin, runs on bookworm as it is
      say "the tests render k8s/ with kubectl 1.21+ (bookworm has 1.20); unpacking trixie's kubectl into .tools/bin (nothing installed system-wide)"
      private_apt_update
      rm -rf "$tools/kubectl" && mkdir -p "$tools/kubectl" "$tools/bin"
      (cd "$tools/kubectl" && private_apt download -qq -t trixie kubectl >&2)
      dpkg-deb -x "$tools"/kubectl/kubectl_*.deb "$tools/kubectl/root"
      ln -sf "$tools/kubectl/root/usr/bin/kubectl" "$tools/bin/kubectl"
    fi
    kubectl_ok "$(command -v kubectl || true)" || kubectl_ok "$tools/bin/kubectl" || { say "no kubectl 1.21+ could be installed"; exit 1; }
  fi
  # the manifests' schema check (Tests/Deploy/validate-manifests.mjs), pinned; 4.x runs on bookworm's node 18 (5.x wants node 22)
  npm_packages=(kubernetes-models@4.5.1 yaml@2.9.1)
  if [[ $(cat "$tools/npm/.installed" 2>/dev/null) != "${npm_packages[*]}" ]]; then
    say "the tests validate k8s/ against the Kubernetes schemas; installing npm ${npm_packages[*]} into .tools/npm"
    mkdir -p "$tools/npm"
    npm install --prefix "$tools/npm" --no-audit --no-fund --loglevel=error "${npm_packages[@]}" >&2
    echo "${npm_packages[*]}" > "$tools/npm/.installed"
  fi
fi

# --- 4. build ----------------------------------------------------------------------------------------------------
[[ ${MTNN_SKIP_BUILD:-} == 1 ]] && exit 0
patterns=('*.cs' '*.csproj' '*.props' '*.targets' '*.sln')
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # tracked files and new ones not ignored; a deleted file changes the list, an edited one its hash
  sources=$(cd "$root" && git ls-files --cached --others --exclude-standard -- "${patterns[@]}" | sort -u)
else
  sources=$(cd "$root" && find . \( -name bin -o -name obj -o -name .git -o -name .build -o -name .tools -o -name runs \) -prune -o \
    -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' -o -name '*.sln' \) -print | sed 's|^\./||' | sort)
fi
# a file listed but gone (deleted, not yet committed) leaves sha256sum's complaint in the hash
hash=$(cd "$root" && { printf '%s\n' "$sources" | xargs -d '\n' sha256sum -- 2>&1 || true; } | sha256sum | cut -d' ' -f1)
# ./mtnn needs the command line only: three copies of libtorch (Cli, Tests, Bench) are 2 GB a user never runs
if [[ ${MTNN_BUILD:-cli} == all ]]; then
  target="$root/MtnnCluster.sln"; stamp="$root/.build/sources-all.sha256"; projects=$(printf '%s\n' "$sources" | grep '\.csproj$' || true)
else
  target="$root/Cli/MtnnCluster.Cli.csproj"; stamp="$root/.build/sources-cli.sha256"; projects="Cli/MtnnCluster.Cli.csproj"
fi
outputs_present() {
  local project
  while IFS= read -r project; do
    [[ -n $project && -f $root/$project ]] || continue
    compgen -G "$root/$(dirname "$project")/bin/Release/*/*.dll" >/dev/null || return 1
  done <<< "$projects"
}
mkdir -p "$root/.build"
# two commands started at once (two terminals, a test starting processes) must not build into one bin/ together
exec 9>"$root/.build/build.lock"
flock 9
if [[ $(cat "$stamp" 2>/dev/null) != "$hash" ]] || ! outputs_present; then
  say "building $(basename "$target") (dotnet build -c Release)"
  dotnet build "$target" -c Release -nologo -v quiet -clp:ErrorsOnly >&2
  echo "$hash" > "$stamp"
fi
flock -u 9
