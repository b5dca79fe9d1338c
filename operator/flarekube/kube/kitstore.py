"""`SecretKitStore`: the provisioning Store protocol on Kubernetes Secrets.

The root CA is one Secret with a finalizer; each participant's kit is one immutable Secret, labelled
and owned by the FLProject. All state lives in these Secrets, so an operator killed at any line finds
what was stored and issues only what is missing (see provisioning/kits.py for the order of writes).

One instance serves one reconcile: kit Secrets are listed once (one LIST, not one GET per kit) and the
cache follows this instance's own writes.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flarekube import naming
from flarekube.builders import secrets as build
from flarekube.builders.common import Obj, Owner
from flarekube.kube import apply as k
from flarekube.provisioning.codec import KIT_MANIFEST

log = logging.getLogger(__name__)
Blobs = Mapping[str, bytes]


def decode(secret: Obj) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


def _kind(blobs: Blobs) -> str:
    try:
        return str(json.loads(blobs[KIT_MANIFEST])["issued_for"]["kind"])
    except (KeyError, ValueError, TypeError):
        return "unknown"


class SecretKitStore:
    def __init__(self, api: client.ApiClient, owner: Owner, project: str,
                 fault: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.api = api
        self.owner = owner
        self.namespace = owner.namespace
        self.project = project  # the FLProject's metadata.name
        self._fault = fault or (lambda point: None)
        self._kits: dict[str, Obj] | None = None

    # -- the CA -----------------------------------------------------------------------------------
    def get_ca(self) -> Blobs | None:
        secret = k.get(self.api, "Secret", self.namespace, naming.ca_secret(self.project))
        return decode(secret) if secret is not None else None

    def put_ca(self, blobs: Blobs, *, replace: bool) -> None:
        wanted = build.ca_secret(self.project, blobs, self.owner)
        if replace:
            # Only reached when a new root CA was asked for (the planner refuses otherwise).
            self.release_ca()
        self._create(wanted)
        self._fault("after-ca-secret")

    def release_ca(self) -> None:
        """Drop the CA's finalizer and delete it (the project is being deleted, or a new CA was asked for)."""
        name = naming.ca_secret(self.project)
        try:
            k.merge_patch(self.api, "Secret", self.namespace, name, {"metadata": {"finalizers": None}})
        except ApiException as err:
            if err.status != 404:
                raise
        k.delete(self.api, "Secret", self.namespace, name)

    # -- the ledger ---------------------------------------------------------------------------------
    def get_ledger(self) -> Blobs | None:
        secret = k.get(self.api, "Secret", self.namespace, naming.ledger_secret(self.project))
        return decode(secret) if secret is not None else None

    def put_ledger(self, blobs: Blobs) -> None:
        k.apply(self.api, build.ledger_secret(self.project, blobs, self.owner))
        self._fault("after-ledger-secret")

    # -- kits -------------------------------------------------------------------------------------
    def _load(self) -> dict[str, Obj]:
        if self._kits is None:
            labels = naming.project_labels(self.project) | {naming.LABEL_COMPONENT: naming.COMPONENT_KIT}
            self._kits = {}
            for secret in k.list_objects(self.api, "Secret", self.namespace, naming.selector(labels)):
                meta = secret.get("metadata") or {}
                if meta.get("deletionTimestamp"):
                    continue  # being deleted: as good as gone
                participant = (meta.get("annotations") or {}).get(naming.ANNOTATION_PARTICIPANT)
                if not participant:
                    continue
                # Matched by name, not by labels alone. Threat: a namespace user who may create Secrets
                # adds one with a kit's labels and annotation, and the operator mounts it into a pod.
                if meta.get("name") != naming.kit_secret(self.project, participant):
                    log.warning("ignoring Secret %s/%s: it claims to be the kit of %s but is not named %s",
                                self.namespace, meta.get("name"), participant,
                                naming.kit_secret(self.project, participant))  # fmt: skip
                    continue
                self._kits[participant] = secret
        return self._kits

    def kit_names(self) -> frozenset[str]:
        return frozenset(self._load())

    def kit_secret(self, name: str) -> Obj:
        return self._load()[name]

    def get_kit(self, name: str) -> Blobs:
        return decode(self._load()[name])

    def put_kit(self, name: str, blobs: Blobs, *, replace: bool) -> None:
        wanted = build.kit_secret(self.project, name, _kind(blobs), blobs, self.owner)
        kits = self._load()
        if replace:
            # Immutable: replacing is delete + create (a crash in between leaves the kit absent, which
            # the planner treats as missing -- never as a half-written kit).
            old = kits.pop(name, None)
            if old is not None:
                k.delete(self.api, "Secret", self.namespace, old["metadata"]["name"],
                         precondition_uid=old["metadata"]["uid"])  # fmt: skip
        kits[name] = self._create(wanted)
        log.info("stored kit Secret %s", wanted["metadata"]["name"])
        self._fault("after-kit-secret")

    def _create(self, obj: Obj) -> Obj:
        """Create, never overwrite: 409 means someone else stored it first (FileExistsError, per Store)."""
        try:
            return k.create(self.api, obj)
        except ApiException as err:
            if err.status == 409:
                raise FileExistsError(f"Secret {self.namespace}/{obj['metadata']['name']} already exists") from None
            raise

    def delete_kit(self, name: str) -> None:
        secret = self._load().pop(name, None)
        target = secret["metadata"]["name"] if secret else naming.kit_secret(self.project, name)
        k.delete(self.api, "Secret", self.namespace, target)
