# CRDs and the Helm chart (issue 5). The CRDs are generated from operator/flarekube/api; a unit test
# fails when charts/flarekube/crds/ drifts from the models. apiserver-tests runs the CRDs on a private,
# bare kube-apiserver + etcd (the cluster build's binaries; no kubelet), so it needs cluster-build only.
# helm's path comes from the cluster tool, the one place its version is decided (evaluated only when used).
HELM_BIN = $(shell cd tests/cluster && python3 -c 'from clustertool import config; print(config.default_paths().helm_bin)')

.PHONY: crds crds-check apiserver-tests chart-lint

crds: venv ## regenerate charts/flarekube/crds/ from the API models
	$(BIN)/flarekube crds --out charts/flarekube/crds

crds-check: venv ## fail when the chart's CRDs drifted from the API models
	$(BIN)/flarekube crds --check

apiserver-tests: venv cluster-build ## CRD schema + CEL on a real kube-apiserver: invalid FLProject/FLJob rejected
	$(BIN)/pytest -q tests/apiserver

chart-lint: cluster-build ## helm lint of charts/flarekube (also run by tests/unit/test_chart.py)
	$(HELM_BIN) lint --strict charts/flarekube
	$(HELM_BIN) lint --strict charts/flarekube --set monitoring.enabled=true
