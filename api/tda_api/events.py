"""Server-Sent Events of a resource's phase and progress, fed by the watch cache.

Each change of phase, reason, message or progress is one ``status`` event; the stream
ends after a final phase (a finished TDAJob), with a ``deleted`` event when the object
goes away, or when the caller's right to read it is revoked. Comment lines keep idle
connections open through proxies.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Collection
from typing import Any

from .auth import AccessReviewer
from .cache import ResourceStore
from .kube import Caller

#: How long a stream waits for an object it was allowed to read to reach the cache.
APPEAR_TIMEOUT = 30.0


def status_event(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status") or {}
    return {
        "name": (obj.get("metadata") or {}).get("name"),
        "phase": status.get("phase"),
        "reason": status.get("reason"),
        "message": status.get("message"),
        "progress": status.get("progress"),
    }


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def status_stream(
    store: ResourceStore, reviewer: AccessReviewer, caller: Caller, namespace: str, name: str,
    final_phases: Collection[str], heartbeat: float,
) -> AsyncIterator[str]:
    version = store.version
    last: dict[str, Any] | None = None
    seen = False
    started = time.monotonic()
    while True:
        if not await reviewer.allowed(caller, "get", store.plural, namespace, name):
            return
        obj = store.get(namespace, name)
        if obj is None:
            if seen or time.monotonic() - started > APPEAR_TIMEOUT:
                yield sse("deleted", {"name": name})
                return
        else:
            seen = True
            current = status_event(obj)
            if current != last:
                last = current
                yield sse("status", current)
            if current["phase"] in final_phases:
                return
        new_version = await store.wait_for_change(version, heartbeat)
        if new_version == version:
            yield ": keep-alive\n\n"
        version = new_version
