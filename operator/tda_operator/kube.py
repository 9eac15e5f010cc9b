"""The operator's only access to the cluster: reads, and one write path (server-side apply)."""

from __future__ import annotations

import fnmatch
import functools
import json
import os
from typing import Any
from urllib.parse import urlparse

import kubernetes
from kubernetes.client.exceptions import ApiException

from .models import GROUP, VERSION
from .settings import FIELD_MANAGER

_PATHS = {
    ("v1", "ConfigMap"): "/api/v1/namespaces/{namespace}/configmaps/{name}",
    ("batch/v1", "Job"): "/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
    ("v1", "ServiceAccount"): "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
    ("rbac.authorization.k8s.io/v1", "Role"): "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/{name}",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"):
        "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/{name}",
    (f"{GROUP}/{VERSION}", "TDAJob"): f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/tdajobs/{{name}}",
}


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        kubernetes.config.load_incluster_config()
    else:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    configuration = kubernetes.client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = 32
    return kubernetes.client.ApiClient(configuration)


def _path(obj: dict[str, Any], subresource: str = "") -> str:
    template = _PATHS[(obj["apiVersion"], obj["kind"])]
    meta = obj["metadata"]
    return template.format(namespace=meta["namespace"], name=meta["name"]) + subresource


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
    response = client.call_api(*request)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    return json.loads(response.data) if response.data else None


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


def apply_status(tdajob_ref: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TDAJob",
        "metadata": {"name": tdajob_ref["name"], "namespace": tdajob_ref["namespace"]},
        "status": status,
    }
    return apply(body, "/status")


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


def delete_job(namespace: str, name: str, uid: str | None = None) -> None:
    """Delete a Job and (in the background) its pods; a no-op when already gone."""
    body: dict[str, Any] = {"propagationPolicy": "Background"}
    if uid:
        body["preconditions"] = {"uid": uid}
    try:
        _call("DELETE", _PATHS[("batch/v1", "Job")].format(namespace=namespace, name=name), body=body)
    except ApiException as error:
        if error.status not in (404, 409):
            raise


def job_pods(namespace: str, job_uid: str) -> list[dict[str, Any]]:
    """Pods of this very Job (by uid: a re-created Job of the same name has other pods)."""
    result = _call(
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        query=[("labelSelector", f"batch.kubernetes.io/controller-uid={job_uid}")],
    )
    return list(result.get("items") or [])


def secret_data(namespace: str, name: str) -> dict[str, str]:
    import base64

    try:
        secret = _call("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except ApiException as error:
        if error.status == 404:
            raise LookupError(f"spec.input.credentialsSecret: Secret {namespace}/{name} not found") from error
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def list_object_keys(url_prefix: str, pattern: str, credentials: dict[str, str]) -> list[str]:
    """Names (relative to the prefix) under an s3:// prefix or in an https:// index page."""
    parsed = urlparse(url_prefix)
    if parsed.scheme == "s3":
        return _list_s3(parsed.netloc, parsed.path.lstrip("/"), credentials)
    if parsed.scheme in ("http", "https"):
        return _list_http_index(url_prefix, pattern)
    raise ValueError(f"spec.input.datasets.urlPrefix: cannot list {parsed.scheme}:// prefixes")


def _list_s3(bucket: str, prefix: str, credentials: dict[str, str]) -> list[str]:
    import boto3

    if prefix and not prefix.endswith("/"):
        prefix += "/"
    client = boto3.client(
        "s3",
        aws_access_key_id=credentials.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=credentials.get("AWS_SECRET_ACCESS_KEY"),
        endpoint_url=credentials.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL"),
        region_name=credentials.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"][len(prefix):] for item in page.get("Contents") or [])
    return keys


def _list_http_index(url_prefix: str, pattern: str) -> list[str]:
    """Links of an index page (a web server's directory listing) that match the pattern."""
    import re
    import urllib.request

    with urllib.request.urlopen(url_prefix, timeout=30) as response:  # noqa: S310 (user-chosen URL)
        page = response.read(8 * 1024**2).decode(errors="replace")
    links = {link for link in re.findall(r'href="([^"?#]+)"', page) if "/" not in link.rstrip("/")}
    return sorted(link for link in links if fnmatch.fnmatch(link, pattern))
