"""The REST facade against the real local control plane, under its own least-privileged identity.

The facade is the one the Helm chart installed on the local platform (its pod on the local
node, under the chart's `tda-api` ServiceAccount and RBAC); on a platform without it, it runs
in this process (uvicorn on a free loopback port) with a kubeconfig holding only the token of
the `tda-api` ServiceAccount, bound to exactly the rules of examples/rbac/api.yaml. Two users are ServiceAccounts with rights in one namespace each;
every request they make through the facade must get what Kubernetes RBAC gives them, and
nothing of the other's namespace. The platform's own operator and worker pods run the jobs.
"""

from __future__ import annotations

import base64
import io
import json
import math
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from support import (
    apply_manifest,
    http_status,
    serve_facade,
    service_account_token,
    token_kubeconfig,
    wait_for,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
API_RBAC = REPO / "examples" / "rbac" / "api.yaml"
GROUP, VERSION = "tda.io", "v1alpha1"
MARKER = "hostile-marker-7f3a"  # a value that must never come back in a response
POINTS = [[math.cos(t), math.sin(t)] for t in np.linspace(0, 2 * math.pi, 12, endpoint=False)]
PHASE_TIMEOUT = 240.0


# ------------------------------------------------------------------------------ identities


@dataclass
class User:
    name: str
    namespace: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_user(api_client, core, namespace: str, name: str) -> User:
    """A ServiceAccount that may manage TDAJobs/TDAStreams and read ConfigMaps in its namespace only."""
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": f"{name}-tda"},
        "rules": [
            {"apiGroups": [GROUP], "resources": ["tdajobs", "tdastreams"],
             "verbs": ["get", "list", "watch", "create", "delete"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
        ],
    })
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": f"{name}-tda"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{name}-tda"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    })
    return User(name, namespace, service_account_token(core, namespace, name))


@pytest.fixture(scope="module")
def core(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture(scope="module")
def custom(api_client):
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="module")
def two_namespaces(core) -> Iterator[tuple[str, str]]:
    names = tuple(f"api-{side}-{uuid.uuid4().hex[:6]}" for side in ("a", "b"))
    for name in names:
        core.create_namespace({"metadata": {"name": name}})
    yield names  # type: ignore[misc]
    for name in names:
        core.delete_namespace(name)


@pytest.fixture(scope="module")
def alice(api_client, core, two_namespaces) -> User:
    return make_user(api_client, core, two_namespaces[0], "alice")


@pytest.fixture(scope="module")
def bob(api_client, core, two_namespaces) -> User:
    return make_user(api_client, core, two_namespaces[1], "bob")


# ------------------------------------------------------------------------------ the facade


def chart_facade_url(platform) -> str | None:
    """The facade the Helm chart installed on the local platform (`tda-dev up`), if it serves."""
    from tda_dev import chart_service

    if platform.external or not chart_service.api_enabled():
        return None
    try:
        state = json.loads((Path(platform.state_dir) / "state.json").read_text())
        url = f"http://127.0.0.1:{int(state['ports'][chart_service.API_PORT])}"
    except (OSError, KeyError, ValueError):
        return None
    return url if http_status(url + "/readyz") == 200 else None


@pytest.fixture(scope="module")
def facade_kubeconfig(platform, api_client, core, tmp_path_factory) -> Path:
    """A kubeconfig of the tda-api ServiceAccount of examples/rbac/api.yaml."""
    apply_manifest(api_client, API_RBAC)
    token = service_account_token(core, "tda-system", "tda-api")
    return token_kubeconfig(platform, token, tmp_path_factory.mktemp("api") / "kubeconfig")


@pytest.fixture(scope="module")
def facade_url(platform, facade_kubeconfig) -> Iterator[str]:
    """The chart's facade; else tda-server in a thread, as the tda-api ServiceAccount of examples/rbac/api.yaml."""
    from tda_api import Settings

    if (url := chart_facade_url(platform)) is not None:
        yield url
        return
    settings = Settings(kubeconfig=str(facade_kubeconfig), access_review_ttl=1.0, sse_heartbeat_seconds=1.0,
                        kafka_bootstrap=kafka_bootstrap())
    with serve_facade(settings) as url:
        yield url


def kafka_bootstrap() -> str | None:
    from tda_dev import kafka

    try:
        return kafka.bootstrap_servers()
    except kafka.KafkaError:
        return None


@pytest.fixture(scope="module")
def http(facade_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=facade_url, timeout=30) as client:
        yield client


def job_body(name: str, points=POINTS, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {"input": {"inline": {"points": points}},
                                                "computation": {"maxDimension": 1}, **spec}}


def jobs_path(namespace: str, name: str = "", tail: str = "") -> str:
    path = f"/v1/namespaces/{namespace}/jobs"
    return path + (f"/{name}" if name else "") + (f"/{tail}" if tail else "")


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    doc = response.json()
    assert doc["status"] == status and doc["title"] and doc["detail"] and doc["type"]
    assert "Traceback" not in response.text
    return doc


def sse_events(http: httpx.Client, path: str, user: User, timeout: float) -> list[tuple[str, dict]]:
    """Every event of an SSE response until the server ends it."""
    events: list[tuple[str, dict]] = []
    with http.stream("GET", path, headers=user.headers, timeout=httpx.Timeout(10, read=timeout)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: "):]
            elif line.startswith("data: ") and kind:
                events.append((kind, json.loads(line[len("data: "):])))
    return events


# ------------------------------------------------------------------------------ tests


def test_health_openapi_and_docs_need_no_token(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200
    paths = http.get("/openapi.json").json()["paths"]
    for path in ("/v1/namespaces/{namespace}/jobs", "/v1/namespaces/{namespace}/jobs/{name}/result",
                 "/v1/namespaces/{namespace}/jobs/{name}/diagram.svg", "/v1/namespaces/{namespace}/streams/{name}"):
        assert path in paths
    assert "TDAJobSpec" in json.dumps(http.get("/openapi.json").json()["components"])
    assert http.get("/docs").status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic YWxpY2U6cHc=", "Bearer"])
def test_no_or_bad_token_is_401(http, alice, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = http.get(jobs_path(alice.namespace), headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    # Refused before the body is read: a malformed body gets 401 too, not 422.
    assert_problem(http.post(jobs_path(alice.namespace), headers=headers, content=b"{nope"), 401)


def test_rbac_matrix_allows_own_namespace_refuses_and_does_not_leak_the_other(http, custom, alice, bob):
    hidden = f"hidden-{uuid.uuid4().hex[:6]}"
    custom.create_namespaced_custom_object(GROUP, VERSION, bob.namespace, "tdajobs", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAJob", "metadata": {"name": hidden},
        "spec": {"input": {"inline": {"points": [[0.0]]}}, "suspend": True}})
    wait_for("the hidden job in the facade's cache",
             lambda: http.get(jobs_path(bob.namespace, hidden), headers=bob.headers).status_code == 200, timeout=30)

    assert http.get(jobs_path(alice.namespace), headers=alice.headers).status_code == 200
    listed = http.get(jobs_path(bob.namespace), headers=bob.headers).json()["items"]
    assert [item["metadata"]["name"] for item in listed] == [hidden]

    refused = [
        http.get(jobs_path(bob.namespace), headers=alice.headers),
        http.get(jobs_path(bob.namespace, hidden), headers=alice.headers),
        http.get(jobs_path(bob.namespace, "no-such-job"), headers=alice.headers),
        http.get(jobs_path(bob.namespace, hidden, "events"), headers=alice.headers),
        http.get(jobs_path(bob.namespace, hidden, "result"), headers=alice.headers),
        http.get(jobs_path(bob.namespace, hidden, "diagram.svg"), headers=alice.headers),
        http.post(jobs_path(bob.namespace), headers=alice.headers, json=job_body("intruder")),
        http.delete(jobs_path(bob.namespace, hidden), headers=alice.headers),
        http.get(f"/v1/namespaces/{bob.namespace}/streams", headers=alice.headers),
    ]
    for response in refused:
        assert_problem(response, 403)
        assert hidden not in response.text
    # An existing and a missing name are refused alike: existence does not leak either.
    assert refused[1].json() == refused[2].json()
    assert custom.get_namespaced_custom_object(GROUP, VERSION, bob.namespace, "tdajobs", hidden)  # not deleted
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as missing:  # and the intruder was not created
        custom.get_namespaced_custom_object(GROUP, VERSION, bob.namespace, "tdajobs", "intruder")
    assert missing.value.status == 404


@pytest.mark.chaos
def test_rbac_matrix_holds_under_concurrent_load(facade_url, custom, alice, bob):
    """Two callers, each reading both namespaces from 64 connections at once: every answer is the
    one RBAC gives, and neither namespace's job names ever appear in an answer to the other."""
    from concurrent.futures import ThreadPoolExecutor

    secrets = {}
    for user in (alice, bob):
        secrets[user.namespace] = f"secret-{uuid.uuid4().hex[:6]}"
        custom.create_namespaced_custom_object(GROUP, VERSION, user.namespace, "tdajobs", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAJob", "metadata": {"name": secrets[user.namespace]},
            "spec": {"input": {"inline": {"points": [[0.0]]}}, "suspend": True}})
    matrix = [(user, namespace, 200 if user.namespace == namespace else 403, path)
              for user in (alice, bob) for namespace in (alice.namespace, bob.namespace)
              for path in (jobs_path(namespace), jobs_path(namespace, secrets[namespace]))]
    with httpx.Client(base_url=facade_url, timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        wait_for("both jobs in the facade's cache", lambda: all(
            client.get(jobs_path(u.namespace, secrets[u.namespace]), headers=u.headers).status_code == 200
            for u in (alice, bob)), timeout=30)

        def ask(i: int) -> str | None:
            user, namespace, expected, path = matrix[i % len(matrix)]
            response = client.get(path, headers=user.headers)
            if response.status_code == 503 and "Retry-After" in response.headers:
                return None  # the API server too busy to review: unavailable, never wrong
            if response.status_code != expected:
                return f"{path} as {user.name}: {response.status_code}, not {expected}"
            foreign = [name for ns, name in secrets.items() if ns != user.namespace]
            if any(name in response.text for name in foreign):
                return f"{path} as {user.name}: another namespace's job name in the answer"
            return None

        with ThreadPoolExecutor(64) as pool:
            wrong = [w for w in pool.map(ask, range(4000)) if w]
    assert not wrong, wrong[:5]


def test_unknown_job_in_own_namespace_is_404(http, alice):
    doc = assert_problem(http.get(jobs_path(alice.namespace, "no-such-job"), headers=alice.headers), 404)
    assert "TDAJob" in doc["detail"]


def test_cel_refusal_is_422_with_the_api_servers_message_and_field(http, alice):
    body = job_body("two-inputs")
    body["spec"]["input"]["url"] = f"s3://{MARKER}/k.npy"  # inline and url: CEL allows exactly one
    response = http.post(jobs_path(alice.namespace), headers=alice.headers, json=body)
    doc = assert_problem(response, 422)
    assert doc["field"] == "spec.input"
    assert "exactly one of inline, url or datasets" in doc["detail"]
    assert MARKER not in response.text


def test_cubical_threshold_refused_by_cel_names_the_threshold(http, alice):
    body = job_body("cubical", computation={"complex": "cubical", "threshold": 1.0})
    doc = assert_problem(http.post(jobs_path(alice.namespace), headers=alice.headers, json=body), 422)
    assert doc["field"] == "spec.computation.threshold"
    assert "threshold applies to rips only" in doc["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"metadata": {"name": f"Bad_{MARKER}"}, "spec": {"input": {"inline": {"points": [[0.0]]}}}}, "metadata.name"),
    ({"metadata": {"name": "x"}, "spec": {"input": {"inline": {"points": [[MARKER]]}}}}, "spec.input.inline.points.0.0"),
    ({"metadata": {"name": "x"}, "spec": {"input": {"url": f"ftp://{MARKER}"}}}, "spec.input.url"),
    ({"metadata": {"name": "x"}}, "spec"),
    ({"metadata": {"name": "x", MARKER: 1}, "spec": {"input": {"inline": {"points": [[0.0]]}}}}, "metadata"),
])
def test_malformed_bodies_are_422_naming_the_field_without_echo(http, alice, body, field):
    response = http.post(jobs_path(alice.namespace), headers=alice.headers, json=body)
    doc = assert_problem(response, 422)
    assert doc["field"] == field or doc["field"].startswith(field)
    assert MARKER not in response.text


def test_not_json_at_all_is_422_without_echo(http, alice):
    response = http.post(jobs_path(alice.namespace), headers={**alice.headers, "Content-Type": "application/json"},
                         content=f"{{{MARKER}".encode())
    assert_problem(response, 422)
    assert MARKER not in response.text


def test_job_lifecycle_create_follow_result_pictures_delete(http, custom, alice, bob):
    import tda_core

    name = f"circle-{uuid.uuid4().hex[:6]}"
    created = http.post(jobs_path(alice.namespace), headers=alice.headers, json=job_body(name))
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["name"] == name
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, alice.namespace, "tdajobs", name)
    assert stored["spec"]["input"]["inline"]["points"] == POINTS
    assert_problem(http.post(jobs_path(alice.namespace), headers=alice.headers, json=job_body(name)), 409)

    events = sse_events(http, jobs_path(alice.namespace, name, "events"), alice, PHASE_TIMEOUT)
    phases = [data["phase"] for kind, data in events if kind == "status"]
    assert phases and phases[-1] == "Succeeded", events
    assert events[-1][1]["progress"]["succeeded"] == 1

    job = http.get(jobs_path(alice.namespace, name), headers=alice.headers).json()
    assert job["status"]["phase"] == "Succeeded"
    assert "managedFields" not in job["metadata"]
    assert name in [j["metadata"]["name"] for j in http.get(jobs_path(alice.namespace), headers=alice.headers).json()["items"]]

    result = http.get(jobs_path(alice.namespace, name, "result"), headers=alice.headers)
    assert result.status_code == 200, result.text
    doc = result.json()
    expected = tda_core.rips_persistence(np.array(POINTS), max_dim=1)
    assert len(doc["diagrams"]) == 2
    for got, want in zip(doc["diagrams"], expected, strict=True):
        got_arr = np.array([[b, math.inf if d is None else d] for b, d in got]).reshape(-1, 2)
        np.testing.assert_allclose(np.sort(got_arr, axis=0), np.sort(want, axis=0), rtol=1e-6)
    assert sum(d is None for _, d in doc["diagrams"][0]) == 1  # one essential H0 class, as null
    assert doc["datasets"] == [doc["dataset"]]

    npz = http.get(jobs_path(alice.namespace, name, "result"), headers={**alice.headers, "Accept": "application/x-npz"})
    assert npz.headers["content-type"] == "application/x-npz"
    archive = np.load(io.BytesIO(npz.content), allow_pickle=False)
    np.testing.assert_allclose(np.sort(archive["diagram_1"], axis=0), np.sort(expected[1], axis=0), rtol=1e-9)
    assert np.isinf(archive["diagram_0"][:, 1]).sum() == 1

    svg = http.get(jobs_path(alice.namespace, name, "diagram.svg"), headers=alice.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(svg.content).tag.endswith("svg")
    png = http.get(jobs_path(alice.namespace, name, "diagram.png"), headers=alice.headers)
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")

    # Bob may not read Alice's results, pictures or status.
    for tail in ("", "result", "diagram.png", "events"):
        assert_problem(http.get(jobs_path(alice.namespace, name, tail), headers=bob.headers), 403)

    assert http.delete(jobs_path(alice.namespace, name), headers=alice.headers).status_code == 204
    wait_for("the deleted job to be gone", lambda: http.get(
        jobs_path(alice.namespace, name), headers=alice.headers).status_code == 404, timeout=60)


def test_results_of_an_unfinished_job_are_409(http, alice):
    name = f"paused-{uuid.uuid4().hex[:6]}"
    assert http.post(jobs_path(alice.namespace), headers=alice.headers,
                     json=job_body(name, suspend=True)).status_code == 201
    assert_problem(http.get(jobs_path(alice.namespace, name, "result"), headers=alice.headers), 409)
    assert http.delete(jobs_path(alice.namespace, name), headers=alice.headers).status_code == 204
    assert_problem(http.delete(jobs_path(alice.namespace, name), headers=alice.headers), 404)


def test_streams_create_read_list_delete(http, custom, alice, bob):
    name = f"sensors-{uuid.uuid4().hex[:6]}"
    body = {"metadata": {"name": name}, "spec": {
        "kafka": {"clusterRef": "local", "input": {"topic": f"{name}-in"}, "output": {"topic": f"{name}-out"}},
        "window": {"type": "tumbling", "size": "2s"}, "suspend": True}}
    path = f"/v1/namespaces/{alice.namespace}/streams"
    created = http.post(path, headers=alice.headers, json=body)
    assert created.status_code == 201, created.text
    assert custom.get_namespaced_custom_object(GROUP, VERSION, alice.namespace, "tdastreams", name)
    assert http.get(f"{path}/{name}", headers=alice.headers).json()["spec"]["window"]["size"] == "2s"
    wait_for("the stream in the list", lambda: name in [
        s["metadata"]["name"] for s in http.get(path, headers=alice.headers).json()["items"]], timeout=30)
    assert_problem(http.get(f"{path}/{name}", headers=bob.headers), 403)
    with http.stream("GET", f"{path}/{name}/events", headers=alice.headers) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        lines = events.iter_lines()
        assert next(lines) == "event: status"
        assert json.loads(next(lines)[len("data: "):])["name"] == name
    bad = dict(body, metadata={"name": f"{name}-2"})
    bad["spec"] = dict(body["spec"], window={"type": "sliding", "size": "2s", "slide": "5s"})
    doc = assert_problem(http.post(path, headers=alice.headers, json=bad), 422)
    assert doc["field"] == "spec.window.slide"
    assert http.delete(f"{path}/{name}", headers=alice.headers).status_code == 204


def test_metrics_count_requests_by_route_template_and_status(http, alice):
    http.get(jobs_path(alice.namespace, "no-such-job"), headers=alice.headers)
    text = http.get("/metrics").text
    assert 'route="/v1/namespaces/{namespace}/jobs/{name}"' in text
    assert 'status="404"' in text and 'status="401"' in text
    assert "tda_api_request_duration_seconds_bucket" in text
    assert alice.namespace not in text  # labels are templates, never raw paths


def test_cached_reads_follow_a_revoked_right(http, api_client, custom, alice):
    """A right taken away stops cached reads within the access-review TTL."""
    from kubernetes import client

    name = f"revoke-{uuid.uuid4().hex[:6]}"
    assert http.post(jobs_path(alice.namespace), headers=alice.headers,
                     json=job_body(name, suspend=True)).status_code == 201
    wait_for("the job readable", lambda: http.get(
        jobs_path(alice.namespace, name), headers=alice.headers).status_code == 200, timeout=30)
    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.delete_namespaced_role_binding("alice-tda", alice.namespace)
    try:
        wait_for("the cached read to be refused", lambda: http.get(
            jobs_path(alice.namespace, name), headers=alice.headers).status_code == 403, timeout=15)
    finally:
        rbac.create_namespaced_role_binding(alice.namespace, {
            "metadata": {"name": "alice-tda"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "alice-tda"},
            "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": alice.namespace}],
        })
    custom.delete_namespaced_custom_object(GROUP, VERSION, alice.namespace, "tdajobs", name)


def test_stream_latest_windows_per_key_from_the_output_topic(http, alice, bob):
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    bootstrap = kafka_bootstrap()
    if bootstrap is None:
        pytest.skip("the platform runs no Kafka broker")
    name = f"latest-{uuid.uuid4().hex[:6]}"
    output = f"{name}-out"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    admin.create_topics([NewTopic(output, 2, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for key, end, score in [("s1", 2000, 0.5), ("s1", 4000, 7.5), ("s2", 2000, 0.25), ("s1", 3000, 1.0)]:
        record = {"schema": "tda.io/window-features/v1", "stream": name, "key": key, "windowStart": end - 2000,
                  "windowEnd": end, "count": 10, "changeScore": score}
        producer.send(output, json.dumps(record).encode(), key=key.encode())
    producer.send(output, b"not a record")
    producer.flush()
    producer.close()

    path = f"/v1/namespaces/{alice.namespace}/streams"
    body = {"metadata": {"name": name}, "spec": {
        "kafka": {"clusterRef": "local", "input": {"topic": f"{name}-in", "create": False},
                  "output": {"topic": output, "create": False}},
        "window": {"type": "tumbling", "size": "2s"}, "suspend": True}}
    assert http.post(path, headers=alice.headers, json=body).status_code == 201
    latest = http.get(f"{path}/{name}/latest", headers=alice.headers)
    assert latest.status_code == 200, latest.text
    keys = latest.json()["keys"]
    assert sorted(keys) == ["s1", "s2"]
    assert (keys["s1"]["windowEnd"], keys["s1"]["changeScore"]) == (4000, 7.5)
    assert_problem(http.get(f"{path}/{name}/latest", headers=bob.headers), 403)
    assert http.delete(f"{path}/{name}", headers=alice.headers).status_code == 204


HOSTILE_NAMES = ["..", "a" * 300, "UPPER", "%2e%2e", "-x-", f"{MARKER}.x", "a%00b"]
HOSTILE_BODIES: list[bytes] = [
    b"", b"null", b"[]", b'"text"', b"{}", b'{"metadata": null, "spec": null}',
    b"[" * 5000 + b"]" * 5000, b'{"metadata": {"name": "x"}, "spec": ' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
    json.dumps({"metadata": {"name": "x"}, "spec": {"input": {"inline": {"points": [[1e308, -1e308]] * 3}},
                                                    "computation": {"maxDimension": 99}}}).encode(),
    b"\xff\xfe" + MARKER.encode(),
]


def test_hostile_requests_to_every_route_never_get_a_5xx_or_an_echo(http, alice):
    spec = http.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method in operations:
            for name in HOSTILE_NAMES:
                url = path.replace("{namespace}", alice.namespace).replace("{name}", name)
                bodies = HOSTILE_BODIES if method == "post" else [b""]
                for body in bodies:
                    response = http.request(method.upper(), url, headers={
                        **alice.headers, "Content-Type": "application/json"}, content=body,
                        params={"dataset": MARKER})
                    assert response.status_code < 500, (method, url, response.status_code, response.text)
                    assert MARKER not in response.text, (method, url)


def test_a_body_over_the_size_limit_is_413(http, alice):
    body = b'{"metadata": {"name": "big"}, "spec": {"input": {"inline": {"points": [' + b"[0.0]," * 2_000_000 + b"[0.0]]}}}}"
    response = http.post(jobs_path(alice.namespace), headers={**alice.headers, "Content-Type": "application/json"},
                         content=body)
    assert_problem(response, 413)


def grant(api_client, namespace: str, role: str, rule: dict, subject: dict) -> None:
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(namespace, {"metadata": {"name": role}, "rules": [rule]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": role}, "subjects": [subject],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}})


def test_results_in_s3_are_read_with_the_jobs_secret_as_the_caller(http, api_client, core, alice):
    """The facade reads the credentials Secret impersonating the caller: without their right to it, 403."""
    import tda_core
    from kubernetes.client.exceptions import ApiException

    try:
        source = core.read_namespaced_secret("s3-creds", "default")
    except ApiException:
        pytest.skip("the platform runs no object store")
    if not any(s.metadata.name == "s3-creds" for s in core.list_namespaced_secret(alice.namespace).items):
        core.create_namespaced_secret(alice.namespace, {"metadata": {"name": "s3-creds"}, "data": source.data})
        secret_rule = {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s3-creds"], "verbs": ["get"]}
        grant(api_client, alice.namespace, "worker-reads-s3-creds", secret_rule,
              {"kind": "ServiceAccount", "name": "tda-worker", "namespace": alice.namespace})
    name = f"s3-{uuid.uuid4().hex[:6]}"
    body = job_body(name, output={"url": f"s3://tda/api-tests/{name}/"})
    body["spec"]["input"]["credentialsSecret"] = "s3-creds"
    assert http.post(jobs_path(alice.namespace), headers=alice.headers, json=body).status_code == 201
    events = sse_events(http, jobs_path(alice.namespace, name, "events"), alice, PHASE_TIMEOUT)
    assert events[-1][1]["phase"] == "Succeeded", events

    # Alice may read the job but not the Secret: the facade must not read it for her.
    assert_problem(http.get(jobs_path(alice.namespace, name, "result"), headers=alice.headers), 403)
    grant(api_client, alice.namespace, "alice-reads-s3-creds",
          {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s3-creds"], "verbs": ["get"]},
          {"kind": "ServiceAccount", "name": "alice", "namespace": alice.namespace})
    result = wait_for("the S3 result", lambda: (r := http.get(
        jobs_path(alice.namespace, name, "result"), headers=alice.headers)).status_code == 200 and r, timeout=30)
    doc = result.json()
    assert doc["datasets"] == ["inline"]
    h1 = np.array(doc["diagrams"][1], dtype=float).reshape(-1, 2)
    np.testing.assert_allclose(np.sort(h1, axis=0), np.sort(tda_core.rips_persistence(np.array(POINTS))[1], axis=0),
                               rtol=1e-6)
    png = http.get(jobs_path(alice.namespace, name, "diagram.png"), headers=alice.headers)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_web_view_is_served_with_a_strict_content_security_policy(http):
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self': no inline scripts
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="app.js"></script>' in page.text
    script = http.get("/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # everything shown goes through textContent


def test_web_view_in_headless_chromium_shows_the_job_live_and_its_diagram(http, facade_url, alice, tmp_path):
    from browser import Browser, find_chromium
    from PIL import Image

    executable = find_chromium()
    if executable is None:
        pytest.fail("no Chromium on this machine: `make browser` installs Debian's chromium")
    name = f"web-{uuid.uuid4().hex[:6]}"
    assert http.post(jobs_path(alice.namespace), headers=alice.headers, json=job_body(name)).status_code == 201
    browser = Browser(executable)
    try:
        browser.open(f"{facade_url}/#namespace={alice.namespace}")
        wait_for("the page", lambda: browser.evaluate(
            "document.readyState === 'complete' && !!document.getElementById('token')"), timeout=30)
        browser.evaluate(f"document.getElementById('token').value = {json.dumps(alice.token)};"
                         "document.getElementById('load').click(); true")
        row = f"document.querySelector('#jobs tr[data-name={json.dumps(name)}]')"
        # Live: the row turns Succeeded through the event stream, without reloading.
        wait_for("the job's row to show Succeeded", lambda: browser.evaluate(
            f"{row} ? {row}.textContent : ''").find("Succeeded") >= 0, timeout=PHASE_TIMEOUT)
        browser.evaluate(f"{row}.querySelector('a').click(); true")
        wait_for("the diagram picture", lambda: browser.evaluate(
            "(() => { const i = document.querySelector('#detail img'); return !!i && i.complete && i.naturalWidth > 0 })()"),
            timeout=60)
        assert name in browser.evaluate("document.body.innerText")
        shot = browser.screenshot()
        (tmp_path / "web-view.png").write_bytes(shot)  # kept by pytest for a look after a failure
        picture = Image.open(io.BytesIO(shot)).convert("L")
        assert picture.size[0] >= 800
        low, high = picture.getextrema()
        assert high - low > 100  # not a blank page
    finally:
        browser.close()


def test_schemathesis_cases_from_the_openapi_never_get_a_5xx(http, facade_url, alice):
    """Generated requests for every operation (valid and invalid by the schema), as a real caller."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_dict(http.get("/openapi.json").json())
    failures: list[str] = []
    statuses: dict[int, int] = {}

    def fuzz(operation) -> None:
        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case) -> None:
            case.path_parameters = {**(case.path_parameters or {}), "namespace": alice.namespace}
            response = case.call(base_url=facade_url, headers=alice.headers, timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{operation.method.upper()} {operation.path}: {response.status_code}")

        check()

    operations = [result.ok() for result in schema.get_all_operations()]
    # Event streams do not end by themselves (covered above); the rest are all fuzzed.
    fuzzed = [op for op in operations if op.path.startswith("/v1/") and not op.path.endswith("/events")]
    assert len(fuzzed) >= 12
    for operation in fuzzed:
        fuzz(operation)
    assert not failures, failures
    assert sum(statuses.values()) >= 5 * len(fuzzed), statuses
    assert statuses.get(422, 0) and (statuses.get(404, 0) or statuses.get(201, 0)), statuses  # invalid and valid ones


# ------------------------------------------------------------------------------ direct OIDC validation

SA_ISSUER = "https://kubernetes.default.svc.cluster.local"  # the local API server's service-account issuer
OIDC_AUDIENCE = "tda-api-oidc"


def test_oidc_validator_authenticates_jwts_of_a_real_issuer_without_token_review(
        platform, api_client, core, facade_kubeconfig, alice, bob, tmp_path):
    """The API server's service-account issuer is a real OIDC issuer (JWKS at /openid/v1/jwks).

    A facade that only accepts that issuer's JWTs for its own audience, with TokenReview off,
    names callers `oidc:<sub>`; RBAC bound to that user decides, as for any other caller.
    """
    from kubernetes import client
    from tda_api import Settings

    rbac = client.RbacAuthorizationV1Api(api_client)
    # Key discovery is public, as a cluster offering its issuer to relying parties configures it.
    discovery = f"oidc-discovery-{uuid.uuid4().hex[:6]}"
    rbac.create_cluster_role_binding({
        "metadata": {"name": discovery},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:service-account-issuer-discovery"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}],
    })
    oidc_user = f"oidc:system:serviceaccount:{alice.namespace}:{alice.name}"
    rbac.create_namespaced_role_binding(alice.namespace, {
        "metadata": {"name": "alice-oidc"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{alice.name}-tda"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": oidc_user}],
    })
    admin = yaml.safe_load(Path(platform.kubeconfig).read_text())
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(admin["clusters"][0]["cluster"]["certificate-authority-data"]))
    settings = Settings(kubeconfig=str(facade_kubeconfig), token_review=False, oidc_issuer_url=SA_ISSUER,
                        oidc_audience=OIDC_AUDIENCE, oidc_jwks_url=f"{platform.api_url}/openid/v1/jwks",
                        oidc_ca_file=str(ca), oidc_username_prefix="oidc:", access_review_ttl=1.0)

    def token(user: User, audience: str) -> dict[str, str]:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": [audience], "expirationSeconds": 600}}
        issued = core.create_namespaced_service_account_token(user.name, user.namespace, body).status.token
        return {"Authorization": f"Bearer {issued}"}

    try:
        with serve_facade(settings) as url, httpx.Client(base_url=url, timeout=30) as oidc:
            assert oidc.get(jobs_path(alice.namespace), headers=token(alice, OIDC_AUDIENCE)).status_code == 200
            # Bob's JWT verifies, but nothing is bound to oidc:…:bob in alice's namespace.
            assert_problem(oidc.get(jobs_path(alice.namespace), headers=token(bob, OIDC_AUDIENCE)), 403)
            # A token for another audience (the API server's own) is not this facade's to accept.
            assert_problem(oidc.get(jobs_path(alice.namespace), headers=alice.headers), 401)
            forged = token(alice, OIDC_AUDIENCE)["Authorization"][:-8] + "AAAAAAAA"
            assert_problem(oidc.get(jobs_path(alice.namespace), headers={"Authorization": forged}), 401)
    finally:
        rbac.delete_cluster_role_binding(discovery)
