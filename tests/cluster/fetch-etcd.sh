#!/usr/bin/env bash
# Unpacks Debian trixie's etcd-server into the cache: bookworm's etcd 3.4 is too old for the watch requests
# of Kubernetes 1.35, and trixie's is a plain static Go binary that runs on bookworm. A private sources
# list and state dir keep the machine's own apt configuration untouched.
set -euo pipefail
: "${CACHE:=$HOME/.cache/flarekube}"
: "${ETCD_SUITE:=trixie}"
out="$CACHE/etcd"
if [[ -x "$out/usr/bin/etcd" ]]; then echo "etcd cached: $("$out/usr/bin/etcd" --version | head -1)"; exit 0; fi
command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "error: apt-get and dpkg are needed" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial"
cat > "$work/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $ETCD_SUITE main
SRC
opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::archives=$work/archives"
      -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Get::List-Cleanup=0"
      -o "APT::Sandbox::User=root")
apt-get "${opts[@]}" update -qq
(cd "$work" && apt-get "${opts[@]}" download etcd-server >/dev/null)
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
dpkg -x "$work"/etcd-server_*.deb "$out.tmp"
rm -rf "$out"; mv "$out.tmp" "$out"
"$out/usr/bin/etcd" --version | head -1
