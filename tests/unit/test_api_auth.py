"""Pure parts of the facade's auth and events: bearer parsing, the TTL cache, SSE framing, models."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from tda_api.auth import TTLCache, bearer_token
from tda_api.events import sse, status_event
from tda_api.kube import Caller
from tda_api.problems import Problem, from_validation_error
from tda_api.schemas import JobCreate, StreamCreate
from tda_api.settings import Settings

pytestmark = pytest.mark.unit
MARKER = "hostile-marker-7f3a"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "bearer"])
def test_missing_or_malformed_authorization_is_401(header):
    with pytest.raises(Problem) as caught:
        bearer_token(header)
    assert caught.value.status == 401
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer realm="tda"'}


def test_bearer_token_is_taken_case_insensitively():
    assert bearer_token("bearer abc.def") == "abc.def"
    assert bearer_token("Bearer  abc ") == "abc"


def test_impersonation_sends_one_header_per_group():
    headers = Caller("system:serviceaccount:a:alice", ("system:authenticated", "team,with,commas")).impersonation_headers()
    assert headers == [("Impersonate-User", "system:serviceaccount:a:alice"),
                       ("Impersonate-Group", "system:authenticated"), ("Impersonate-Group", "team,with,commas")]


def test_ttl_cache_expires_and_loads_once_for_concurrent_misses():
    now = [0.0]
    cache: TTLCache[int] = TTLCache(ttl=5, clock=lambda: now[0])
    calls = []

    async def load() -> tuple[int, float]:
        calls.append(1)
        await asyncio.sleep(0.01)
        return len(calls), 5.0

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(cache.get_or_load("k", load) for _ in range(10))))

    assert asyncio.run(scenario()) == [1] * 10
    now[0] = 4.9
    assert cache.get("k") == 1
    now[0] = 5.1
    assert cache.get("k") is None
    assert asyncio.run(cache.get_or_load("k", load)) == 2


def test_ttl_cache_is_bounded():
    cache: TTLCache[int] = TTLCache(ttl=60, max_entries=3)
    for i in range(5):
        cache.put(i, i)
    assert [cache.get(i) for i in range(5)] == [None, None, 2, 3, 4]


def test_ttl_cache_does_not_keep_failures():
    cache: TTLCache[int] = TTLCache(ttl=60)

    async def failing() -> tuple[int, float]:
        raise Problem(503, "down")

    with pytest.raises(Problem):
        asyncio.run(cache.get_or_load("k", failing))
    assert cache.get("k") is None


def test_status_event_and_sse_framing():
    obj = {"metadata": {"name": "j"}, "spec": {"input": {"inline": {"points": [[1.0]]}}},
           "status": {"phase": "Running", "progress": {"total": 2, "succeeded": 1}}}
    event = status_event(obj)
    assert event == {"name": "j", "phase": "Running", "reason": None, "message": None,
                     "progress": {"total": 2, "succeeded": 1}}
    framed = sse("status", event)
    assert framed.startswith("event: status\ndata: ") and framed.endswith("\n\n")
    assert json.loads(framed.split("data: ", 1)[1]) == event


def test_request_models_are_the_crd_models():
    from tda_operator.models import TDAJobSpec, TDAStreamSpec

    assert JobCreate.model_fields["spec"].annotation is TDAJobSpec
    assert StreamCreate.model_fields["spec"].annotation is TDAStreamSpec
    job = JobCreate.model_validate({"metadata": {"name": "a"}, "spec": {"input": {"inline": {"points": [[0.0]]}}}})
    assert job.spec.model_dump(mode="json", exclude_unset=True) == {"input": {"inline": {"points": [[0.0]]}}}


def test_validation_errors_name_schema_paths_never_caller_keys_or_values():
    bodies = [
        {"metadata": {"name": "a", MARKER: 1}, "spec": {"input": {"inline": {"points": [[0.0]]}}}},
        {"metadata": {"name": "a", "labels": {MARKER: 5}}, "spec": {"input": {"inline": {"points": [[MARKER]]}}}},
    ]
    for body in bodies:
        with pytest.raises(ValidationError) as caught:
            JobCreate.model_validate(body)
        errors = [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]
        problem = from_validation_error(RequestValidationError(errors))
        assert problem.status == 422 and problem.field
        assert MARKER not in json.dumps(problem.body())


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TDA_API_PORT", "9090")
    monkeypatch.setenv("TDA_API_KUBECONFIG", "/tmp/kc")
    settings = Settings()
    assert (settings.port, settings.kubeconfig, settings.host) == (9090, "/tmp/kc", "0.0.0.0")


def test_cli_flags_override_the_environment(monkeypatch):
    from tda_api.cli import parse

    monkeypatch.setenv("TDA_API_PORT", "9090")
    assert parse([]).port == 9090
    settings = parse(["--port", "8181", "--host", "127.0.0.1", "--kubeconfig", "/k", "--reload"])
    assert (settings.port, settings.host, settings.kubeconfig, settings.reload) == (8181, "127.0.0.1", "/k", True)


def test_latest_window_per_key_skips_foreign_and_broken_records():
    from tda_api.latest import latest_by_key

    def rec(key: str, end: int, **extra) -> bytes:
        return json.dumps({"schema": "tda.io/window-features/v1", "key": key, "windowEnd": end, **extra}).encode()

    latest = latest_by_key([rec("a", 2000, entropy=1.0), rec("a", 4000, entropy=2.0), rec("a", 3000),
                            rec("b", 1000), b"not json", b'{"schema": "other", "key": "c", "windowEnd": 1}',
                            b"[1, 2]", rec("d", "late")])  # type: ignore[arg-type]
    assert sorted(latest) == ["a", "b"]
    assert latest["a"]["entropy"] == 2.0


def test_in_cluster_bootstrap_maps_to_the_local_broker_only_when_set():
    from tda_api.latest import bootstrap_servers

    assert bootstrap_servers({"clusterRef": "main"}, None) == "main-kafka-bootstrap:9092"
    assert bootstrap_servers({"clusterRef": "main"}, "127.0.0.1:9092") == "127.0.0.1:9092"
    assert bootstrap_servers({"bootstrapServers": "k.example:9093"}, "127.0.0.1:9092") == "k.example:9093"
