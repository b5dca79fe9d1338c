"""Server-side apply of built objects (plain dicts), and the REST paths they live at.

Server-side apply makes "apply what was built" idempotent: an unchanged object is a no-op on the API
server (its resourceVersion does not move), and fields other managers own (e.g. kubectl scale) are
left alone unless flarekube built them.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from flarekube.naming import FIELD_MANAGER

Obj = dict[str, Any]

# Threat: an API server that accepts a connection and never answers would hang a reconcile thread for
# good (kopf has 8 of them). Every call is bounded: (connect, read) seconds.
REQUEST_TIMEOUT = (5.0, 30.0)

# kind -> (API prefix, plural); everything flarekube builds is namespaced.
KINDS: dict[str, tuple[str, str]] = {
    "Secret": ("/api/v1", "secrets"),
    "Service": ("/api/v1", "services"),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Pod": ("/api/v1", "pods"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "FLProject": ("/apis/flarekube.io/v1alpha1", "flprojects"),
    "FLJob": ("/apis/flarekube.io/v1alpha1", "fljobs"),
}


def path(kind: str, namespace: str, name: str | None = None) -> str:
    prefix, plural = KINDS[kind]
    base = f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{base}/{name}" if name else base


def call(api: client.ApiClient, method: str, url: str, body: Any = None, content_type: str | None = None,
         query: list[tuple[str, Any]] | None = None) -> Obj:  # fmt: skip
    """One REST call through the client's auth and connection pool; non-2xx raises ApiException."""
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    if body is not None and content_type and "yaml" in content_type:
        body = json.dumps(body)  # JSON is YAML: sent as text so no serializer second-guesses the type
    method_, url_, headers_, body_, post_ = api.param_serialize(
        method=method, resource_path=url, query_params=query or [], header_params=headers, body=body,
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api.call_api(method_, url_, header_params=headers_, body=body_, post_params=post_,
                            _request_timeout=REQUEST_TIMEOUT)  # fmt: skip
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    data: Any = json.loads(response.data) if response.data else {}
    return data if isinstance(data, dict) else {}


def apply(api: client.ApiClient, obj: Obj, force: bool = True) -> Obj:
    """Create or update `obj` with server-side apply; returns the object as stored."""
    meta = obj["metadata"]
    url = path(obj["kind"], meta["namespace"], meta["name"])
    query = [("fieldManager", FIELD_MANAGER), ("force", "true" if force else "false")]
    return call(api, "PATCH", url, obj, "application/apply-patch+yaml", query)


def get(api: client.ApiClient, kind: str, namespace: str, name: str) -> Obj | None:
    try:
        return call(api, "GET", path(kind, namespace, name))
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def list_objects(api: client.ApiClient, kind: str, namespace: str, selector: str) -> list[Obj]:
    data = call(api, "GET", path(kind, namespace), query=[("labelSelector", selector)])
    items = data.get("items") or []
    return [i for i in items if isinstance(i, dict)]


def create(api: client.ApiClient, obj: Obj) -> Obj:
    meta = obj["metadata"]
    return call(api, "POST", path(obj["kind"], meta["namespace"]), obj, "application/json")


def delete(api: client.ApiClient, kind: str, namespace: str, name: str, *, precondition_uid: str | None = None) -> bool:
    """Delete; False when it was already gone. A uid precondition avoids deleting a re-created object."""
    body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    if precondition_uid:
        body["preconditions"] = {"uid": precondition_uid}
    try:
        call(api, "DELETE", path(kind, namespace, name), body, "application/json")
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def merge_patch(api: client.ApiClient, kind: str, namespace: str, name: str, patch: Obj,
                subresource: str | None = None) -> Obj:  # fmt: skip
    url = path(kind, namespace, name) + (f"/{subresource}" if subresource else "")
    return call(api, "PATCH", url, patch, "application/merge-patch+json")


Api = client.ApiClient  # what the controllers pass around without importing the kubernetes client
