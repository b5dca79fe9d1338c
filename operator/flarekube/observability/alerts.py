"""The chart's alerts as code: one list, rendered twice from the same definitions.

`helm_rule_template()` is the chart's `templates/prometheusrule.yaml` (every `for:` and threshold a chart
value under `monitoring.prometheusRule`); `rules_file()` is the same rules as a plain Prometheus rule file
with the chart's default values, for `promtool check rules` / `promtool test rules` and the tests' real
Prometheus. `flarekube.observability.generate` writes the template; a unit test fails when the chart's
copy has drifted from this module.

Federation series (`flarekube_fl_*`) come from each participant's parent process
(flarekube_workloads/federation_metrics.py); their targets carry `flarekube_component` (server or site),
set by the chart's PodMonitor and the tests' scrape configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "flarekube"


@dataclass(frozen=True)
class Value:
    """A chart value under `monitoring.prometheusRule` and its default."""

    key: str
    default: str | int
    comment: str


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str  # {release}, {namespace}: the release; {value:<key>}: a chart value
    for_key: str | None
    severity: str
    summary: str
    description: str


VALUES = (
    Value("operatorDownFor", "5m", "the operator's /metrics target down"),
    Value("projectNotReadyFor", "10m", "an FLProject not Ready"),
    Value("serverDownFor", "2m", "an NVFlare server's /metrics target down"),
    Value("siteDisconnectedFor", "5m", "a site not connected to its server"),
    Value("jobStalledAfterSeconds", 1800, "a running job with no round started or finished for this long"),
    Value("jobStalledFor", "1m", "... and that for this long"),
    Value("siteMissingRounds", 3, "a site absent from this many rounds in a row of a running job"),
    Value("siteMissingRoundsFor", "1m", "... and that for this long"),
    Value("certificateExpiringFor", "1h", "a certificate inside its renewal window and not being renewed"),
    Value("reconcileErrorsFor", "15m", "the operator failing to reconcile"),
)
DEFAULTS: dict[str, str | int] = {v.key: v.default for v in VALUES}

_L = "{{ $labels.%s }}"  # a Prometheus template, written literally into the rule


def _lbl(name: str) -> str:
    return _L % name


ALERTS = (
    Alert(
        "FlarekubeOperatorDown",
        'absent(up{job="{release}-metrics", namespace="{namespace}"} == 1)',
        "operatorDownFor", "critical", "The flarekube operator is down",
        "No flarekube operator in {namespace} has been scraped for {value:operatorDownFor}: FLProjects and "
        "FLJobs are not reconciled (running federations keep running).",
    ),
    Alert(
        "FlarekubeProjectNotReady", "flarekube_project_ready == 0", "projectNotReadyFor", "warning",
        f"FLProject {_lbl('namespace')}/{_lbl('project')} is not Ready",
        f"FLProject {_lbl('namespace')}/{_lbl('project')} has not been Ready for {{value:projectNotReadyFor}}; "
        f"`kubectl -n {_lbl('namespace')} describe flp {_lbl('project')}` shows its conditions.",
    ),
    Alert(
        "FlarekubeServerDown", 'up{flarekube_component="server"} == 0', "serverDownFor", "critical",
        f"The NVFlare server of {_lbl('namespace')}/{_lbl('project')} is down",
        f"The federation server's metrics endpoint {_lbl('instance')} has not answered for {{value:serverDownFor}}: "
        "no site can train and no job can run.",
    ),
    Alert(
        "FlarekubeSiteDisconnected",
        "min by (project, namespace, site) (flarekube_fl_site_connected) == 0",
        "siteDisconnectedFor", "warning",
        f"Site {_lbl('site')} of {_lbl('namespace')}/{_lbl('project')} is disconnected",
        f"The server has not seen site {_lbl('site')} for {{value:siteDisconnectedFor}}; jobs that need it wait "
        "or run without it.",
    ),
    Alert(
        "FlarekubeProjectSitesDown", "flarekube_sites_connected < flarekube_sites_total",
        "siteDisconnectedFor", "warning",
        f"A site of FLProject {_lbl('namespace')}/{_lbl('project')} is disconnected",
        "Fewer sites than declared have been connected for {value:siteDisconnectedFor} "
        "({{ $value }} connected); "
        f" `kubectl -n {_lbl('namespace')} get flp {_lbl('project')} -o yaml` lists each site.",
    ),
    Alert(
        "FlarekubeJobStalled",
        "(time() - flarekube_fl_last_progress_timestamp_seconds) > {value:jobStalledAfterSeconds}"
        ' and on (project, namespace, job) flarekube_fl_job_phase{phase="running"} == 1',
        "jobStalledFor", "warning",
        f"FL job {_lbl('job')} of {_lbl('namespace')}/{_lbl('project')} is stalled",
        f"Job {_lbl('job')} is running but no round has started or finished for {{value:jobStalledAfterSeconds}} s.",
    ),
    Alert(
        "FlarekubeSiteMissingRounds",
        "(flarekube_fl_rounds_done - on (project, namespace, job) group_right flarekube_fl_site_last_round)"
        ' >= {value:siteMissingRounds} and on (project, namespace, job) flarekube_fl_job_phase{phase="running"} == 1',
        "siteMissingRoundsFor", "warning",
        f"Site {_lbl('site')} is missing from the rounds of job {_lbl('job')}",
        f"Site {_lbl('site')} has contributed to none of the last {{{{ $value }}}} rounds of job {_lbl('job')} "
        f"({_lbl('namespace')}/{_lbl('project')}).",
    ),
    Alert(
        "FlarekubeCertificateExpiring",
        "(flarekube_certificate_expiry_timestamp_seconds - time())"
        " < on (project, namespace) group_left flarekube_certificate_renewal_window_seconds"
        " unless on (project, namespace) flarekube_certificate_renewing == 1",
        "certificateExpiringFor", "warning",
        f"Certificate of {_lbl('participant')} ({_lbl('namespace')}/{_lbl('project')}) expires and is not renewed",
        f"The {_lbl('kind')} certificate of {_lbl('participant')} is inside its renewal window and has not been "
        "renewed for {value:certificateExpiringFor}; look at the FLProject's CertificatesValid condition.",
    ),
    Alert(
        "FlarekubeJobFailed", 'flarekube_job_phase{phase="Failed"} == 1', None, "warning",
        f"FLJob {_lbl('job')} failed",
        f"FLJob {_lbl('job')} of project {_lbl('project')} ended in phase Failed; `kubectl get flj -A | grep "
        f"{_lbl('job')}` finds it, `kubectl describe flj` shows why.",
    ),
    Alert(
        "FlarekubeReconcileErrors", "sum by (kind) (rate(flarekube_reconcile_errors_total[10m])) > 0.1",
        "reconcileErrorsFor", "info",
        f"The flarekube operator keeps failing to reconcile {_lbl('kind')} objects",
        f"More than one {_lbl('kind')} reconciliation error every 10 s for {{value:reconcileErrorsFor}}.",
    ),
)


def _fill(text: str, release: str, namespace: str, value: Callable[[str], str]) -> str:
    out = text.replace("{release}", release).replace("{namespace}", namespace)
    for key in DEFAULTS:
        out = out.replace(f"{{value:{key}}}", value(key))
    return out


def rules_file(release: str = "flarekube", namespace: str = "flarekube-system",
               values: Mapping[str, str | int] | None = None) -> dict[str, Any]:  # fmt: skip
    """The alerts as a Prometheus rule file, with the chart's defaults (or `values`)."""
    chosen = {**DEFAULTS, **(values or {})}

    def fill(text: str) -> str:
        return _fill(text, release, namespace, lambda key: str(chosen[key]))

    rules = []
    for a in ALERTS:
        rule: dict[str, Any] = {"alert": a.name, "expr": fill(a.expr)}
        if a.for_key:
            rule["for"] = str(chosen[a.for_key])
        rule["labels"] = {"severity": a.severity}
        rule["annotations"] = {"summary": fill(a.summary), "description": fill(a.description)}
        rules.append(rule)
    return {"groups": [{"name": GROUP, "rules": rules}]}


_PROMETHEUS_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def _helm_text(text: str) -> str:
    """A rule's text inside the Helm template: Prometheus' own {{ }} quoted for Helm, then chart values."""
    quoted = _PROMETHEUS_TEMPLATE.sub(lambda m: f'{{{{ "{m.group(0)}" }}}}', text)
    return _fill(quoted, '{{ include "flarekube.fullname" . }}', "{{ .Release.Namespace }}",
                 lambda key: f"{{{{ $rules.{key} }}}}")  # fmt: skip


HEADER = """\
{{- /* Generated by `make monitoring-generate` (flarekube/observability/alerts.py): do not edit. */ -}}
{{- if include "flarekube.prometheusOperator" . }}
{{- $rules := .Values.monitoring.prometheusRule }}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "flarekube.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "flarekube.labels" . | nindent 4 }}
    {{- with $rules.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    - name: flarekube
      rules:
"""


def helm_rule_template() -> str:
    """The chart's templates/prometheusrule.yaml."""
    lines = [HEADER.rstrip("\n")]
    for a in ALERTS:
        lines.append(f"        - alert: {a.name}")
        lines.append(f"          expr: {_quote(_helm_text(a.expr), 12)}")
        if a.for_key:
            lines.append(f"          for: {{{{ $rules.{a.for_key} }}}}")
        lines.append("          labels:")
        lines.append(f"            severity: {a.severity}")
        lines.append("          annotations:")
        lines.append(f"            summary: {_quote(_helm_text(a.summary), 14)}")
        lines.append(f"            description: {_quote(_helm_text(a.description), 14)}")
    lines.append("{{- end }}")
    return "\n".join(lines) + "\n"


def _quote(text: str, indent: int) -> str:
    """A folded YAML block: rule texts hold ": " and quotes, which a plain scalar cannot."""
    return ">-\n" + " " * indent + text
