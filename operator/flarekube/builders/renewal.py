"""Which due certificate renewals happen now and which wait: a rolling renewal. Pure: no I/O, no clock.

A renewal rolls the participant's pod (a fresh key means a new kit), so it is a planned outage:
- the server's certificate renews only while no job runs: restarting it would end every running job;
- sites renew one at a time, and only as each running job's fault tolerance allows that site to be
  missing (the job keeps `faultTolerance.minResponses`, or `minSites`, of its sites connected);
- a certificate that has already expired renews at once: its participant is locked out anyway;
- admins (the operator's identity) have no pod and renew whenever due.
The order among sites is the earliest expiry first (then the name), so the next to expire is never the
one left waiting. What waits is kept as it is and retried on the next reconcile; the status says why.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunningJob:
    name: str
    sites: frozenset[str]  # the sites the job runs on
    needed: int  # results a round needs: faultTolerance.minResponses, else minSites


@dataclass(frozen=True)
class RenewalDecision:
    renew: tuple[str, ...] = ()
    waiting: Mapping[str, str] = field(default_factory=dict)  # participant -> why its renewal waits

    @property
    def hold(self) -> frozenset[str]:
        """What ensure_kits must keep for now (its ``hold``)."""
        return frozenset(self.waiting)


def schedule(
    due: Mapping[str, datetime.datetime],
    *,
    server: str,
    sites: Collection[str],
    connected: Collection[str],
    jobs: Sequence[RunningJob],
    now: datetime.datetime,
) -> RenewalDecision:
    """Split the due renewals (participant -> its certificate's notAfter) into renew-now and waiting."""
    renew: list[str] = []
    waiting: dict[str, str] = {}
    running = ", ".join(sorted(j.name for j in jobs))
    if server in due:
        if due[server] <= now or not jobs:
            renew.append(server)
        else:
            waiting[server] = f"waits for the running job(s) {running}: renewing restarts the server"
    site_set = set(sites)
    online = set(connected)
    rolling: str | None = None
    for name in sorted((n for n in due if n in site_set), key=lambda n: (due[n], n)):
        if due[name] <= now:
            renew.append(name)  # expired: locked out already, nothing to protect
            continue
        if rolling is not None:
            waiting[name] = f"one site at a time: {rolling} renews first"
            continue
        blocked = _blocking_job(name, jobs, online)
        if blocked is not None:
            waiting[name] = (
                f"job {blocked.name} needs {blocked.needed} of its sites connected and would have fewer "
                f"without {name} (faultTolerance.minResponses)"
            )
            continue
        renew.append(name)
        rolling = name
    renew += sorted(n for n in due if n != server and n not in site_set)  # admins: no pod to roll
    return RenewalDecision(tuple(renew), waiting)


def _blocking_job(site: str, jobs: Sequence[RunningJob], online: set[str]) -> RunningJob | None:
    """The first running job that could not spare ``site`` now (sites already missing count against it)."""
    for job in sorted(jobs, key=lambda j: j.name):
        if site not in job.sites or site not in online:
            continue  # not in the job, or missing already: rolling it costs the job nothing more
        if len(job.sites & online) - 1 < job.needed:
            return job
    return None
