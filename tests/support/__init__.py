"""Test helpers and fixtures, one module per question; tests import them as `from tests.support.X import ...`.

- cluster: the real cluster (`cluster`, `kube`, `namespace` fixtures; pods, `wait_for`, `tool`)
- apiserver: a private kube-apiserver + etcd (`apiserver` fixture; `BareApiServer`, also used by bench/)
- e2e: the operator on the cluster (`fed_ns`, `operator` fixtures; chart RBAC, CRDs, runtime image)
- federation: real NVFlare federations via `flarekube run` (`run_flarekube` fixture; `job_doc`, `project_doc`)
- helm: where helm is (`helm_binary`, `KUBE_VERSION`)
- speccases: the shared catalogue of invalid FLProject/FLJob documents

The fixture modules are loaded for every test by `pytest_plugins` in tests/conftest.py (pytest reads it
only there). The cluster tool (`clustertool`, in tests/cluster) is on the path through pyproject's
`[tool.pytest.ini_options] pythonpath`.
"""
