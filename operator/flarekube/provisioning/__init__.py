"""Startup kits issued with NVFlare's own provisioner, kept in a store that never regenerates them.

Usage::

    inputs = ProvisioningInputs(...)                # what the kits are for (mapped from the FLProject spec)
    report = ensure_kits(inputs, LocalKitStore(p))  # issue only what is missing; refuse risky changes
    materialize(store, "site-1", workspace)         # a runnable 0700 NVFlare workspace
"""

from .codec import KitFile, decode_kit, encode_kit, kit_layout
from .inputs import AdminIdentity, CertPolicy, ClientIdentity, ProvisioningInputs, ServerIdentity
from .issue import ProvisioningError, issue_kits
from .kits import KitReport, ensure_kits, load_state, materialize, write_kit
from .model import CAState, CorruptState, IssuedFor, Kit, KitStoreRefusal, StoredState
from .plan import NEW_ROOT_CA_FLAG, REISSUE_KITS_FLAG, KitPlan, PlannedKit, new_root_message, plan
from .store import LocalKitStore, Store

__all__ = [
    "NEW_ROOT_CA_FLAG",
    "REISSUE_KITS_FLAG",
    "AdminIdentity",
    "CAState",
    "CertPolicy",
    "ClientIdentity",
    "CorruptState",
    "IssuedFor",
    "Kit",
    "KitFile",
    "KitPlan",
    "KitReport",
    "KitStoreRefusal",
    "LocalKitStore",
    "PlannedKit",
    "ProvisioningError",
    "ProvisioningInputs",
    "ServerIdentity",
    "Store",
    "StoredState",
    "decode_kit",
    "encode_kit",
    "ensure_kits",
    "issue_kits",
    "kit_layout",
    "load_state",
    "materialize",
    "new_root_message",
    "plan",
    "write_kit",
]
