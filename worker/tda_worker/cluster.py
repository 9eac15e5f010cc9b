"""The worker's API calls, made with the pod's own ServiceAccount token.

The worker reads its TDAJob and (when named) its credentials Secret, and creates the
ConfigMaps of its run. Nothing else: RBAC and the platform's admission policy refuse
anything more (no updates, no other TDAJob's names).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from tda_contract import API_VERSION, TDAJOB_PLURAL

from .formats import InvalidInput, TransientError

#: (connect, read) seconds for every call.
REQUEST_TIMEOUT = (10, 60)


class PlatformError(Exception):
    """The platform refused the worker (RBAC, admission): neither the input nor transient."""


class Cluster:
    def __init__(self) -> None:
        from kubernetes import client, config

        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config()
        else:  # a worker run by hand against a cluster
            config.load_kube_config()
        self._client = client.ApiClient()

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        request = self._client.param_serialize(
            method, path, header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body, auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            response.read()
        except (HTTPError, OSError):
            raise TransientError("the API server could not be reached; the index is retried") from None
        if response.status >= 500 or response.status == 429:
            raise TransientError(f"the API server answered HTTP {response.status}; the index is retried")
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)
        return json.loads(response.data) if response.data else None

    def _status_of(self, error: Exception) -> int:
        return int(getattr(error, "status", 0) or 0)

    def tdajob(self, namespace: str, name: str) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            path = f"/apis/{API_VERSION}/namespaces/{namespace}/{TDAJOB_PLURAL}/{name}"
            result: dict[str, Any] = self._call("GET", path)
        except ApiException as error:
            if self._status_of(error) == 404:
                raise PlatformError("the TDAJob is gone; nothing to compute") from None
            raise PlatformError(f"reading the TDAJob was refused (HTTP {self._status_of(error)})") from None
        return result

    def secret(self, namespace: str, name: str, service_account: str) -> dict[str, str]:
        """The Secret's keys, read with the pod's own rights; refusals are the user's to fix."""
        from kubernetes.client.exceptions import ApiException

        try:
            secret = self._call("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except ApiException as error:
            status = self._status_of(error)
            if status == 404:
                raise InvalidInput("spec.input.credentialsSecret: no such Secret in this namespace") from None
            if status in (401, 403):
                raise InvalidInput(
                    f"spec.input.credentialsSecret: ServiceAccount {service_account} may not read this Secret; "
                    "a namespace admin grants it with a Role allowing get on the Secret (resourceNames)"
                ) from None
            raise TransientError(f"reading spec.input.credentialsSecret failed (HTTP {status})") from None
        values = {}
        for key, value in (secret.get("data") or {}).items():
            try:
                values[key] = base64.b64decode(value).decode()
            except (ValueError, UnicodeDecodeError):
                raise InvalidInput(f"spec.input.credentialsSecret: key {key} is not UTF-8 text") from None
        return values

    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            result: dict[str, Any] = self._call("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        except ApiException as error:
            if self._status_of(error) == 404:
                return None
            raise PlatformError(f"reading ConfigMap {name} was refused (HTTP {self._status_of(error)})") from None
        return result

    def create_config_map(self, body: dict[str, Any]) -> bool:
        """Create; False when it exists already (another pod or an earlier attempt made it)."""
        from kubernetes.client.exceptions import ApiException

        meta = body["metadata"]
        try:
            self._call("POST", f"/api/v1/namespaces/{meta['namespace']}/configmaps", body=body)
        except ApiException as error:
            status = self._status_of(error)
            if status == 409:
                return False
            if status in (413, 422):
                raise InvalidInput(
                    f"ConfigMap {meta['name']} was refused as too large; set spec.output.url for large results"
                ) from None
            raise PlatformError(f"creating ConfigMap {meta['name']} was refused (HTTP {status})") from None
        return True
