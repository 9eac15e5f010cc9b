"""The app without a cluster: routing, problem+json everywhere, 401 before anything, 503 when the
API server is unreachable, OpenAPI from the CRD models, metrics by route template."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from tda_api import Settings, create_app
from tda_dev.net import free_port

pytestmark = pytest.mark.unit


@pytest.fixture
def client(tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "facade-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    with TestClient(create_app(Settings(kubeconfig=str(kubeconfig), request_timeout=2))) as test_client:
        yield test_client


def is_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def test_health_is_up_but_not_ready_without_an_api_server(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    is_problem(client.get("/readyz"), 503)


def test_api_needs_a_token_and_an_unreachable_api_server_is_503(client):
    is_problem(client.get("/v1/namespaces/a/jobs"), 401)
    doc = is_problem(client.get("/v1/namespaces/a/jobs", headers={"Authorization": "Bearer t"}), 503)
    assert "t" not in doc["detail"].split()


def test_unknown_routes_and_methods_are_problems(client):
    is_problem(client.get("/nowhere"), 404)
    is_problem(client.put("/healthz"), 405)


def test_openapi_describes_jobs_and_streams_with_the_crd_models(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"TDAJobSpec", "TDAStreamSpec", "JobCreate", "JobResult"} <= set(schemas)
    create = spec["paths"]["/v1/namespaces/{namespace}/jobs"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobCreate")
    assert "/v1/namespaces/{namespace}/streams/{name}/latest" in spec["paths"]


def test_metrics_label_requests_by_route_template(client):
    client.get("/healthz")
    client.get("/v1/namespaces/some-namespace/jobs/some-name")
    text = client.get("/metrics").text
    assert 'tda_api_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "some-namespace" not in text and "some-name" not in text
