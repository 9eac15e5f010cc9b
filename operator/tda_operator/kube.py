"""The operator's only access to the cluster: a few reads, and one write path (server-side apply).

Every call has a timeout. The operator reads no Secrets and no user data: those are the
worker pods' business, under their own ServiceAccount.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from tda_contract import API_VERSION, TDAJOB_KIND, TDAJOB_PLURAL, TDASTREAM_KIND, TDASTREAM_PLURAL

from .settings import FIELD_MANAGER, reconcile_workers

#: (connect, read) seconds for every call.
REQUEST_TIMEOUT = (5, 30)
#: Callers beside the reconcile threads: the resync, the TDAStream reconciler, leader election.
POOL_HEADROOM = 8

#: Resource (plural) of every kind the operator reads or writes.
PLURALS = {
    "Job": "jobs",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "Event": "events",
    TDAJOB_KIND: TDAJOB_PLURAL,
    TDASTREAM_KIND: TDASTREAM_PLURAL,
    "KafkaTopic": "kafkatopics",
    "FlinkDeployment": "flinkdeployments",
    "Lease": "leases",
}


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        kubernetes.config.load_incluster_config()
    else:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    configuration = kubernetes.client.Configuration.get_default_copy()
    # A connection per concurrent caller: a smaller pool drops connections under load and every
    # new one costs the API server a TLS handshake.
    configuration.connection_pool_maxsize = reconcile_workers() + POOL_HEADROOM
    return kubernetes.client.ApiClient(configuration)


def _path(obj: dict[str, Any], subresource: str = "") -> str:
    api_version, meta = obj["apiVersion"], obj["metadata"]
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{root}/namespaces/{meta['namespace']}/{PLURALS[obj['kind']]}/{meta['name']}{subresource}"


def _call(method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None,
          content_type: str = "application/json") -> Any:
    client = api_client()
    request = client.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = client.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    return json.loads(response.data) if response.data else None


def namespace_terminating(error: ApiException) -> bool:
    """The API server's refusal to create anything in a namespace that is being deleted."""
    if error.status != 403:
        return False
    try:
        causes = (json.loads(error.body or "{}").get("details") or {}).get("causes") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(c, dict) and c.get("type") == "NamespaceTerminating" for c in causes)


def apply(obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    """Server-side apply as field manager ``tda-operator`` (force: the operator owns these fields)."""
    result: dict[str, Any] = _call(
        "PATCH",
        _path(obj, subresource),
        body=obj,
        query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        content_type="application/apply-patch+yaml",
    )
    return result


def apply_status(namespace: str, name: str, resource_version: str, status: dict[str, Any],
                 kind: str = TDAJOB_KIND) -> dict[str, Any]:
    """Write a TDAJob's (or TDAStream's) status, only over the version it was computed from (409 otherwise)."""
    body = {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": resource_version},
        "status": status,
    }
    return apply(body, "/status")


def write_lease(lease: dict[str, Any], create: bool) -> dict[str, Any]:
    """Create the leader-election Lease, or replace it over the version read (409 when it moved on)."""
    if create:
        meta = lease["metadata"]
        path = f"/apis/{lease['apiVersion']}/namespaces/{meta['namespace']}/leases"
        result: dict[str, Any] = _call("POST", path, body=lease)
    else:
        result = _call("PUT", _path(lease), body=lease)
    return result


def get(api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = _call(
            "GET", _path({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace, "name": name}})
        )
        return result
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def list_config_maps(namespace: str, label_selector: str) -> list[dict[str, Any]]:
    result = _call("GET", f"/api/v1/namespaces/{namespace}/configmaps", query=[("labelSelector", label_selector)])
    return list((result or {}).get("items") or [])


def served_versions(group: str) -> list[str]:
    """The versions of an API group the cluster serves (discovery); [] when it serves none."""
    try:
        result = _call("GET", f"/apis/{group}")
    except ApiException as error:
        if error.status == 404:
            return []
        raise
    return [str(v.get("version")) for v in (result or {}).get("versions") or []]


def create_event(event: dict[str, Any]) -> None:
    _call("POST", f"/api/v1/namespaces/{event['metadata']['namespace']}/events", body=event)
