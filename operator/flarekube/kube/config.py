"""An ApiClient for the operator: in-cluster when in a pod, else the kubeconfig (KUBECONFIG or default)."""

from __future__ import annotations

import functools

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

__all__ = ["ApiException", "api_client", "shared"]


def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


@functools.lru_cache(maxsize=1)
def shared() -> client.ApiClient:
    """One client (and connection pool) for every handler thread; the client is thread-safe for calls."""
    return api_client()
