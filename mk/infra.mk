# infra/ (issue 20): Pulumi programs for EKS or an existing cluster, the policy pack and `flarekube
# preflight`. The tests need no cloud and no Pulumi CLI: Pulumi mocks, moto and a botocore Stubber.
.PHONY: infra-tests

infra-tests: venv ## infra/ under Pulumi mocks, its policy pack, and preflight against moto (no AWS)
	$(BIN)/pytest -q tests/infra
