"""The agent's own small client of the Kubernetes API, and the API's time formats.

The agent works with the API's JSON (dicts) rather than the kubernetes client's
models, which keeps strategic-merge patches and watches exactly as the API
server defines them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class Kube:
    """Plain JSON over HTTPS with the admin credentials of a kubeconfig.

    The kubernetes client only reads the kubeconfig.
    """

    def __init__(self, kubeconfig: str, server: str | None = None, ca_file: str | None = None) -> None:
        import urllib3
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        self.base = (server or cfg.host).rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "tda-node-agent"}
        settings: dict[str, dict[str, Any]] = dict(cfg.auth_settings())  # type: ignore[arg-type]
        for auth in settings.values():
            if auth.get("value"):  # a bearer token; client certificates need no header
                self.headers["Authorization"] = str(auth["value"])
        self.pool = urllib3.PoolManager(
            num_pools=4, maxsize=32, cert_reqs="CERT_REQUIRED",
            ca_certs=ca_file or cfg.ssl_ca_cert, cert_file=cfg.cert_file, key_file=cfg.key_file,
        )
        self._urllib3 = urllib3

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        return self.base + path + (("?" + urlencode(params)) if params else "")

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                content_type: str = "application/json", timeout: float = 30.0) -> dict[str, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        r = self.pool.request(method, self.url(path, params), body=data, headers=headers,
                              timeout=self._urllib3.Timeout(connect=5.0, read=timeout), retries=False)
        text = r.data.decode("utf-8", "replace")
        if r.status >= 300:
            raise ApiError(r.status, text)
        return json.loads(text) if text.startswith("{") else {}

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    def watch(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Events of a watch, until the server ends it."""
        params = dict(params, watch="true", allowWatchBookmarks="true")
        read_timeout = float(params.get("timeoutSeconds", 300)) + 30
        r = self.pool.request("GET", self.url(path, params), headers=self.headers, preload_content=False,
                              timeout=self._urllib3.Timeout(connect=5.0, read=read_timeout), retries=False)
        try:
            if r.status >= 300:
                raise ApiError(r.status, r.data.decode("utf-8", "replace"))
            buf = b""
            for chunk in r.stream(65536):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            r.release_conn()


def pod_path(ns: str, name: str, sub: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/pods/{quote(name)}{sub}"
