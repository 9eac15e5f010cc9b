"""Schemathesis' stateful run against the REST facade: sequences of calls that follow the API's
own OpenAPI links (create a job, then read it, its result and picture, delete it ...), with
generated valid and invalid inputs, as a real caller. No call may end in a 5xx."""

from __future__ import annotations

import uuid

import pytest
from support import apply_manifest, serve_facade, service_account_token, token_kubeconfig

pytestmark = pytest.mark.chaos
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"


def caller_in(api_client, namespace: str) -> dict[str, str]:
    """A ServiceAccount that may manage TDAJobs and TDAStreams and read ConfigMaps in ``namespace``."""
    from kubernetes import client

    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "caller"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "caller"}, "rules": [
        {"apiGroups": ["tda.io"], "resources": ["tdajobs", "tdastreams"],
         "verbs": ["get", "list", "watch", "create", "delete"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "caller"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "caller"},
        "subjects": [{"kind": "ServiceAccount", "name": "caller", "namespace": namespace}]})
    return {"Authorization": f"Bearer {service_account_token(core, namespace, 'caller')}"}


def test_stateful_sequences_following_the_openapi_links_never_get_a_5xx(platform, api_client, namespace, tmp_path):
    import httpx
    import schemathesis
    from hypothesis import HealthCheck, settings
    from kubernetes import client
    from tda_api import Settings

    apply_manifest(api_client, EXAMPLES / "rbac" / "api.yaml")
    kubeconfig = token_kubeconfig(platform, service_account_token(client.CoreV1Api(api_client), "tda-system",
                                                                  "tda-api"), tmp_path / "kubeconfig")
    headers = caller_in(api_client, namespace)
    custom = client.CustomObjectsApi(api_client)
    with serve_facade(Settings(kubeconfig=str(kubeconfig), access_review_ttl=1.0)) as url:
        spec = httpx.get(url + "/openapi.json", timeout=30).json()
        post = spec["paths"]["/v1/namespaces/{namespace}/jobs"]["post"]
        assert "get_job" in post["responses"]["201"]["links"]  # what the state machine follows
        schema = schemathesis.openapi.from_dict(spec)
        failures: list[str] = []
        statuses: dict[int, int] = {}

        class Facade(schema.as_state_machine()):  # type: ignore[misc]
            def before_call(self, case) -> None:
                case.path_parameters = {**(case.path_parameters or {}), "namespace": namespace}
                if case.operation.path.endswith("/events"):  # a live stream does not end by itself
                    case.path_parameters["name"] = f"none-{uuid.uuid4().hex[:6]}"

            def get_call_kwargs(self, case) -> dict:
                return {"base_url": url, "headers": headers, "timeout": 30}

            def teardown(self) -> None:
                # Each sequence starts from an empty namespace, so that replaying it meets the same answers.
                for plural in ("tdajobs", "tdastreams"):
                    custom.delete_collection_namespaced_custom_object("tda.io", "v1alpha1", namespace, plural)

            def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append(f"{case.operation.method.upper()} {case.operation.path}: {response.status_code}")

        # Derandomized: the same sequences every run, so that a run whose every generated create
        # is refused cannot pass one day and fail the next.
        Facade.run(settings=settings(max_examples=40, stateful_step_count=6, deadline=None, database=None,
                                     derandomize=True, suppress_health_check=list(HealthCheck)))
    assert not failures, failures
    assert statuses.get(201, 0) and sum(statuses.values()) >= 40, statuses
