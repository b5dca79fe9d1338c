# The local Kubernetes cluster of the test suite (issue 4): built here from Go modules and Debian
# packages, no registry. Binaries and images are cached under $(CACHE); cluster state lives in
# /var/lib/flarekube-cluster and /run/flarekube-cluster; the kubeconfig is written to .cluster/kubeconfig.
CLUSTER_DIR := tests/cluster
CLUSTER_TOOL := cd $(CLUSTER_DIR) && python3 -m clustertool
GO ?= $(or $(shell command -v go),/usr/local/go/bin/go)
CLUSTER_DEBS := containerd runc containernetworking-plugins iptables ipset iproute2 openssl busybox-static gcc libc6-dev \
  debootstrap
export GO CACHE

.PHONY: cluster-deps cluster-build cluster-up cluster-down cluster-status cluster-tests images e2e-kind

cluster-deps: ## install the Debian packages the cluster runs on (containerd, runc, CNI, iptables, ...)
	@missing=$$(for p in $(CLUSTER_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing $$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

cluster-build: cluster-deps ## build Kubernetes, CoreDNS and helm from Go modules; unpack etcd (cached)
	$(CLUSTER_DIR)/build-k8s.sh
	$(CLUSTER_DIR)/build-addons.sh
	$(CLUSTER_DIR)/fetch-etcd.sh

cluster-up: cluster-build ## start the local cluster (or reuse a healthy one); writes .cluster/kubeconfig
	$(CLUSTER_TOOL) up

cluster-down: ## stop the cluster; leaves no process, mount, iptables rule, bridge or netns behind
	$(CLUSTER_TOOL) down

cluster-status: ## components, nodes, pods and memory of the local cluster
	$(CLUSTER_TOOL) status

cluster-tests: venv cluster-up ## the cluster's own tests against the real cluster
	$(BIN)/pytest -q $(CLUSTER_DIR)

images: venv cluster-up ## build the runtime and operator images (no registry) and import them into the cluster
	cd $(CLUSTER_DIR) && $(BIN)/python -m clustertool.rootfs all

e2e-kind: venv ## run the cluster tests on kind (see bench/README.md, "Local cluster")
	BIN=$(BIN) $(CLUSTER_DIR)/kind/e2e-kind.sh
