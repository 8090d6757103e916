#!/usr/bin/env bash
# Proves that a plain Debian 12 passes the README's two commands: debootstraps bookworm into a folder, adds only
# git, ca-certificates and this machine's .NET SDK, clones this repository into it, and runs, as a new user on a
# terminal would (answering "y" to setup.sh's question), `./mtnn train --data examples/tox21.csv --out runs/tox21`
# and then `./test.sh`, in a chroot with /proc, /dev and /sys mounted. Not run by CI: it takes most of an hour.
#   usage (as root): Deploy/fresh-debian-check.sh [FOLDER]     (default: a new folder under /tmp; kept afterwards)
# Prints each command's exit status and time, and the test counts, and writes them to FOLDER/result.txt.
#
# This machine reaches NuGet through a proxy whose certificate authority it trusts: the extra CA certificates
# (/usr/local/share/ca-certificates) and NuGet's settings are copied into the root, standing in for a user's
# ordinary internet access. That is part of this check, never of the product.
set -euo pipefail
[[ $(id -u) == 0 ]] || { echo "run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${1:-$(mktemp -d /tmp/mtnn-fresh-bookworm-XXXXXX)}
mkdir -p "$target"
log() { echo "[fresh] $*" >&2; }

command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
if [[ ! -x $target/usr/bin/apt-get ]]; then
  log "debootstrap bookworm into $target (git, ca-certificates)"
  debootstrap --variant=minbase --include=git,ca-certificates bookworm "$target" http://deb.debian.org/debian >"$target.debootstrap.log" 2>&1 \
    || { tail -20 "$target.debootstrap.log" >&2; exit 1; }
  # the security updates a Debian 12 install has
  printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    > "$target/etc/apt/sources.list"
fi

# a chroot is no booted system: packages that ship a service (prometheus) must not start it here
printf '#!/bin/sh\nexit 101\n' > "$target/usr/sbin/policy-rc.d" && chmod +x "$target/usr/sbin/policy-rc.d"

# the .NET SDK, as a tarball install puts it: no ICU, nothing else
sdk=$(dirname "$(readlink -f "$(command -v dotnet)")")
log "copying the .NET SDK from $sdk"
mkdir -p "$target$sdk"
cp -a "$sdk/." "$target$sdk/"
ln -sf "$sdk/dotnet" "$target/usr/local/bin/dotnet"

# this machine's network access: DNS, the proxy's CA, NuGet's configuration
cp -L /etc/resolv.conf "$target/etc/resolv.conf"
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
  cp -a /usr/local/share/ca-certificates/. "$target/usr/local/share/ca-certificates/"
  chroot "$target" update-ca-certificates >/dev/null
fi
if [[ -f $HOME/.nuget/NuGet/NuGet.Config ]]; then
  mkdir -p "$target/root/.nuget/NuGet" && cp "$HOME/.nuget/NuGet/NuGet.Config" "$target/root/.nuget/NuGet/"
fi
for npmrc in /etc/npmrc "$HOME/.npmrc"; do [[ -f $npmrc ]] && cp "$npmrc" "$target$npmrc"; done

rm -rf "$target/root/mtnn"
git clone -q --branch "$(git -C "$repo" rev-parse --abbrev-ref HEAD)" "$repo" "$target/root/mtnn"
log "cloned $(git -C "$target/root/mtnn" log --oneline -1)"

cleanup() { local m; for m in dev sys proc ""; do mountpoint -q "$target/$m" && umount -R -l "$target/$m"; done; }
trap cleanup EXIT
# the root a mount point of its own, as on a real machine: `unshare --mount` (the no-font test) needs one
mount --bind "$target" "$target"
mount -t proc proc "$target/proc"
mount --rbind /sys "$target/sys"
mount --rbind /dev "$target/dev" # with /dev/pts (the terminal) and /dev/shm (chromium)

# a login's environment, plus what this machine's network access needs (NuGet: revocation lists are out of its
# reach; node: the proxy's CA)
environment=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=xterm LANG=C.UTF-8 DOTNET_NOLOGO=1
  ${NUGET_CERT_REVOCATION_MODE:+NUGET_CERT_REVOCATION_MODE=$NUGET_CERT_REVOCATION_MODE}
  ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS})
# on a terminal (script(1) gives the command a pty), typing "y" when setup.sh asks, as the user would: input
# written ahead would go to whatever reads the terminal first (apt, dpkg)
as_user() {
  local name=$1 command=$2 started=$SECONDS code=0 answerer
  local transcript=$target/root/$name.log tty
  tty=$(mktemp -u /tmp/mtnn-fresh-tty-XXXXXX)
  mkfifo "$tty"
  rm -f "$transcript"
  (
    exec 3>"$tty" # the terminal's input stays open until the command ends
    until grep -aq "Upgrade these packages now" "$transcript" 2>/dev/null || [[ -e $tty.done ]]; do sleep 1; done
    [[ -e $tty.done ]] || printf 'y\n' >&3
    until [[ -e $tty.done ]]; do sleep 1; done
  ) &
  answerer=$!
  log "$name: $command"
  chroot "$target" env -i "${environment[@]}" script -qefc "cd /root/mtnn && $command" "/root/$name.log" <"$tty" >/dev/null || code=$?
  touch "$tty.done"
  wait "$answerer" || true
  rm -f "$tty" "$tty.done"
  echo "$name: exit $code in $((SECONDS - started)) s" | tee -a "$target/result.txt" >&2
}
: > "$target/result.txt"
as_user train "./mtnn train --data examples/tox21.csv --out runs/tox21"
as_user test "./test.sh"

log "the system afterwards: $(chroot "$target" sh -c '. /etc/os-release; echo $PRETTY_NAME'), libc6 $(chroot "$target" dpkg-query -W -f '${Version}' libc6)"
grep -a "mean test ROC-AUC" "$target/root/train.log" | tail -1 | tee -a "$target/result.txt" >&2 || true
grep -aE "^(Passed|Failed)!|Total tests|Passed:|Failed:|Skipped:" "$target/root/test.log" | tail -5 | tee -a "$target/result.txt" >&2 || true
grep -aE "^\s+Failed " "$target/root/test.log" | tee -a "$target/result.txt" >&2 || true
log "logs: $target/root/train.log, $target/root/test.log; summary: $target/result.txt"
