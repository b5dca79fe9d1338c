"""`flarekube validate` and the real kube-apiserver (the chart's CRDs) reach the same verdict on every
document of the shared corpus (tests/support/corpus.py, >= 100 documents): accepted by both or refused by
both, and the verdict is the one the corpus expects.

The CLI side is `validate`'s own path (file -> strict YAML loader -> models: `load_documents`); the API
side is a server-side dry-run create with field validation Strict (what `kubectl apply` sends), so nothing
is stored and every document can reuse one name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flarekube.api import SpecError
from flarekube.api.documents import load_documents
from flarekube.api.strictyaml import load_all
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.apiserver import GROUP, NS, PLURAL, VERSION
from tests.support.corpus import CORPUS, Sample

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # self-signed


def cli_verdict(sample: Sample, folder: Path) -> tuple[bool, str]:
    path = folder / f"{sample.id}.yaml"
    path.write_bytes(sample.yaml_text().encode("utf-8"))
    try:
        load_documents([path])
    except SpecError as err:
        return False, "; ".join(err.problems)
    return True, "valid"


def api_verdict(custom: client.CustomObjectsApi, doc: dict[str, Any]) -> tuple[bool, str]:
    try:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL[doc["kind"]], doc, dry_run="All", field_validation="Strict"
        )
    except ApiException as err:
        assert err.status in (400, 422), f"unexpected HTTP {err.status}: {err.body}"
        return False, str(json.loads(err.body)["message"])
    return True, "accepted"


def test_corpus_has_at_least_100_documents_of_both_verdicts() -> None:
    assert len(CORPUS) >= 100
    assert len({s.id for s in CORPUS}) == len(CORPUS)
    assert sum(s.accepted for s in CORPUS) >= 40 and sum(not s.accepted for s in CORPUS) >= 60


@pytest.mark.parametrize("sample", CORPUS, ids=lambda s: s.id)
def test_cli_and_api_server_agree(custom: client.CustomObjectsApi, sample: Sample, tmp_path: Path) -> None:
    doc = sample.document()
    if sample.text is not None:  # the text must parse to the document the API server is sent
        assert load_all(sample.yaml_text()) == [doc]
    cli_ok, cli_says = cli_verdict(sample, tmp_path)
    api_ok, api_says = api_verdict(custom, doc)
    expected = "accepted" if sample.accepted else "refused"
    verdicts = f"CLI: {cli_says[:400]}\nAPI server: {api_says[:400]}"
    assert cli_ok == api_ok, f"the CLI and the API server disagree on {sample.id}:\n{verdicts}"
    assert cli_ok == sample.accepted, f"both disagree with the corpus ({expected}) on {sample.id}:\n{verdicts}"
