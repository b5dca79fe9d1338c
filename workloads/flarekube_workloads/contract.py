"""Facts shared by the operator/CLI and the code that runs inside NVFlare jobs. Imports nothing.

The operator reads these without importing NVFlare or torch (the server's controller and the clients
do import them), so each fact has one home on both sides of the job boundary.
"""

from __future__ import annotations

# The group under which the server's controller answers NVFlare's `show_stats` with its progress
# (rounds done, the latest aggregated metrics); flarekube's Flare boundary reads the same group.
STATS_GROUP = "flarekube"

# Set by `flarekube run` for every NVFlare client process: where each site appends its metric lines.
METRICS_DIR_ENV = "FLAREKUBE_METRICS_DIR"

# The tabular workload's files in a site's data folder when the FLJob names none; "{site}" is the site.
TABULAR_TRAIN_FILE = "{site}.csv"
TABULAR_TEST_FILE = "{site}_test.csv"

# The metric a round is judged by (AUC on the site's own validation rows), as the clients report it.
KEY_METRIC = "val_auc"

# The port every server and site pod serves its federation metrics on (flarekube_workloads/monitoring.py;
# the pods' `fl-metrics` container port, which the chart's PodMonitor scrapes).
FEDERATION_METRICS_PORT = 9102
FEDERATION_METRICS_PORT_NAME = "fl-metrics"

# The Client API executor flarekube's own jobs name (flarekube_workloads.executors): the job folder builder
# writes it and the timing builder (flarekube.builders.tuning) gives it its poll interval.
MODULE_EXECUTOR = "flarekube_workloads.executors.ModuleClientAPIExecutor"

# Ditto's personal model, as NVFlare's PTDittoHelper names it in the site's job folder (it never leaves the
# site; `flarekube run` copies each site's into the run's outputs as personalized/<site>.pt).
PERSONAL_MODEL_FILE = "personalized_model.pt"

# The server's list of certificate serials it refuses (superseded or revoked in the project's ledger),
# rendered into its local/ by the operator's builders/sitelocal.py and read by certguard.CertGuard.
REFUSED_CERTS_FILE = "flarekube-refused-certs.json"
REFUSED_CERTS_FORMAT = 1
# Set on the server pod to the folder its ConfigMap is mounted at: the guard reads the list there, where
# the kubelet updates it in place, instead of the copy made at start (a renewal never restarts the server).
LIVE_LOCAL_ENV = "FLAREKUBE_LIVE_LOCAL"
