#!/usr/bin/env bash
# Builds CoreDNS and helm from their Go modules (`go install module/cmd@version`: their own go.mod, no
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
