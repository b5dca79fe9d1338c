"""Which kits to issue, keep and remove — or why not. Pure: no NVFlare, no I/O, no key material read.

Two kinds of change are never made silently, because NVFlare has no certificate revocation:
- a NEW root CA (project rename, CA state lost or corrupt, root expired): every site's kit stops working
  and each hospital must install a new one  -> allowed only with ``new_root_ca`` (``--new-root-ca``);
- a re-issued kit under the SAME root (server name changed, a participant's org or role changed, a
  stored kit unreadable or signed by another root): the old kit stays valid until it expires and the site
  must install the new one -> allowed only with ``reissue_kits`` (``--reissue-kits``).
Adding a participant issues only its kit; removing one deletes only its kit.

A port change is no change to any kit: ports are configuration (builders/connection.py renders the
connection files over the kit's copies), so the kit is kept and listed in ``reconfigure`` ("config
re-rendered, nothing re-issued").

Renewal is the one re-issue made without a flag (cert-manager's ``renewBefore``): a kit whose certificate
expires within ``inputs.certs.renew_before_days`` of ``now`` is re-issued with a fresh key under the same
root; the ledger then marks the old certificate superseded. Nothing else is touched.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection
from dataclasses import dataclass

from .inputs import ProvisioningInputs
from .ledger import READMIT_FLAG
from .model import IssuedFor, StoredState, wanted_records

NEW_ROOT_CA_FLAG = "--new-root-ca"
REISSUE_KITS_FLAG = "--reissue-kits"


@dataclass(frozen=True)
class PlannedKit:
    record: IssuedFor
    reason: str  # e.g. "new participant", "server_name 'a' -> 'b'"


@dataclass(frozen=True)
class KitPlan:
    create_root_ca: bool
    issue: tuple[PlannedKit, ...]
    keep: tuple[str, ...]
    remove: tuple[str, ...]
    refusal: str | None = None  # set -> nothing may be changed; the text says why and which flag allows it
    renew: tuple[str, ...] = ()  # the subset of ``issue`` that are renewals (same record, cert expiring)
    # kept kits whose rendered config differs from the kit's own copies (ports): nothing re-issued for them
    reconfigure: tuple[PlannedKit, ...] = ()

    @property
    def changes_nothing(self) -> bool:
        return not (self.create_root_ca or self.issue or self.remove)


def plan(
    inputs: ProvisioningInputs,
    stored: StoredState,
    *,
    reissue_kits: bool = False,
    new_root_ca: bool = False,
    now: datetime.datetime | None = None,
    readmit_revoked: bool = False,
    hold: Collection[str] = (),
) -> KitPlan:
    """Decide what ``ensure_kits`` would do. ``new_root_ca`` permits (never forces) a new root, and implies
    ``reissue_kits`` since every kit must then be re-issued anyway. A participant revoked for good is
    refused a new kit unless ``readmit_revoked``; a due renewal of a participant in ``hold`` waits (kept)."""
    wanted = wanted_records(inputs)
    remove = tuple(sorted(set(stored.kits) - set(wanted)))
    now = now or datetime.datetime.now(datetime.timezone.utc)

    why_new_root = _why_new_root(inputs, stored, now)
    if why_new_root:
        if not new_root_ca:
            return _refused(new_root_message(why_new_root, sorted(stored.kits)))
        issue = tuple(PlannedKit(r, "new root CA") for r in wanted.values())
        return KitPlan(True, issue, (), remove)

    if stored.ca is None:  # first provisioning: nothing stored, nothing to lose
        issue = tuple(PlannedKit(r, "new participant") for r in wanted.values())
        return KitPlan(True, issue, (), remove)

    root = stored.ca.fingerprint
    issue_new: list[PlannedKit] = []
    changed: list[PlannedKit] = []
    renew: list[PlannedKit] = []
    keep: list[str] = []
    reconfigure: list[PlannedKit] = []
    window = datetime.timedelta(days=inputs.certs.renew_before_days)
    readmitted = [n for n in wanted if n not in stored.kits and n in stored.revoked]
    if readmitted and not readmit_revoked:
        return _refused(_revoked_message(readmitted))
    for name, want in wanted.items():
        if name not in stored.kits:
            why = "readmitted after revocation" if name in stored.revoked else "new participant"
            issue_new.append(PlannedKit(want, why))
            continue
        have = stored.kits[name]
        if have is None:
            changed.append(PlannedKit(want, "stored kit is unreadable"))
        elif have[1] != root:
            changed.append(PlannedKit(want, "stored kit trusts a different root CA than the stored one"))
        elif have[0].identity_differences(want):
            changed.append(PlannedKit(want, ", ".join(have[0].identity_differences(want))))
        elif name in stored.expires and stored.expires[name] - window <= now and name not in hold:
            expiry = stored.expires[name].isoformat()
            renew.append(PlannedKit(want, f"renewal: certificate expires {expiry} (renewBefore {window.days}d)"))
        else:
            keep.append(name)
            if have[0].config_differences(want):
                reason = ", ".join(have[0].config_differences(want))
                reconfigure.append(PlannedKit(want, f"{reason}: config re-rendered, nothing re-issued"))

    if changed and not (reissue_kits or new_root_ca):
        return _refused(_reissue_message(changed))
    issue = tuple(issue_new + changed + renew)
    return KitPlan(False, issue, tuple(keep), remove, renew=tuple(p.record.name for p in renew),
                   reconfigure=tuple(reconfigure))  # fmt: skip


def _why_new_root(inputs: ProvisioningInputs, stored: StoredState, now: datetime.datetime) -> list[str]:
    if stored.ca is None:
        if stored.ca_error:  # something was stored: replacing it is never silent, kits or not
            return [f"the stored root CA state is unusable ({stored.ca_error})"]
        if stored.kits:
            return [f"the root CA state is missing, but {len(stored.kits)} issued kit(s) exist"]
        return []
    reasons = []
    if stored.ca.project != inputs.project:
        reasons.append(
            f"the project was renamed from {stored.ca.project!r} to {inputs.project!r}; "
            "the root CA is named after the project"
        )
    expiry = stored.ca.not_after
    if expiry <= now:
        reasons.append(f"the root CA expired at {expiry.isoformat()}")
    return reasons


def new_root_message(reasons: list[str], issued: list[str]) -> str:
    """The one explanation of a refused new root CA (the planner's and the local workspace guard's)."""
    sites = ", ".join(issued) or "none"
    return (
        "Refusing to create a new root CA: " + "; ".join(reasons) + ".\n"
        "A new root CA invalidates EVERY issued startup kit: the server and every site and admin "
        f"(currently issued: {sites}) would be locked out until each installs a newly issued kit.\n"
        f"If that is what you want, run again with {NEW_ROOT_CA_FLAG}. Otherwise restore the original "
        "CA state (and project name) and nothing will be re-issued."
    )


def _reissue_message(changed: list[PlannedKit]) -> str:
    lines = "\n".join(f"  - {p.record.name} ({p.record.kind}): {p.reason}" for p in changed)
    return (
        f"Refusing to re-issue {len(changed)} existing startup kit(s) without being asked:\n{lines}\n"
        "The new kits are signed by the same root CA, but each affected participant must install its new "
        "kit, and the old kits stay valid until they expire (NVFlare has no revocation).\n"
        f"If that is what you want, run again with {REISSUE_KITS_FLAG}; otherwise revert the change."
    )


def _revoked_message(names: list[str]) -> str:
    return (
        f"Refusing to issue a kit for {', '.join(names)}: revoked for good (`flarekube site revoke`); its old "
        "certificates stay refused by the server.\n"
        f"Remove it from the FLProject, or admit it again with a new certificate: `flarekube kits {READMIT_FLAG}`."
    )


def _refused(message: str) -> KitPlan:
    return KitPlan(False, (), (), (), refusal=message)
