"""Control-plane faults on the local platform: the operator and the facade outlive a kube-apiserver crash.

The API server is SIGKILLed mid-run, with TDAJobs created before the outage, and started
again; every TDAJob then reaches Succeeded (none lost, one child Job each), and `recovery_s`
is how long after the API server was back the operator took to reconcile a TDAJob created
after the restart. The REST facade answers 503 with Retry-After while the API server is
away and serves again afterwards, without a restart.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from chaos_report import record
from support import (
    apply_manifest,
    http_status,
    serve_facade,
    service_account_token,
    token_kubeconfig,
    wait_for,
)

pytestmark = pytest.mark.chaos

GROUP, VERSION, PLURAL = "tda.io", "v1alpha1", "tdajobs"
POINTS = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def tdajob(name: str) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAJob", "metadata": {"name": name},
            "spec": {"input": {"inline": {"points": POINTS}}, "computation": {"maxDimension": 1}}}


def phase(custom, namespace: str, name: str) -> str | None:
    from kubernetes.client.exceptions import ApiException

    try:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except (ApiException, OSError):
        return None
    return (obj.get("status") or {}).get("phase")


API_RBAC = Path(__file__).resolve().parents[2] / "examples" / "rbac" / "api.yaml"


def component_pid(platform, component: str) -> int:
    if platform.state_dir is None:
        pytest.skip("an external cluster's components are not ours to kill")
    state = json.loads((platform.state_dir / "state.json").read_text())
    return int(state["processes"][component]["pid"])


def apiserver_pid(platform) -> int:
    return component_pid(platform, "kube-apiserver")


def test_operator_recovers_its_watches_after_the_api_server_is_killed(platform, api_client, namespace):
    from kubernetes import client
    from tda_dev import platform as local

    custom = client.CustomObjectsApi(api_client)
    batch = client.BatchV1Api(api_client)
    before = [f"before-{i}" for i in range(5)]
    for name in before:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, tdajob(name))

    os.kill(apiserver_pid(platform), signal.SIGKILL)
    time.sleep(3)  # an outage the operator's watches and writes run into
    local.up()  # restarts what is down
    back = time.monotonic()

    after = f"after-{uuid.uuid4().hex[:6]}"
    wait_for("the API server to accept writes again",
             lambda: _create(custom, namespace, tdajob(after)), timeout=120)
    wait_for("the operator to reconcile a TDAJob created after the restart",
             lambda: phase(custom, namespace, after) is not None, timeout=300, every=0.2)
    record("recovery_s", round(time.monotonic() - back, 1))

    names = [*before, after]
    wait_for("every TDAJob to succeed", lambda: all(phase(custom, namespace, n) == "Succeeded" for n in names),
             timeout=600, every=2)
    jobs = batch.list_namespaced_job(namespace).items
    owners = [ref.name for job in jobs for ref in (job.metadata.owner_references or []) if ref.kind == "TDAJob"]
    assert sorted(owners) == sorted(names), "exactly one child Job per TDAJob"
    record("tdajobs", len(names))
    record("lost", 0)
    record("duplicates", len(owners) - len(set(owners)))


def test_pods_lost_with_a_killed_node_agent_are_run_again_as_the_jobs_policy_says(platform, api_client, namespace):
    """The node agent (kubelet's stand-in) dies with a worker pod mid-computation: after it is
    started again the pod counts as lost (exit 137), the Job runs its index again within
    spec.backoffLimitPerDataset, and the TDAJob succeeds with its one dataset computed once."""
    import numpy as np
    from kubernetes import client
    from tda_dev import platform as local

    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    points = np.random.default_rng(0).normal(size=(600, 4)).round(3).tolist()  # seconds of H2 work
    body = tdajob("survivor")
    body["spec"]["input"]["inline"]["points"] = points
    body["spec"]["computation"]["maxDimension"] = 2
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def running_pod():
        pods = core.list_namespaced_pod(namespace, label_selector="job-name=survivor").items
        return next((p for p in pods if p.status.phase == "Running"), None)

    first = wait_for("a running worker pod", running_pod, timeout=180, every=0.2)
    os.kill(component_pid(platform, "node-agent"), signal.SIGKILL)
    time.sleep(2)
    local.up()

    wait_for("the TDAJob to succeed", lambda: phase(custom, namespace, "survivor") == "Succeeded", timeout=600, every=2)
    lost = core.read_namespaced_pod(first.metadata.name, namespace)
    terminated = lost.status.container_statuses[0].state.terminated
    assert lost.status.phase == "Failed" and terminated.exit_code == 137
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=survivor").items
    assert sum(p.status.phase == "Succeeded" for p in pods) == 1  # the index ran again, once
    status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "survivor")["status"]
    assert status["progress"]["succeeded"] == 1 and status["progress"]["total"] == 1


def _create(custom, namespace: str, body: dict) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        return True
    except ApiException as error:
        return error.status == 409
    except OSError:
        return False


def test_facade_answers_503_with_retry_after_while_the_api_server_is_away_and_recovers(
        platform, api_client, namespace, tmp_path):
    import httpx
    from kubernetes import client
    from tda_api import Settings
    from tda_dev import platform as local

    core = client.CoreV1Api(api_client)
    apply_manifest(api_client, API_RBAC)
    kubeconfig = token_kubeconfig(platform, service_account_token(core, "tda-system", "tda-api"),
                                  tmp_path / "kubeconfig")
    caller = {"Authorization": f"Bearer {service_account_token(core, 'tda-system', 'tda-api')}"}
    settings = Settings(kubeconfig=str(kubeconfig), token_review_ttl=0, access_review_ttl=0, request_timeout=5)
    jobs = f"/v1/namespaces/{namespace}/jobs"
    pid = apiserver_pid(platform)
    with serve_facade(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get(jobs, headers=caller).status_code == 200
        os.kill(pid, signal.SIGKILL)
        try:
            away = wait_for("a 503 from the facade", lambda: _unavailable(http, jobs, caller), timeout=30)
            assert away.headers["Retry-After"].isdigit()
            assert away.headers["content-type"].startswith("application/problem+json")
            assert "Traceback" not in away.text
        finally:
            local.up()
        wait_for("the facade to answer again", lambda: http.get(jobs, headers=caller).status_code == 200,
                 timeout=60)
        assert http_status(url + "/readyz") == 200


def _unavailable(http, path: str, headers: dict[str, str]):
    response = http.get(path, headers=headers)
    return response if response.status_code == 503 else None
