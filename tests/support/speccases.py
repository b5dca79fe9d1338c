"""Invalid FLProject/FLJob documents, shared by the pydantic tests (tests/unit) and the API-server tests
(tests/apiserver): one catalogue, so the CLI and the cluster are held to the same rules.

Each case changes one thing in a valid document and names the field the error must name. A case marked
`pydantic=False` is one that only the API server can see (it is checked there; see the reason).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]


def project() -> Doc:
    return {
        "apiVersion": "flarekube.io/v1alpha1",
        "kind": "FLProject",
        "metadata": {"name": "hospitals"},
        "spec": {
            "server": {"flPort": 8002, "adminPort": 8003},
            "sites": [
                {"name": f"site-{i}", "org": f"hospital_{c}", "data": {"hostPath": {"path": f"/data/site-{i}"}}}
                for i, c in ((1, "a"), (2, "b"), (3, "c"))
            ],
            "admins": [{"email": "admin@hospital-a.org", "org": "hospital_a"}],
        },
    }


def job() -> Doc:
    return {
        "apiVersion": "flarekube.io/v1alpha1",
        "kind": "FLJob",
        "metadata": {"name": "train"},
        "spec": {
            "projectRef": "hospitals",
            "workload": {"kind": "clinical-tabular", "localEpochs": 2, "params": {"maxBatches": 10}},
            "rounds": 3,
            "minSites": 2,
            "sites": ["site-1", "site-2", "site-3"],
        },
    }


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    change: Callable[[Doc], None]
    field: str  # the path the error must name, e.g. spec.sites[2].name
    pydantic: bool = True

    def document(self) -> Doc:
        doc = project() if self.kind == "FLProject" else job()
        doc = copy.deepcopy(doc)
        self.change(doc)
        return doc


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """_set("spec.sites[2].name", "Site_3"); a value of DELETE removes the key."""
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]

    def change(doc: Doc) -> None:
        node: Any = doc
        for part in parts[:-1]:
            node = node[part]
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = copy.deepcopy(value)

    return change


DELETE = object()


def _both(*changes: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        for c in changes:
            c(doc)

    return change


def _p(id: str, path: str, value: Any, field: str | None = None, pydantic: bool = True) -> Case:
    return Case(id, "FLProject", _set(path, value), field or path, pydantic)


def _j(id: str, path: str, value: Any, field: str | None = None, pydantic: bool = True) -> Case:
    return Case(id, "FLJob", _set(path, value), field or path, pydantic)


SITE = {"name": "site-9", "org": "hospital_z", "data": {"hostPath": {"path": "/data/z"}}}

CASES: list[Case] = [
    # FLProject: names and identities
    _p("metadata-name-upper", "metadata.name", "Hospitals"),
    _p("metadata-name-dot", "metadata.name", "hospitals.eu"),  # a valid subdomain, not a label
    _p("project-name-space", "spec.projectName", "my project"),
    _p("project-name-long", "spec.projectName", "p" * 64),
    _p("site-name-underscore", "spec.sites[2].name", "Site_3"),
    _p("site-name-long", "spec.sites[0].name", "s" * 64),
    _p("site-name-dash-start", "spec.sites[1].name", "-site"),
    _p("site-name-missing", "spec.sites[0].name", DELETE),
    _p("site-names-duplicate", "spec.sites[1].name", "site-1", "spec.sites"),
    _p("site-org-hyphen", "spec.sites[0].org", "hospital-a"),
    _p("site-org-missing", "spec.sites[0].org", DELETE),
    _p("site-org-long", "spec.sites[0].org", "o" * 64),
    _p("sites-empty", "spec.sites", []),
    _p("sites-missing", "spec.sites", DELETE),
    _p("sites-too-many", "spec.sites", [{**SITE, "name": f"s-{i}"} for i in range(201)]),
    _p("site-not-object", "spec.sites[0]", "site-1"),
    _p("spec-missing", "spec", DELETE),
    # FLProject: certificates
    _p("certs-validity-one-day", "spec.certificates", {"validityDays": 1}, "spec.certificates.validityDays"),
    _p("certs-validity-too-long", "spec.certificates", {"validityDays": 3651}, "spec.certificates.validityDays"),
    _p("certs-renew-zero", "spec.certificates", {"renewBeforeDays": 0}, "spec.certificates.renewBeforeDays"),
    _p("certs-renew-not-shorter", "spec.certificates", {"validityDays": 30, "renewBeforeDays": 30},
       "spec.certificates.renewBeforeDays"),
    # FLProject: server
    _p("server-fl-port-low", "spec.server.flPort", 80),
    _p("server-admin-port-high", "spec.server.adminPort", 70000),
    _p("server-fl-port-word", "spec.server.flPort", "eighty"),
    _p("server-name-is-site", "spec.server.name", "site-2"),
    _p("server-name-upper", "spec.server.name", "Server"),
    _p("server-host-underscore", "spec.server.host", "fl_server.example.org"),
    _p("server-org-dot", "spec.server.org", "flare.org"),
    _p("server-unknown-field", "spec.server.port", 8002),
    # FLProject: sites' resources, data, privacy
    _p("site-gpus-negative", "spec.sites[0].gpus", -1),
    _p("site-gpus-many", "spec.sites[0].gpus", 17),
    _p("site-cpu-word", "spec.sites[0].resources", {"requests": {"cpu": "lots"}},
       "spec.sites[0].resources.requests.cpu"),
    _p("site-memory-space", "spec.sites[1].resources", {"limits": {"memory": "4 GB"}},
       "spec.sites[1].resources.limits.memory"),
    _p("site-data-two-sources", "spec.sites[0].data.pvc", {"claimName": "data"}, "spec.sites[0].data"),
    _p("site-data-no-source", "spec.sites[0].data", {}),
    _p("site-host-path-relative", "spec.sites[0].data.hostPath.path", "data/site-1"),
    _p("site-host-path-dotdot", "spec.sites[0].data.hostPath.path", "/data/../etc"),
    _p("site-host-path-dotdot-end", "spec.sites[0].data.hostPath.path", "/data/site-1/.."),
    _p("site-pvc-claim-upper", "spec.sites[0].data", {"pvc": {"claimName": "My_Claim"}},
       "spec.sites[0].data.pvc.claimName"),
    _p("site-pvc-sub-path-absolute", "spec.sites[0].data", {"pvc": {"claimName": "d", "subPath": "/x"}},
       "spec.sites[0].data.pvc.subPath"),
    _p("site-privacy-placeholder-gone", "spec.sites[0].privacy", {"policy": "none"}),
    _p("site-custom-code-unknown", "spec.sites[0].policy", {"customCode": "maybe"}, "spec.sites[0].policy.customCode"),
    _p("site-submitter-role-unknown", "spec.sites[0].policy", {"submitters": {"roles": ["root"]}},
       "spec.sites[0].policy.submitters.roles[0]"),
    _p("site-submitter-org-dot", "spec.sites[0].policy", {"submitters": {"orgs": ["a.b"]}},
       "spec.sites[0].policy.submitters.orgs[0]"),
    _p("site-allow-component-space", "spec.sites[0].policy", {"allowComponents": ["my pkg"]},
       "spec.sites[0].policy.allowComponents[0]"),
    _p("site-top-percent-zero", "spec.sites[0].policy", {"privacy": {"topPercent": {"percent": 0}}},
       "spec.sites[0].policy.privacy.topPercent.percent"),
    _p("site-top-percent-and-noise", "spec.sites[0].policy", {"privacy": {"topPercent": {"percent": 25}, "noise": {}}},
       "spec.sites[0].policy.privacy"),
    _p("site-noise-epsilon-negative", "spec.sites[0].policy", {"privacy": {"noise": {"epsilon": -1}}},
       "spec.sites[0].policy.privacy.noise.epsilon"),
    _p("site-node-selector-int", "spec.sites[0].nodeSelector", {"gpu": 1}, "spec.sites[0].nodeSelector.gpu"),
    _p("site-unknown-field", "spec.sites[0].gpu", 1),
    # FLProject: admins, image, runtime
    _p("admin-email-invalid", "spec.admins[0].email", "not-an-email"),
    _p("admin-role-unknown", "spec.admins[0].role", "root"),
    _p("admins-empty", "spec.admins", []),
    _p("admins-duplicate", "spec.admins", [{"email": "a@b.org", "org": "x"}, {"email": "a@b.org", "org": "y"}]),
    _p("image-space", "spec.image", "flarekube/runtime 0.1.0"),
    _p("job-runtime-unknown", "spec.jobRuntime", "thread"),
    _p("spec-unknown-field", "spec.serverr", {"flPort": 8002}),
    # FLJob
    _j("job-project-ref-upper", "spec.projectRef", "Hospitals"),
    _j("job-project-ref-missing", "spec.projectRef", DELETE),
    _j("job-rounds-zero", "spec.rounds", 0),
    _j("job-rounds-many", "spec.rounds", 10001),
    _j("job-rounds-missing", "spec.rounds", DELETE),
    _j("job-workload-missing", "spec.workload", DELETE),
    _j("job-workload-kind-unknown", "spec.workload.kind", "resnet"),
    _j("job-folder-missing", "spec.workload", {"kind": "jobFolder"}, "spec.workload"),
    _j("job-folder-unwanted", "spec.workload.jobFolder", {"path": "jobs/x"}, "spec.workload"),
    _j("job-folder-two-sources", "spec.workload", {"kind": "jobFolder", "jobFolder": {"path": "x", "configMap": "y"}},
       "spec.workload.jobFolder"),
    _j("job-folder-no-source", "spec.workload", {"kind": "jobFolder", "jobFolder": {}}, "spec.workload.jobFolder"),
    _j("job-learning-rate-zero", "spec.workload.learningRate", 0),
    _j("job-learning-rate-big", "spec.workload.learningRate", 11),
    _j("job-local-epochs-zero", "spec.workload.localEpochs", 0),
    _j("job-batch-size-zero", "spec.workload.batchSize", 0),
    _j("job-params-list", "spec.workload.params.layers", [64, 32]),
    _j("job-params-map", "spec.workload.params.optimizer", {"name": "adam"}),
    _j("job-algorithm-unknown", "spec.algorithm", {"name": "fedsgd"}, "spec.algorithm.name"),
    _j("job-fedprox-mu-negative", "spec.algorithm", {"name": "fedprox", "mu": -0.1}, "spec.algorithm.mu"),
    _j("job-fedprox-mu-string", "spec.algorithm", {"name": "fedprox", "mu": "0.1"}, "spec.algorithm.mu"),
    _j("job-mu-on-fedavg", "spec.algorithm", {"name": "fedavg", "mu": 0.1}, "spec.algorithm.mu"),
    _j("job-fedopt-optimizer-unknown", "spec.algorithm", {"name": "fedopt", "serverOptimizer": "rmsprop"},
       "spec.algorithm.serverOptimizer"),
    _j("job-fedopt-lr-zero", "spec.algorithm", {"name": "fedopt", "serverLearningRate": 0},
       "spec.algorithm.serverLearningRate"),
    _j("job-fedopt-momentum-one", "spec.algorithm", {"name": "fedopt", "serverMomentum": 1},
       "spec.algorithm.serverMomentum"),
    _j("job-fedopt-momentum-with-adam", "spec.algorithm",
       {"name": "fedopt", "serverOptimizer": "adam", "serverMomentum": 0.9}, "spec.algorithm.serverMomentum"),
    _j("job-optimizer-on-fedprox", "spec.algorithm", {"name": "fedprox", "serverOptimizer": "sgd"},
       "spec.algorithm.serverOptimizer"),
    _j("job-algorithm-unknown-param", "spec.algorithm", {"name": "fedprox", "beta": 0.1}, "spec.algorithm.beta"),
    _j("job-lambda-on-fedprox", "spec.algorithm", {"name": "fedprox", "lambda": 0.1}, "spec.algorithm.lambda"),
    _j("job-ditto-lambda-negative", "spec.algorithm", {"name": "ditto", "lambda": -0.1}, "spec.algorithm.lambda"),
    _j("job-ditto-lambda-string", "spec.algorithm", {"name": "ditto", "lambda": "0.1"}, "spec.algorithm.lambda"),
    _j("job-ditto-personal-epochs-zero", "spec.algorithm", {"name": "ditto", "personalEpochs": 0},
       "spec.algorithm.personalEpochs"),
    _j("job-ditto-personal-epochs-fraction", "spec.algorithm", {"name": "ditto", "personalEpochs": 1.5},
       "spec.algorithm.personalEpochs"),
    _j("job-personal-epochs-on-scaffold", "spec.algorithm", {"name": "scaffold", "personalEpochs": 2},
       "spec.algorithm.personalEpochs"),
    _j("job-mu-on-scaffold", "spec.algorithm", {"name": "scaffold", "mu": 0.1}, "spec.algorithm.mu"),
    _j("job-folder-with-algorithm", "spec", {**job()["spec"], "algorithm": {"name": "fedprox", "mu": 0.1},
       "workload": {"kind": "jobFolder", "jobFolder": {"path": "jobs/mine"}}}, "spec.algorithm"),
    _j("job-fedopt-min-responses", "spec", {**job()["spec"], "algorithm": {"name": "fedopt"},
       "faultTolerance": {"minResponses": 1}}, "spec.faultTolerance"),
    _j("job-scaffold-round-timeout", "spec", {**job()["spec"], "algorithm": {"name": "scaffold"},
       "faultTolerance": {"roundTimeoutSeconds": 30}}, "spec.faultTolerance"),
    _j("job-folder-with-scaffold", "spec", {**job()["spec"], "algorithm": {"name": "scaffold"},
       "workload": {"kind": "jobFolder", "jobFolder": {"path": "jobs/mine"}}}, "spec.algorithm"),
    _j("job-folder-with-ditto", "spec", {**job()["spec"], "algorithm": {"name": "ditto", "lambda": 0.5},
       "workload": {"kind": "jobFolder", "jobFolder": {"path": "jobs/mine"}}}, "spec.algorithm"),
    _j("job-min-sites-zero", "spec.minSites", 0),
    _j("job-min-sites-above-sites", "spec.minSites", 4),
    _j("job-sites-duplicate", "spec.sites[2]", "site-1", "spec.sites"),
    _j("job-sites-empty", "spec.sites", []),
    _j("job-site-upper", "spec.sites[0]", "Site_1"),
    _j("job-min-responses-above-min-sites", "spec.faultTolerance", {"minResponses": 3},
       "spec.faultTolerance.minResponses"),
    _j("job-round-timeout-negative", "spec.faultTolerance", {"roundTimeoutSeconds": -1},
       "spec.faultTolerance.roundTimeoutSeconds"),
    _j("job-timeout-short", "spec.timeoutSeconds", 5),
    _j("job-seed-negative", "spec.seed", -1),
    _j("job-data-absolute", "spec.data", {"site-1": {"train": "/etc/passwd"}}, "spec.data.site-1.train"),
    _j("job-unknown-field", "spec.epochs", 5),
    _j("job-workload-unknown-field", "spec.workload.epochs", 5),
]


def names_field(message: str, field: str) -> bool:
    """Whether an error message names `field`: the whole path, or a parent path followed by the rest.

    Both `spec.sites[2].name: "Site_3" is not ...` and `spec: minSites (4) must be <= size(sites)` name
    their field; Kubernetes' `spec.data[site-1].train` is read as `spec.data.site-1.train`, and its
    `.spec.x` (unknown fields) as `spec.x`.
    """
    text = re.sub(r"\[([^\[\]\d][^\[\]]*)\]", r".\1", message).replace(" .spec", " spec").replace('".spec', '"spec')
    if field in text:
        return True
    parts = re.findall(r"\.?[^.\[]+|\[\d+\]", field)
    for cut in range(len(parts) - 1, 0, -1):
        parent, rest = "".join(parts[:cut]), "".join(parts[cut:]).lstrip(".")
        leaf = re.sub(r"\[\d+\]", "", rest)
        if f"{parent}:" in text and (rest in text or leaf in text):
            return True
    return False
