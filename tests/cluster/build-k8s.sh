#!/usr/bin/env bash
# Builds the Kubernetes binaries (and kubectl) from the k8s.io/kubernetes Go module into the cache, keyed by
# version, so a second clone or a warm CI run does not rebuild. One `go build` for all commands shares
# the compilation of their common packages, which matters on a 2-core machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${K8S_VERSION:=v1.35.4}"
: "${CACHE:=$HOME/.cache/flarekube}"
out="$CACHE/k8s/$K8S_VERSION/bin"
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
# The version names the cache; the stamp catches an edit of go.mod/go.sum or of the provisioner's code
# (a rebuild then reuses the Go build cache and takes a minute or so).
stamp="$(cd "$here/go/k8s" && find . -type f \( -name '*.go' -o -name 'go.*' \) | sort | xargs sha256sum | sha256sum | cut -c1-16)"
have=1
for c in "${cmds[@]}" hostpath-provisioner; do [[ -x "$out/$c" ]] || have=0; done
[[ "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]] || have=0
if [[ $have == 1 ]]; then echo "k8s $K8S_VERSION binaries cached in $out"; exit 0; fi
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[[ -x "$GO" ]] || { echo "error: Go >= 1.25 is needed (install it at /usr/local/go)" >&2; exit 1; }
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
pkgs=()
for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
# The version is stamped the way the Kubernetes release build does, so the node reports v1.35.N.
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
tmp="$out.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
cd "$here/go/k8s"
echo "building ${cmds[*]} hostpath-provisioner ($K8S_VERSION) into $out ..."
CGO_ENABLED=0 GOFLAGS=-trimpath "$GO" build -ldflags "$ld" -o "$tmp/" "${pkgs[@]}" ./cmd/hostpath-provisioner \
  2> >(grep -v '^go: downloading' >&2)
echo "$stamp" > "$tmp/.stamp"
rm -rf "$out"; mv "$tmp" "$out"
echo "built k8s $K8S_VERSION in $(( $(date +%s) - start )) s"
