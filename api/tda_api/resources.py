"""Create, read and delete TDAJobs and TDAStreams for a caller.

Writes and live reads impersonate the caller, so the API server's RBAC, schema and CEL
decide. Reads of the watch-fed cache are served only after an access review of the same
request, so they allow exactly what a live read would.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import BaseModel
from tda_contract import API_VERSION

from .cache import ResourceStore, slim
from .deps import Facade
from .kube import FIELD_MANAGER, ApiResponse, Caller, Unreachable, custom_path
from .problems import Problem, from_kube_status


async def call(facade: Facade, method: str, path: str, caller: Caller, body: Any = None,
               params: dict[str, str] | None = None) -> ApiResponse:
    try:
        return await facade.kube.request(method, path, caller=caller, body=body, params=params)
    except Unreachable:
        raise Problem(503, "the Kubernetes API server could not be reached; try again") from None


async def read_json(facade: Facade, path: str, caller: Caller) -> dict[str, Any]:
    """A live GET as the caller; the API server's refusal mapped to a Problem."""
    response = await call(facade, "GET", path, caller)
    if response.status_code != 200:
        raise from_kube_status(response.status_code, response.content)
    return response.json()  # type: ignore[no-any-return]


class CreateRequest(Protocol):
    """A create body: the job and stream request models both have this shape."""

    @property
    def metadata(self) -> BaseModel: ...

    @property
    def spec(self) -> BaseModel: ...


class Resources:
    """The operations on one plural (tdajobs or tdastreams)."""

    def __init__(self, facade: Facade, plural: str, kind: str) -> None:
        self.facade = facade
        self.plural = plural
        self.kind = kind

    @property
    def store(self) -> ResourceStore:
        return self.facade.cache.stores[self.plural]

    async def create(self, caller: Caller, namespace: str, request: CreateRequest) -> dict[str, Any]:
        """The request's metadata and the spec fields it set (defaults are the schema's to apply)."""
        body = {"apiVersion": API_VERSION, "kind": self.kind,
                "metadata": request.metadata.model_dump(exclude_defaults=True),
                "spec": request.spec.model_dump(mode="json", exclude_unset=True, by_alias=True)}
        params = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict"}
        response = await call(self.facade, "POST", custom_path(self.plural, namespace), caller, body, params)
        if response.status_code not in (200, 201):
            raise from_kube_status(response.status_code, response.content)
        return slim(response.json())

    async def list(self, caller: Caller, namespace: str) -> list[dict[str, Any]]:
        await self.facade.reviewer.require(caller, "list", self.plural, namespace)
        if self.store.synced:
            return self.store.in_namespace(namespace)
        listed = await read_json(self.facade, custom_path(self.plural, namespace), caller)
        return [slim(item) for item in listed.get("items") or []]

    async def get(self, caller: Caller, namespace: str, name: str) -> dict[str, Any]:
        await self.facade.reviewer.require(caller, "get", self.plural, namespace, name)
        cached = self.store.get(namespace, name)
        if cached is not None:
            return cached
        # Not (yet) in the cache: ask the API server as the caller.
        return slim(await read_json(self.facade, custom_path(self.plural, namespace, name), caller))

    async def get_json(self, caller: Caller, namespace: str, name: str) -> bytes:
        """:meth:`get`, as JSON bytes (encoded once per change for cached objects)."""
        await self.facade.reviewer.require(caller, "get", self.plural, namespace, name)
        encoded = self.store.get_json(namespace, name)
        if encoded is not None:
            return encoded
        live = slim(await read_json(self.facade, custom_path(self.plural, namespace, name), caller))
        return json.dumps(live, separators=(",", ":")).encode()

    async def delete(self, caller: Caller, namespace: str, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        response = await call(self.facade, "DELETE", custom_path(self.plural, namespace, name), caller, body)
        if response.status_code not in (200, 202):
            raise from_kube_status(response.status_code, response.content)
