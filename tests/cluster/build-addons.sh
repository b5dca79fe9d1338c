#!/usr/bin/env bash
# Builds CoreDNS, helm and kube-router from their Go modules (`go install module/cmd@version`: their own go.mod, no
# replace directives, so the proxy is enough) into the cache, keyed by version.
set -euo pipefail
: "${CACHE:=$HOME/.cache/flarekube}"
: "${COREDNS_VERSION:=v1.15.0}"
: "${HELM_VERSION:=v3.22.0}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[[ -x "$GO" ]] || { echo "error: Go >= 1.26 is needed (install it at /usr/local/go)" >&2; exit 1; }
build() { # name version package ldflags
  local out="$CACHE/$1/$2"
  if [[ -x "$out/$1" ]]; then echo "$1 $2 cached in $out"; return; fi
  local tmp="$out.tmp.$$" start; start=$(date +%s)
  rm -rf "$tmp"; mkdir -p "$tmp"
  echo "building $1 $2 ..."
  # The proxy's "go: downloading" lines are noise in CI logs; errors still come through.
  GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-trimpath "$GO" install -ldflags "-s -w $4" "$3@$2" \
    2> >(grep -v '^go: downloading' >&2)
  rm -rf "$out"; mv "$tmp" "$out"
  echo "built $1 $2 in $(( $(date +%s) - start )) s"
}
build coredns "$COREDNS_VERSION" github.com/coredns/coredns ""
build helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"

# kube-router, the test cluster's NetworkPolicy engine (a TEST component): built inside the wrapper
# module tests/cluster/go/kube-router, whose go.mod bumps dependencies flagged in v2.1.0. Keyed by the
# version and a stamp of that go.mod/go.sum, so bumping a dependency rebuilds it.
: "${KUBE_ROUTER_VERSION:=v2.1.0}"
here="$(cd "$(dirname "$0")" && pwd)"
kr_out="$CACHE/kube-router/$KUBE_ROUTER_VERSION"
kr_stamp="$(cat "$here/go/kube-router/go.mod" "$here/go/kube-router/go.sum" | sha256sum | cut -c1-16)"
if [[ -x "$kr_out/kube-router" && "$(cat "$kr_out/.stamp" 2>/dev/null)" == "$kr_stamp" ]]; then
  echo "kube-router $KUBE_ROUTER_VERSION cached in $kr_out"
else
  tmp="$kr_out.tmp.$$" start=$(date +%s)
  rm -rf "$tmp"; mkdir -p "$tmp"
  echo "building kube-router $KUBE_ROUTER_VERSION ..."
  (cd "$here/go/kube-router" && CGO_ENABLED=0 GOFLAGS=-trimpath "$GO" build -ldflags "-s -w" -o "$tmp/" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router 2> >(grep -v '^go: downloading' >&2))
  echo "$kr_stamp" > "$tmp/.stamp"
  rm -rf "$kr_out"; mv "$tmp" "$kr_out"
  echo "built kube-router $KUBE_ROUTER_VERSION in $(( $(date +%s) - start )) s"
fi
