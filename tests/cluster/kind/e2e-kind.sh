#!/usr/bin/env bash
# Runs the cluster tests (and tests/e2e when present) on a kind cluster instead of the local one:
# creates the cluster unless it exists, loads the locally built test image (no registry involved) and
# points the `cluster` fixture at it with FLAREKUBE_KUBECONFIG. Needs Docker and kind
# (`go install sigs.k8s.io/kind@latest`); KIND_NODE_IMAGE picks the node image (default kindest/node v1.35).
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${BIN:=$(dirname "$(command -v python3)")}"
name="${KIND_CLUSTER:-flarekube-e2e}"
for tool in kind docker; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed for make e2e-kind (see bench/README.md)" >&2; exit 1; }
done
if ! kind get clusters 2>/dev/null | grep -qx "$name"; then
  kind create cluster --name "$name" --config tests/cluster/kind/kind-config.yaml \
    ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 120s
fi
mkdir -p .cluster
kubeconfig=.cluster/kind-kubeconfig
kind get kubeconfig --name "$name" > "$kubeconfig"
archive=$(cd tests/cluster && "$BIN/python" -c \
  'from clustertool import config, images; print(images.testbox_archive(config.default_paths()))')
kind load image-archive "$archive" --name "$name"
suites=(tests/cluster)
if [[ -d tests/e2e ]]; then
  # The operator e2e suite needs the runtime and operator images too: full archives, loaded into kind.
  (cd tests/cluster && "$BIN/python" -m clustertool.rootfs all --no-import)
  for a in "${CACHE:-$HOME/.cache/flarekube}"/images/{runtime,operator}-*.ocitar; do
    kind load image-archive "$a" --name "$name"
  done
  suites+=(tests/e2e)
fi
FLAREKUBE_KUBECONFIG="$PWD/$kubeconfig" "$BIN/pytest" -q "${suites[@]}"
