"""Conditions (`api.status.Condition`, the one class), their ordered chains, and the merge that keeps
lastTransitionTime honest.

A check returns a Condition; `run_chain` runs the checks in order (cert-manager style: once one is not
True, later ones wait on it); `merge` stamps lastTransitionTime only when a condition's status flips, so
writing the same status twice changes nothing (and is not written).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from flarekube.api.status import Condition, ConditionStatus, StatusModel

S = TypeVar("S")
TRUE: ConditionStatus = "True"
FALSE: ConditionStatus = "False"
UNKNOWN: ConditionStatus = "Unknown"

Check = Callable[[S], Condition]

# Reasons that mean "a person must look": a condition turning False with one of these posts a Warning.
# A condition that was True and is not any more (a lost site, a server gone) is a Warning whatever its
# reason; a fresh object's conditions starting False (kits not issued yet) are Normal progress.
PROBLEM_REASONS = frozenset({"InvalidSpec", "KitsRefused", "AdminSessionFailed", "SubmitFailed", "Failed",
                             "Aborted"})  # fmt: skip
PROBLEM_PHASES = frozenset({"Failed", "Degraded", "Aborted"})
MAX_MESSAGE = 32768


def condition(type_: str, status: ConditionStatus, reason: str, message: str = "") -> Condition:
    # Bounded like metav1.Condition: a long spec error must still make a valid status.
    return Condition(type=type_, status=status, reason=reason[:1024], message=message[:MAX_MESSAGE])


def run_chain(snapshot: S, checks: Sequence[Check[S]]) -> list[Condition]:
    """Each check in order; once one is not True the later ones report Unknown, waiting on it."""
    out: list[Condition] = []
    blocked: Condition | None = None
    for check in checks:
        cond = check(snapshot)
        if blocked is not None and not cond.ok:
            # A later check cannot be judged while an earlier one fails (no sites connect without a server).
            cond = condition(cond.type, UNKNOWN, str(cond.reason), cond.message or f"waiting for {blocked.type}")
        out.append(cond)
        if blocked is None and not cond.ok:
            blocked = cond
    return out


def ready(conditions: Iterable[Condition], type_: str = "Ready") -> Condition:
    """Ready is True when every other condition is; otherwise it names the first that is not."""
    for cond in conditions:
        if not cond.ok:
            return condition(type_, FALSE, str(cond.reason), f"{cond.type}: {cond.message}".rstrip(": "))
    return condition(type_, TRUE, "AllConditionsMet", "")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    previous: Iterable[Condition] | None,
    conditions: Iterable[Condition],
    generation: int,
    now: str | None = None,
) -> list[Condition]:
    before = {c.type: c for c in (previous or [])}
    out = []
    for cond in conditions:
        old = before.get(cond.type)
        since = old.last_transition_time if old is not None and old.status == cond.status else None
        out.append(cond.model_copy(update={"observed_generation": generation,
                                           "last_transition_time": since or now or now_rfc3339()}))  # fmt: skip
    return out


def without_times(status: StatusModel | dict[str, Any]) -> dict[str, Any]:
    """A status compared without timestamps: the operator writes only when this differs."""
    out = dict(status.wire() if isinstance(status, StatusModel) else status)
    out["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in out.get("conditions", []) or []
    ]
    return out


@dataclass(frozen=True)
class Transition:
    """What an Event says about one change: Kubernetes' Event type, a reason and a message."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def transitions(before: StatusModel | None, after: StatusModel) -> list[Transition]:
    """One Transition for a new phase and for each condition whose status changed: Event material."""
    before_conditions: list[Condition] = list(getattr(before, "conditions", None) or [])
    old = {c.type: c.status for c in before_conditions}
    out = []
    phase = getattr(after, "phase", None)
    if getattr(before, "phase", None) != phase:
        out.append(Transition("Warning" if phase in PROBLEM_PHASES else "Normal", "Phase", f"phase {phase}"))
    for cond in getattr(after, "conditions", None) or []:
        if old.get(cond.type) == cond.status:
            continue
        lost = old.get(cond.type) == TRUE and cond.status == FALSE
        warning = cond.status == FALSE and (lost or cond.reason in PROBLEM_REASONS)
        text = f"{cond.type}={cond.status} ({cond.reason})"
        out.append(Transition("Warning" if warning else "Normal", str(cond.reason),
                              f"{text}: {cond.message}" if cond.message else text))  # fmt: skip
    return out
