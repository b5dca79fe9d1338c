"""Issue 10: the operator's own admin kit submits and follows jobs, and NVFlare refuses it anything else.

A real federation from `flarekube run`'s kits (server + one site over mTLS). site-1 allows shell commands
for its submitters, so the same command the operator is refused succeeds for the project's human admin:
the refusal is NVFlare enforcing the operator's role, not a broken command.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flarekube import flare
from flarekube.api import FLJob, FLProject, parse_document
from flarekube.builders.jobfolder import build_job_folder
from flarekube.local.data import csv_width, resolve_site_inputs
from flarekube.local.federation import issue_kits, running
from flarekube.local.workspace import Workspace
from flarekube.provisioning import LocalKitStore, materialize
from nvflare.fuel.flare_api.api_spec import AuthorizationError

from tests.federation.test_site_policy import TABULAR
from tests.support.federation import job_doc, nvflare_processes, project_doc

pytestmark = [pytest.mark.nvflare, pytest.mark.timeout(300)]

OPERATOR = "flarekube-operator@ops.flarekube.io"
HUMAN = "admin@example.org"  # project_doc's admin: NVFlare's project_admin


def refused(call: object) -> str:
    """NVFlare's refusal of a command, as the Flare API reports it (raised, or returned as the reply text)."""
    try:
        reply = call()  # type: ignore[operator]
    except AuthorizationError as err:
        return str(err)
    raise AssertionError(f"NVFlare did not refuse the operator: it answered {reply!r}")


def test_the_operator_kit_submits_jobs_and_is_refused_shell_and_operate(tmp_path: Path) -> None:
    doc = project_doc("ops", 1)
    doc["spec"]["sites"][0]["policy"] = {"shellCommands": "allow"}
    project, job = parse_document(doc), parse_document(job_doc("tab", "ops", 1, 1, TABULAR))
    assert isinstance(project, FLProject) and isinstance(job, FLJob)
    inputs, problems = resolve_site_inputs(project, job, ["site-1"], tmp_path)
    assert not problems, problems
    ws = Workspace(tmp_path / "state")
    report = issue_kits(project, ws, reissue_kits=False, new_root_ca=False)
    assert OPERATOR in report.issued and HUMAN in report.issued  # a person's machine holds both

    with running(project, ws, ["site-1"], lambda name: {}) as fed:
        assert fed.admin_user == OPERATOR  # `flarekube run` submits as the operator, as a cluster does
        sess = fed.session
        folder = build_job_folder(job, ws.jobs / "tab", inputs, input_width=csv_width(inputs))
        job_id = flare.submit(sess, folder, token="tab-1")
        assert flare.submit(sess, folder, token="tab-1") == job_id  # its token: the same job, not a second
        deadline = time.monotonic() + 180
        while not (state := flare.job_state(sess, job_id)).finished:
            assert time.monotonic() < deadline, f"job {job_id} did not finish: {state}"
            time.sleep(1.0)
        assert state.status == "FINISHED:COMPLETED", state
        assert (sess.get_job_meta(job_id) or {}).get("submitter_name") == OPERATOR

        # Shell commands on the site (NVFlare's shell_commands right): the Flare API raises the refusal.
        for text in (refused(lambda: sess.get_working_directory("site-1")), refused(lambda: sess.ls_target("site-1"))):
            assert text.startswith("user not authorized for the action"), text
        # An operate command (report_resources): the site answers with its refusal instead of its resources.
        denied = f"user '{OPERATOR}' is not authorized for 'report_resources'"
        assert sess.report_resources("client", ["site-1"]) == {"site-1": denied}

        # The project's human admin, whose kit never goes into a cluster, may run the same commands.
        human_kit = materialize(LocalKitStore(ws.kits), HUMAN, tmp_path / "human")
        human = flare.connect(human_kit, HUMAN, timeout=30)
        try:
            assert "site-1" in human.get_working_directory("site-1")
            assert "not authorized" not in str(human.report_resources("client", ["site-1"]))
        finally:
            human.close()
    assert nvflare_processes(str(tmp_path)) == []
