"""Conditions as Kubernetes writes them, and the merge that keeps lastTransitionTime honest.

A check returns (type, status, reason, message); `merge` stamps lastTransitionTime only when a
condition's status flips, so writing the same status twice changes nothing (and is not written).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

S = TypeVar("S")
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == TRUE


Check = Callable[[S], Condition]


def run_chain(snapshot: S, checks: Sequence[Check[S]]) -> list[Condition]:
    """Each check in order; once one is not True the later ones report Unknown, waiting on it."""
    out: list[Condition] = []
    blocked: Condition | None = None
    for check in checks:
        cond = check(snapshot)
        if blocked is not None and not cond.ok:
            # A later check cannot be judged while an earlier one fails (no sites connect without a server).
            cond = Condition(cond.type, UNKNOWN, cond.reason, cond.message or f"waiting for {blocked.type}")
        out.append(cond)
        if blocked is None and not cond.ok:
            blocked = cond
    return out


def ready(conditions: Iterable[Condition], type_: str = "Ready") -> Condition:
    """Ready is True when every other condition is; otherwise it names the first that is not."""
    for cond in conditions:
        if not cond.ok:
            return Condition(type_, FALSE, cond.reason, f"{cond.type}: {cond.message}".rstrip(": "))
    return Condition(type_, TRUE, "AllConditionsMet", "")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    previous: Iterable[Mapping[str, Any]] | None,
    conditions: Iterable[Condition],
    generation: int,
    now: str | None = None,
) -> list[dict[str, Any]]:
    before = {str(c.get("type")): c for c in (previous or []) if isinstance(c, Mapping)}
    out = []
    for cond in conditions:
        old = before.get(cond.type)
        since = str(old.get("lastTransitionTime")) if old is not None and old.get("status") == cond.status else None
        out.append({
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": cond.message,
            "observedGeneration": generation,
            "lastTransitionTime": since or now or now_rfc3339(),
        })  # fmt: skip
    return out


def without_times(status: Mapping[str, Any]) -> dict[str, Any]:
    """A status compared without timestamps: the operator writes only when this differs."""
    out = dict(status)
    out["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions", []) or []
    ]
    return out


def transitions(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(reason, message) for each condition whose status changed, and for a new phase: Event material."""
    before = before or {}
    old = {c.get("type"): c.get("status") for c in before.get("conditions") or []}
    out = []
    if before.get("phase") != after.get("phase"):
        out.append(("Phase", f"phase {after.get('phase')}"))
    for cond in after.get("conditions") or []:
        if old.get(cond["type"]) != cond["status"]:
            text = f"{cond['type']}={cond['status']} ({cond['reason']})"
            out.append((str(cond["reason"]), f"{text}: {cond['message']}" if cond.get("message") else text))
    return out


def clean(value: Any) -> Any:
    """Drop None values recursively: the API server drops (or rejects) nulls, so a status holding them
    would never compare equal to the stored one and would be re-written on every poll."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value
