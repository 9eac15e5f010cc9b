"""The facade's one connection to the API server, and requests made on a caller's behalf.

The facade's own identity authenticates tokens, reviews access and watches TDAJobs and
TDAStreams; everything that touches user data is sent with ``Impersonate-User`` and
``Impersonate-Group`` headers, so the API server's RBAC decides as if the caller asked.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from tda_contract import API_VERSION, TDAJOB_PLURAL, TDASTREAM_PLURAL

FIELD_MANAGER = "tda-api"
PLURALS = (TDAJOB_PLURAL, TDASTREAM_PLURAL)


@dataclass(frozen=True)
class Caller:
    """An authenticated user as the TokenReview named them."""

    user: str
    groups: tuple[str, ...] = field(default_factory=tuple)
    uid: str = ""

    def impersonation_headers(self) -> list[tuple[str, str]]:
        # One header per group: a comma-joined value would be read as one group.
        return [("Impersonate-User", self.user), *(("Impersonate-Group", g) for g in self.groups)]


def custom_path(plural: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    path = f"/apis/{API_VERSION}"
    if namespace is not None:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


def config_map_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def secret_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets/{name}"


class Credentials:
    """The facade's own credentials, from a kubeconfig or the pod's service account."""

    def __init__(self, kubeconfig: str | None) -> None:
        from kubernetes import client, config

        self._config = client.Configuration()
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=self._config)
        else:
            config.load_incluster_config(client_configuration=self._config)

    @property
    def host(self) -> str:
        return str(self._config.host)

    def ssl_context(self) -> ssl.SSLContext:
        cfg = self._config
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
        if not cfg.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, cfg.key_file)
        return context

    def authorization(self) -> str | None:
        # Re-read on every call: in-cluster tokens are rotated (the client's refresh hook re-reads them).
        # Newer clients keep the token under "BearerToken", older ones under "authorization".
        value = self._config.get_api_key_with_prefix("BearerToken") or self._config.get_api_key_with_prefix(
            "authorization")
        return str(value) if value else None


@dataclass(frozen=True)
class ApiResponse:
    """An API server answer, read whole."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class Unreachable(Exception):
    """The API server did not answer: refused, reset or timed out."""


#: What aiohttp raises when the API server cannot be reached or stops answering.
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class Kube:
    """Async HTTP to the API server: the facade's own calls and calls impersonating a caller.

    aiohttp, for its small CPU cost per request: the facade's throughput is its CPU."""

    def __init__(self, credentials: Credentials, timeout: float, connections: int = 128) -> None:
        self._credentials = credentials
        self._host = credentials.host.rstrip("/")
        self._ssl = credentials.ssl_context()
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop that runs it.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _headers(self, caller: Caller | None, content_type: str | None = None) -> list[tuple[str, str]]:
        headers = [("Accept", "application/json")]
        token = self._credentials.authorization()
        if token:
            headers.append(("Authorization", token))
        if content_type:
            headers.append(("Content-Type", content_type))
        if caller is not None:
            headers.extend(caller.impersonation_headers())
        return headers

    async def request(
        self, method: str, path: str, *, caller: Caller | None, body: Any = None,
        params: dict[str, str] | None = None,
    ) -> ApiResponse:
        """One call; ``caller=None`` only for the facade's own reviews and watches."""
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = self._headers(caller, "application/json" if data is not None else None)
        try:
            async with self._client.request(method, self._host + path, params=params, data=data,
                                            headers=headers) as response:
                return ApiResponse(response.status, await response.read())
        except TRANSPORT_ERRORS as error:
            raise Unreachable(type(error).__name__) from None

    async def stream_lines(self, path: str, params: dict[str, str]) -> AsyncIterator[str]:
        """Lines of a watch made with the facade's own identity (no read timeout: watches idle)."""
        timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout.connect)
        async with self._client.get(self._host + path, params=params, headers=self._headers(None),
                                    timeout=timeout) as response:
            if response.status != 200:
                raise WatchFailed(response.status)
            # Split by hand: one watch event (one line) may be far longer than aiohttp's line limit.
            pending: list[bytes] = []
            async for chunk in response.content.iter_any():
                *complete, rest = chunk.split(b"\n")
                for piece in complete:
                    line = b"".join((*pending, piece))
                    pending = []
                    if line.strip():
                        yield line.decode()
                if rest:
                    pending.append(rest)


class WatchFailed(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"watch answered HTTP {status}")
        self.status = status
