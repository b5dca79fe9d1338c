"""`flarekube operator`: kopf with flarekube's handlers, a liveness endpoint, metrics and JSON logs."""

from __future__ import annotations

import logging
from collections.abc import Sequence


def run(
    namespaces: Sequence[str],
    all_namespaces: bool,
    liveness: str | None,
    metrics_port: int | None,
    log_format: str,
    verbose: bool = False,
) -> None:
    import kopf

    import flarekube.handlers  # noqa: F401  (importing registers the handlers)
    from flarekube import metrics

    fmt = kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.PLAIN
    kopf.configure(verbose=verbose, log_format=fmt)
    logging.getLogger("nvflare").setLevel(logging.WARNING)  # NVFlare's admin client is chatty at INFO
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per probe otherwise
    if metrics_port:
        metrics.serve(metrics_port)
    # standalone: one operator per cluster (the chart's Deployment is Recreate, 1 replica), no peering CRD.
    kopf.run(
        standalone=True,
        clusterwide=all_namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=liveness,
    )
