"""The operator's kopf handlers: on-event only, coroutines, and no per-event diff base."""

from __future__ import annotations

import asyncio

import kopf
import pytest

pytestmark = pytest.mark.unit


def test_every_resource_handler_is_an_event_coroutine():
    """kopf's diff base (switched off by EventsOnlyDiffBase) feeds on-create/update/delete and
    daemon handlers only; a sync handler would go through a thread pool per event."""
    from tda_operator import handlers

    registry = kopf.get_default_registry()
    watching = list(registry._watching.get_all_handlers())
    assert {h.fn.__name__ for h in watching} >= {"tdajob_event", "job_event", "pod_event", "record_event"}
    assert all(asyncio.iscoroutinefunction(h.fn) for h in watching)
    assert not list(registry._changing.get_all_handlers())
    assert not list(registry._spawning.get_all_handlers())
    assert isinstance(handlers.EventsOnlyDiffBase(), kopf.DiffBaseStorage)


def test_the_diff_base_copies_nothing():
    from tda_operator import handlers

    storage = handlers.EventsOnlyDiffBase()
    body = kopf.Body({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": [1] * 1000}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None


def test_an_event_fills_the_cache_and_queues_its_tdajob(monkeypatch):
    from tda_operator import handlers

    queued = []
    monkeypatch.setattr(handlers.RECONCILER.queue, "add", lambda key, urgent=False: queued.append((key, urgent)))
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "j", "namespace": "ns", "labels": {"tda.io/tdajob": "t"}}}
    asyncio.run(handlers.job_event(event={"type": "ADDED", "object": job}, body=kopf.Body(job), namespace="ns"))
    assert handlers.CACHE.get(("ns", "t")).job is not None
    # A finished Job is urgent (the TDAJob's final status); so is a TDAJob without a status (new).
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    asyncio.run(handlers.job_event(event={"type": "MODIFIED", "object": job}, body=kopf.Body(job), namespace="ns"))
    assert queued == [(("ns", "t"), False), (("ns", "t"), True)]
    from tda_operator_fixtures import INLINE, tdajob_body

    new = tdajob_body(INLINE)
    key = (new["metadata"]["namespace"], new["metadata"]["name"])
    asyncio.run(handlers.tdajob_event(event={"type": "ADDED", "object": new}, body=kopf.Body(new),
                                      namespace=key[0], name=key[1]))
    running = {**new, "status": {"phase": "Running"}}
    asyncio.run(handlers.tdajob_event(event={"type": "MODIFIED", "object": running}, body=kopf.Body(running),
                                      namespace=key[0], name=key[1]))
    assert queued[2:] == [(key, True), (key, False)]
