"""One shared list of >= 100 FLProject/FLJob documents, each with the verdict both the CLI (`flarekube
validate`) and the real kube-apiserver (the generated CRDs, field validation Strict) must reach.

It is the catalogue of invalid documents (`speccases.CASES`) plus valid documents and edge cases: strings
for numbers, integer-valued floats, booleans for integers, nulls, metadata shapes, bounds, huge values,
and YAML text details (CRLF, BOM, YAML 1.1 spellings). `tests/apiserver/test_cli_apiserver_agree.py`
runs every one through both and asserts the verdicts agree (and match `accepted`).

A sample with `text` is fed to the CLI as that text; the API server gets the parsed document (kubectl
sends JSON), so these check the text layer of the CLI against the same parsed verdict.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.support.speccases import CASES, DELETE, Doc, _both, _set, job, project


@dataclass(frozen=True)
class Sample:
    id: str
    kind: str
    change: Callable[[Doc], None] = field(default=lambda d: None)
    accepted: bool = True
    text: Callable[[Doc], str] | None = None  # the CLI reads this text instead of the YAML dump

    def document(self) -> Doc:
        doc = copy.deepcopy(project() if self.kind == "FLProject" else job())
        self.change(doc)
        return doc

    def yaml_text(self) -> str:
        doc = self.document()
        return self.text(doc) if self.text else yaml.safe_dump(doc, sort_keys=False)


def _p(id: str, path: str, value: Any, accepted: bool) -> Sample:
    return Sample(id, "FLProject", _set(path, value), accepted)


def _j(id: str, path: str, value: Any, accepted: bool) -> Sample:
    return Sample(id, "FLJob", _set(path, value), accepted)


def _minimal_project(doc: Doc) -> None:
    del doc["spec"]["server"]
    del doc["spec"]["admins"]
    doc["spec"]["sites"] = [{"name": "only", "org": "o"}]


def _full_project(doc: Doc) -> None:
    doc["spec"].update(
        projectName="hospitals-eu",
        server={"name": "fl-server", "host": "fl.hospitals.example.org", "org": "flare_org", "flPort": 9002,
                "adminPort": 9003, "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                                 "limits": {"cpu": "2", "memory": "4Gi"}},
                "allowedCidrs": ["203.0.113.0/24", "2001:db8::/32"]},
        image="registry.example.org/flarekube/runtime@sha256:" + "a" * 64,
        jobRuntime="pod",
        admins=[{"email": "lead@hospital-a.org", "org": "hospital_a", "role": "lead"},
                {"email": "m.e+tag@hospital-b.co.uk", "org": "hospital_b", "role": "member"}],
    )
    doc["spec"]["sites"][0].update(
        gpus=16, resources={"requests": {"cpu": "1.5"}}, nodeSelector={"kubernetes.io/hostname": "node-1"},
        data={"pvc": {"claimName": "site-1-data", "subPath": "train/v1"}},
        policy={"submitters": {"roles": ["project_admin"], "orgs": ["hospital_a"], "operator": False},
                "customCode": "allow", "shellCommands": "allow", "allowComponents": ["my_pkg.", "a.b.C"],
                "privacy": {"topPercent": {"percent": 10, "gamma": 0.5}, "excludeLayers": ["fc.weight"],
                            "shareLocalModel": True}},
    )
    doc["spec"]["sites"][1].update(
        data={"localPath": "data/site-2"},
        policy={"privacy": {"noise": {"fraction": 1, "epsilon": 100, "noiseVar": 0.5, "gamma": 1e-5, "tau": 0}}},
    )
    del doc["spec"]["sites"][2]["data"]


def _full_job(doc: Doc) -> None:
    doc["spec"].update(
        algorithm={"name": "fedprox", "mu": 0.01},
        minSites=3,
        data={"site-1": {"train": "train.csv", "test": "sub/test.csv"}, "site-2": {}},
        faultTolerance={"minResponses": 2, "roundTimeoutSeconds": 86400},
        timeoutSeconds=7 * 86400,
        seed=123,
    )
    doc["spec"]["workload"].update(learningRate=10, batchSize=65536, localEpochs=1000,
                                   params={"imageSize": 64, "layout": "flat", "augment": True, "ratio": 0.25})


def _sites(n: int) -> Callable[[Doc], None]:
    return _set("spec.sites", [{"name": f"s-{i}", "org": "o"} for i in range(n)])


def _crlf(doc: Doc) -> str:
    return yaml.safe_dump(doc, sort_keys=False).replace("\n", "\r\n")


def _bom(doc: Doc) -> str:
    return "\ufeff" + yaml.safe_dump(doc, sort_keys=False)


def _replace(old: str, new: str) -> Callable[[Doc], str]:
    def text(doc: Doc) -> str:
        out = yaml.safe_dump(doc, sort_keys=False)
        assert old in out, (old, out)
        return out.replace(old, new, 1)

    return text


def _json(doc: Doc) -> str:
    import json

    return json.dumps(doc, indent=1)


VALID: list[Sample] = [
    Sample("project-as-given", "FLProject"),
    Sample("project-minimal", "FLProject", _minimal_project),
    Sample("project-every-field", "FLProject", _full_project),
    Sample("project-200-sites", "FLProject", _sites(200)),
    Sample("project-1-site", "FLProject", _sites(1)),
    Sample("project-status-ignored", "FLProject", _set("status", {"phase": "Ready"})),
    Sample("job-as-given", "FLJob"),
    Sample("job-every-field", "FLJob", _full_job),
    Sample("job-minimal", "FLJob", _both(_set("spec.sites", DELETE), _set("spec.minSites", DELETE),
                                         _set("spec.workload", {"kind": "chest-xray-cnn"}))),
    Sample("job-folder-path", "FLJob", _set("spec.workload", {"kind": "jobFolder", "jobFolder": {"path": "jobs/x"}})),
    Sample("job-folder-config-map", "FLJob",
           _set("spec.workload", {"kind": "jobFolder", "jobFolder": {"configMap": "my-job"}})),
    Sample("job-min-responses-equal", "FLJob", _set("spec.faultTolerance", {"minResponses": 2})),
]

EDGES: list[Sample] = [
    # numbers: bounds, huge values, seeds at 32 bits
    _j("seed-zero", "spec.seed", 0, True),
    _j("seed-2^32-1", "spec.seed", 2**32 - 1, True),
    _j("seed-2^32", "spec.seed", 2**32, False),
    _j("seed-2^63", "spec.seed", 2**63 - 1, False),
    _j("rounds-10000", "spec.rounds", 10000, True),
    _j("rounds-huge", "spec.rounds", 10**20, False),
    _j("rounds-huge-negative", "spec.rounds", -(10**20), False),
    _j("timeout-max", "spec.timeoutSeconds", 7 * 86400, True),
    _j("timeout-above-max", "spec.timeoutSeconds", 7 * 86400 + 1, False),
    _j("timeout-min", "spec.timeoutSeconds", 10, True),
    _p("fl-port-1024", "spec.server.flPort", 1024, True),
    _p("fl-port-65535", "spec.server.flPort", 65535, True),
    _p("fl-port-65536", "spec.server.flPort", 65536, False),
    _p("gpus-16", "spec.sites[0].gpus", 16, True),
    _p("gpus-huge-float", "spec.sites[0].gpus", 1e308, False),
    _j("learning-rate-tiny", "spec.workload.learningRate", 1e-300, True),
    _j("learning-rate-max", "spec.workload.learningRate", 10, True),
    _j("learning-rate-above-max", "spec.workload.learningRate", 10.000001, False),
    _p("noise-tau-zero", "spec.sites[0].policy", {"privacy": {"noise": {"tau": 0}}}, True),
    _p("top-percent-99", "spec.sites[0].policy", {"privacy": {"topPercent": {"percent": 99}}}, True),
    _p("top-percent-100", "spec.sites[0].policy", {"privacy": {"topPercent": {"percent": 100}}}, False),
    _p("top-percent-gamma-zero", "spec.sites[0].policy", {"privacy": {"topPercent": {"percent": 5, "gamma": 0}}},
       False),
    # JSON has one number type: an integer is a number; an integer-valued float is an integer (the API server)
    _j("learning-rate-integer", "spec.workload.learningRate", 1, True),
    _p("noise-epsilon-integer", "spec.sites[0].policy", {"privacy": {"noise": {"epsilon": 2}}}, True),
    _p("gpus-2.0", "spec.sites[0].gpus", 2.0, True),
    _j("rounds-3.0", "spec.rounds", 3.0, True),
    _j("seed-1.5", "spec.seed", 1.5, False),
    _j("local-epochs-2.5", "spec.workload.localEpochs", 2.5, False),
    # strings for numbers, booleans for integers, numbers for strings and booleans
    _p("gpus-string", "spec.sites[0].gpus", "2", False),
    _p("fl-port-string", "spec.server.flPort", "8002", False),
    _j("rounds-string", "spec.rounds", "3", False),
    _j("learning-rate-string", "spec.workload.learningRate", "0.01", False),
    _p("gpus-true", "spec.sites[0].gpus", True, False),
    _j("rounds-true", "spec.rounds", True, False),
    _j("seed-false", "spec.seed", False, False),
    _p("share-local-model-string", "spec.sites[0].policy", {"privacy": {"shareLocalModel": "true"}}, False),
    _p("operator-submits-int", "spec.sites[0].policy", {"submitters": {"operator": 1}}, False),
    _p("site-name-int", "spec.sites[0].name", 1, False),
    _p("site-org-int", "spec.sites[0].org", 7, False),
    _j("project-ref-int", "spec.projectRef", 5, False),
    _p("node-selector-bool", "spec.sites[0].nodeSelector", {"gpu": True}, False),
    # empty strings and empty objects
    _p("project-name-empty", "spec.projectName", "", False),
    _p("server-host-empty", "spec.server.host", "", False),
    _p("pvc-sub-path-empty", "spec.sites[0].data", {"pvc": {"claimName": "d", "subPath": ""}}, False),
    _p("local-path-empty", "spec.sites[0].data", {"localPath": ""}, False),
    _p("image-empty", "spec.image", "", False),
    _p("server-empty", "spec.server", {}, True),
    _p("policy-empty", "spec.sites[0].policy", {}, True),
    _j("algorithm-empty", "spec.algorithm", {}, True),
    _j("algorithm-scaffold", "spec.algorithm", {"name": "scaffold"}, True),
    _j("algorithm-ditto-defaults", "spec.algorithm", {"name": "ditto"}, True),
    _j("algorithm-ditto-bounds", "spec.algorithm", {"name": "ditto", "lambda": 0, "personalEpochs": 1000}, True),
    _j("algorithm-ditto-lambda-integer", "spec.algorithm", {"name": "ditto", "lambda": 1000}, True),
    _j("algorithm-ditto-lambda-above", "spec.algorithm", {"name": "ditto", "lambda": 1000.5}, False),
    _j("algorithm-ditto-epochs-above", "spec.algorithm", {"name": "ditto", "personalEpochs": 1001}, False),
    # SCAFFOLD on a site with privacy filters is refused across documents (api/validation.cross_check, by the
    # CLI and the operator): the FLJob alone is valid, here as on the API server.
    _j("algorithm-scaffold-with-fault-tolerance-defaults", "spec", {**job()["spec"], "algorithm": {"name": "scaffold"},
       "faultTolerance": {"roundTimeoutSeconds": 0}}, True),
    _j("job-data-empty-train", "spec.data", {"site-1": {"train": ""}}, False),
    # long values
    _p("image-long", "spec.image", "registry.example.org/" + "a" * 5000, True),
    _p("host-path-long", "spec.sites[0].data.hostPath.path", "/" + "d" * 4000, True),
    _p("host-253", "spec.server.host", ".".join(["a" * 63] * 3 + ["b" * 61]), True),
    _p("host-254", "spec.server.host", ".".join(["a" * 63] * 3 + ["b" * 62]), False),
    _p("email-long", "spec.admins[0].email", "a" * 250 + "@b.org", False),
    _p("org-63", "spec.sites[0].org", "o" * 63, True),
    _p("site-name-63", "spec.sites[0].name", "s" * 63, True),
    # strings: shapes the patterns must agree on
    _p("org-unicode", "spec.sites[0].org", "hôpital", False),
    _p("email-unicode", "spec.admins[0].email", "admin@hôpital.fr", False),
    _p("email-short-tld", "spec.admins[0].email", "a@b.c", False),
    _p("site-name-trailing-newline", "spec.sites[0].name", "site-1\n", False),
    _p("quantity-exponent", "spec.sites[0].resources", {"limits": {"memory": "1e3"}}, True),
    _p("cidr-v6", "spec.server.allowedCidrs", ["::/0"], True),
    _p("cidr-no-prefix", "spec.server.allowedCidrs", ["10.0.0.1"], False),
    _p("operator-admin-reserved", "spec.admins[0].email", "flarekube-operator@x.org", False),
    # nulls: the API server drops a null (absent), so `null` means "not set"
    _p("server-host-null", "spec.server.host", None, True),
    _p("gpus-null", "spec.sites[0].gpus", None, True),
    _p("server-null", "spec.server", None, True),
    _p("sites-null", "spec.sites", None, False),
    _j("rounds-null", "spec.rounds", None, False),
    # metadata shapes
    _p("metadata-name-63", "metadata.name", "h" * 63, True),
    _p("metadata-name-64", "metadata.name", "h" * 64, False),
    _p("metadata-name-int", "metadata.name", 7, False),
    _p("metadata-unknown-key", "metadata.nmae", "x", False),
    _p("labels-ok", "metadata.labels", {"app": "flarekube", "app.kubernetes.io/part-of": "hospitals", "e": ""},
       True),
    _p("labels-int-value", "metadata.labels", {"tier": 1}, False),
    _p("labels-list", "metadata.labels", ["a"], False),
    _p("label-key-space", "metadata.labels", {"my label": "x"}, False),
    _p("label-key-long", "metadata.labels", {"k" * 64: "x"}, False),
    _p("label-value-long", "metadata.labels", {"k": "v" * 64}, False),
    _p("label-value-space", "metadata.labels", {"k": "a b"}, False),
    _p("label-prefix-upper", "metadata.labels", {"Example.org/k": "v"}, False),
    _p("annotations-ok", "metadata.annotations", {"note": "free text, spaces: fine\nand lines", "a.b/c": ""}, True),
    _p("annotation-key-space", "metadata.annotations", {"my note": "x"}, False),
    _p("annotation-value-int", "metadata.annotations", {"n": 1}, False),
    _p("annotations-too-large", "metadata.annotations", {"big": "x" * (256 * 1024 + 1)}, False),
    _p("finalizers-ok", "metadata.finalizers", ["flarekube.io/kits"], True),
    _p("namespace-matches", "metadata.namespace", "default", True),
    # params: scalars only
    _j("params-scalars", "spec.workload.params", {"i": 1, "f": 0.5, "s": "x", "b": False}, True),
    _j("params-list", "spec.workload.params", {"l": [1]}, False),
    _j("params-map", "spec.workload.params", {"m": {"a": 1}}, False),
    _j("algorithm-params-list", "spec.algorithm", {"params": {"l": [1, 2]}}, False),
]

TEXTS: list[Sample] = [
    Sample("project-crlf", "FLProject", text=_crlf),
    Sample("project-bom", "FLProject", text=_bom),
    Sample("job-crlf-bom", "FLJob", text=lambda d: "\ufeff" + _crlf(d)),
    Sample("project-json", "FLProject", text=_json),
    Sample("job-flow-style", "FLJob", text=lambda d: yaml.safe_dump(d, default_flow_style=True)),
    Sample("job-seed-hex", "FLJob", text=_replace("rounds: 3", "rounds: 0x3")),
    Sample("job-rounds-quoted", "FLJob", _set("spec.rounds", "3"), False, _replace("rounds: '3'", "rounds: \"3\"")),
    Sample("project-image-date-like", "FLProject", _set("spec.image", "2024-01-01"), True,
           _replace("image: '2024-01-01'", "image: 2024-01-01")),
    Sample("job-comments", "FLJob", text=lambda d: "# a job\n" + yaml.safe_dump(d).replace("\n", "  # c\n")),
    Sample("job-anchors", "FLJob", _set("spec.data", {"site-1": {"train": "t.csv"}, "site-2": {"train": "t.csv"}}),
           True, _replace("site-1:\n      train: t.csv\n    site-2:\n      train: t.csv",
                          "site-1: &f\n      train: t.csv\n    site-2: *f")),
]

INVALID: list[Sample] = [Sample(f"catalogue-{c.id}", c.kind, c.change, False) for c in CASES]

CORPUS: list[Sample] = VALID + EDGES + TEXTS + INVALID

CORPUS += [
    _p("cidr-host-bits", "spec.server.allowedCidrs", ["10.0.0.1/8"], False),
    _p("cidr-v6-upper", "spec.server.allowedCidrs", ["2001:DB8::/32"], True),
    _p("labels-null", "metadata.labels", None, True),
    _j("params-null-value", "spec.workload.params", {"x": None}, True),
    _p("site-null-item", "spec.sites[1]", None, False),
    _p("operator-admin-upper", "spec.admins[0].email", "FlareKube-Operator@x.org", False),
]
