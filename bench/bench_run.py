"""flarekube run vs NVFlare's own production flow, same job, same machine, measured in one run.

Baseline ("NVFlare-native"): `nvflare provision` from a project.yml, every participant started with its
kit's own `startup/start.sh`, the job folder submitted through the Flare API, `monitor_job` until done,
the result downloaded, then `shutdown all`. flarekube: `flarekube run` on the same FLProject/FLJob
(fresh workspace, so it provisions too; the local-only comparison is switched off).

    python bench/bench_run.py [--sites 4] [--rounds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
CRC = REPO / "examples" / "data" / "crc"
ADMIN = "admin@example.org"


def documents(sites: int, rounds: int) -> list[dict]:
    project = {
        "apiVersion": "flarekube.io/v1alpha1",
        "kind": "FLProject",
        "metadata": {"name": "bench"},
        "spec": {
            "sites": [
                {"name": f"site-{i}", "org": f"hospital_{i}", "data": {"localPath": str(CRC)}}
                for i in range(1, sites + 1)
            ],
            "admins": [{"email": ADMIN, "org": "hospital_1"}],
        },
    }
    job = {
        "apiVersion": "flarekube.io/v1alpha1",
        "kind": "FLJob",
        "metadata": {"name": "bench-tabular"},
        "spec": {
            "projectRef": "bench",
            "workload": {"kind": "clinical-tabular", "localEpochs": 2, "learningRate": 0.001, "batchSize": 32},
            "rounds": rounds,
            "minSites": sites,
        },
    }
    return [project, job]


def run_flarekube(docs: list[dict], work: Path) -> float:
    spec = work / "bundle.yaml"
    spec.write_text(yaml.safe_dump_all(docs))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "flarekube", "run", str(spec), "--no-compare", "--out", str(work / "out"),
         "--workspace", str(work / "ws")],
        check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip
    return time.perf_counter() - started


def nvflare_project_yml(sites: int, fl_port: int, admin_port: int) -> dict:
    builders = [
        {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder"},
        {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
        {"path": "nvflare.lighter.impl.cert.CertBuilder"},
        {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
    ]
    participants = [
        {"name": "localhost", "type": "server", "org": "nvidia", "fed_learn_port": fl_port, "admin_port": admin_port}
    ]
    participants += [{"name": f"site-{i}", "type": "client", "org": f"hospital_{i}"} for i in range(1, sites + 1)]
    participants += [{"name": ADMIN, "type": "admin", "org": "hospital_1", "role": "project_admin"}]
    return {"api_version": 3, "name": "benchnative", "description": "bench", "participants": participants,
            "builders": builders}  # fmt: skip


def run_native(docs: list[dict], work: Path, sites: int) -> float:
    from flarekube.api import parse_document
    from flarekube.api.job import FLJob, SiteFiles
    from flarekube.builders.jobfolder import SiteInputs, build_job_folder
    from flarekube.local.ports import free_port
    from flarekube.provisioning.site_policy import with_flarekube_policy
    from nvflare.fuel.flare_api.flare_api import new_secure_session

    job = parse_document(docs[1])
    assert isinstance(job, FLJob)
    folder = build_job_folder(
        job, work / "job", {f"site-{i}": SiteInputs(str(CRC), SiteFiles()) for i in range(1, sites + 1)}
    )
    (work / "project.yml").write_text(yaml.safe_dump(nvflare_project_yml(sites, free_port(), free_port())))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run(["nvflare", "provision", "-p", "project.yml", "-w", "ws"], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    prod = sorted((work / "ws" / "benchnative").glob("prod_*"))[-1]
    # NVFlare's default class allow-list refuses the PyTorch persistor and the Client API executor;
    # a site admin allows them in local/resources.json, exactly the policy flarekube's kits carry.
    for participant in prod.iterdir():
        default = participant / "local" / "resources.json.default"
        if default.is_file():
            files = with_flarekube_policy({"local/resources.json.default": default.read_bytes()})
            (participant / "local" / "resources.json").write_bytes(files["local/resources.json"])
    procs = []
    for name in ["localhost"] + [f"site-{i}" for i in range(1, sites + 1)]:
        start = prod / name / "startup" / "start.sh"
        procs.append(subprocess.Popen(["bash", str(start)], cwd=prod / name, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))  # fmt: skip
    sess = None
    try:
        sess = new_secure_session(ADMIN, str(prod / ADMIN), timeout=60)
        deadline = time.monotonic() + 120
        while len(sess.get_system_info().client_info) < sites and time.monotonic() < deadline:
            time.sleep(0.5)
        job_id = sess.submit_job(str(folder))
        sess.monitor_job(job_id, timeout=1800, poll_interval=1.0)
        sess.download_job_result(job_id)
        status = sess.get_job_meta(job_id)["status"]
        if status != "FINISHED:COMPLETED":
            raise SystemExit(f"NVFlare-native job ended {status}; logs under {prod}")
        sess.api.do_command("shutdown all")
        elapsed = time.perf_counter() - started
    finally:
        if sess is not None:
            sess.close()
        for p in procs:  # start.sh keeps a restart loop: end the whole group like a user's Ctrl-C would
            for child in psutil.Process(p.pid).children(recursive=True) if p.poll() is None else []:
                child.kill()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    docs = documents(args.sites, args.rounds)
    with tempfile.TemporaryDirectory(prefix="fk-bench-") as tmp:
        native = run_native(docs, Path(tmp) / "native", args.sites) if (Path(tmp) / "native").mkdir() is None else 0.0
        (Path(tmp) / "fk").mkdir()
        ours = run_flarekube(docs, Path(tmp) / "fk")
    result = {
        "sites": args.sites,
        "rounds": args.rounds,
        "nvflare_native_s": round(native, 1),
        "flarekube_run_s": round(ours, 1),
        "ratio_flarekube_over_native": round(ours / native, 3),
        "native_s_per_round": round(native / args.rounds, 2),
        "flarekube_s_per_round": round(ours / args.rounds, 2),
    }
    print(json.dumps(result, indent=2), flush=True)
    os._exit(0)  # the Flare API leaves non-daemon connector threads behind


if __name__ == "__main__":
    main()
