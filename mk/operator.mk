# The operator (issue 5): its reconciler against a real kube-apiserver (no cluster needed), then end to
# end on the local cluster (the runtime image must be imported: `make images`).
.PHONY: operator-tests e2e bench-operator

operator-tests: venv cluster-build ## the operator against a private kube-apiserver: kits in Secrets, RBAC, PSA, crashes
	$(BIN)/pytest -q tests/kube

e2e: venv images ## the operator end to end on the local cluster (FLProject -> Ready, FLJob -> Succeeded, faults)
	$(BIN)/pytest -q -s tests/e2e

bench-operator: venv ## 50 FLProjects x 20 sites against a real API server: reconcile latency and RSS
	PYTHONPATH=$(CURDIR):$(CURDIR)/tests/cluster:$(PYTHONPATH) $(BIN)/python bench/bench_operator.py scale --out bench/operator-scale.json

