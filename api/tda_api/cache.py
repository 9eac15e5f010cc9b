"""A watch-fed, cluster-wide copy of every TDAJob and TDAStream, for fast reads and live events.

The facade lists each resource once and then follows its watch (with bookmarks), relisting
when the watch expires. Reads from here are served only after a per-caller access review
(see :mod:`tda_api.auth`); a name not found here is read live, impersonating the caller, so
an object created a moment ago is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from .kube import Kube, WatchFailed, custom_path

log = logging.getLogger("tda_api.cache")
Key = tuple[str, str]  # (namespace, name)
RETRY_SECONDS = (0.5, 1, 2, 5, 10)


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """What the facade serves of an object: managedFields are bulky and of no use to callers."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = dict(obj, metadata={k: v for k, v in meta.items() if k != "managedFields"})
    return obj


class ResourceStore:
    """Objects of one plural, with a version counter that waiters watch for changes."""

    def __init__(self, plural: str) -> None:
        self.plural = plural
        self.synced = False
        self._objects: dict[Key, dict[str, Any]] = {}
        self._encoded: dict[Key, bytes] = {}  # JSON of objects read since they last changed
        self._by_namespace: dict[str, dict[str, dict[str, Any]]] = {}
        self._changed = asyncio.Condition()
        self.version = 0

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get((namespace, name))

    def get_json(self, namespace: str, name: str) -> bytes | None:
        """The object as JSON, encoded once per change: most reads repeat until the next watch event."""
        key = (namespace, name)
        encoded = self._encoded.get(key)
        if encoded is None:
            obj = self._objects.get(key)
            if obj is None:
                return None
            encoded = self._encoded[key] = json.dumps(obj, separators=(",", ":")).encode()
        return encoded

    def in_namespace(self, namespace: str) -> list[dict[str, Any]]:
        return [self._by_namespace[namespace][n] for n in sorted(self._by_namespace.get(namespace, {}))]

    def __len__(self) -> int:
        return len(self._objects)

    async def replace(self, objects: Iterable[dict[str, Any]]) -> None:
        self._objects.clear()
        self._encoded.clear()
        self._by_namespace.clear()
        for obj in objects:
            self._put(obj)
        self.synced = True
        await self._notify()

    async def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self._remove(obj)
        else:
            self._put(obj)
        await self._notify()

    async def wait_for_change(self, seen_version: int, timeout: float) -> int:
        """The version after the next change (or the current one after ``timeout``)."""
        async with self._changed:
            if self.version == seen_version:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)
            return self.version

    def _put(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        obj = slim(obj)
        self._objects[key] = obj
        self._encoded.pop(key, None)
        self._by_namespace.setdefault(key[0], {})[key[1]] = obj

    def _remove(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        self._objects.pop(key, None)
        self._encoded.pop(key, None)
        names = self._by_namespace.get(key[0])
        if names is not None:
            names.pop(key[1], None)
            if not names:
                del self._by_namespace[key[0]]

    async def _notify(self) -> None:
        async with self._changed:
            self.version += 1
            self._changed.notify_all()


class Informer:
    """Keeps one ResourceStore in step with the API server: list, then watch, relist on expiry."""

    def __init__(self, kube: Kube, store: ResourceStore) -> None:
        self._kube = kube
        self.store = store

    async def run(self) -> None:
        failures = 0
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list()
                version = await self._watch(version)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the API server away, a CRD not installed yet, ...
                version = None
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("%s informer: %s; retrying in %ss", self.store.plural, error, delay)
                await asyncio.sleep(delay)

    async def _list(self) -> str:
        response = await self._kube.request("GET", custom_path(self.store.plural), caller=None)
        if response.status_code != 200:
            raise WatchFailed(response.status_code)
        listed = response.json()
        await self.store.replace(listed.get("items") or [])
        return str((listed.get("metadata") or {}).get("resourceVersion", ""))

    async def _watch(self, version: str) -> str | None:
        """Follow the watch from ``version``; the version to resume from, or None to relist."""
        params = {"watch": "1", "allowWatchBookmarks": "true", "resourceVersion": version, "timeoutSeconds": "300"}
        async for line in self._kube.stream_lines(custom_path(self.store.plural), params):
            event = json.loads(line)
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # 410 Gone: the version is too old
                return None
            version = str((obj.get("metadata") or {}).get("resourceVersion", version))
            if kind != "BOOKMARK":
                await self.store.apply(str(kind), obj)
        return version


class Cache:
    """The stores of both resources and the tasks that feed them."""

    def __init__(self, kube: Kube, plurals: Iterable[str]) -> None:
        self.stores = {plural: ResourceStore(plural) for plural in plurals}
        self._informers = [Informer(kube, store) for store in self.stores.values()]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(informer.run()) for informer in self._informers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def synced(self) -> bool:
        return all(store.synced for store in self.stores.values())
