"""A TDAJob path users can trust, tried as an attacker would, on the local platform.

No Secret or token leaks through status, Events or logs; the operator never reads user
Secrets (the API server's audit log says so); a worker of one TDAJob can change nothing
of another's; pods meet the `restricted` Pod Security Standard; results survive their
pods; a lost status write converges; 10,000 datasets run in one TDAJob.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import wait_for
from test_tdajob import (  # noqa: F401 - fixtures
    GROUP,
    PLURAL,
    VERSION,
    batch,
    core,
    create,
    custom,
    get,
    noisy_circle,
    operator,
    wait_phase,
)

pytestmark = pytest.mark.integration

OPERATOR_USER = "system:serviceaccount:tda-system:tda-operator"


def local_platform(platform) -> Path:
    if platform.external:
        pytest.skip("needs the local platform's own operator identity and audit log")
    return Path(platform.state_dir)


@pytest.fixture
def ns(namespace, core):  # noqa: F811 - the fixture above
    """A fresh namespace whose default ServiceAccount exists (pods need it)."""
    wait_for("the default ServiceAccount", lambda: any(
        sa.metadata.name == "default" for sa in core.list_namespaced_service_account(namespace).items), timeout=30)
    return namespace


def run_pod(core, namespace: str, script: str, *, name: str | None = None, generate: str | None = None,  # noqa: F811
            service_account: str = "default", volumes: list | None = None, mounts: list | None = None) -> Any:
    """Run `python3 -c script` to the end; returns the finished pod."""
    meta: dict[str, Any] = {"name": name} if name else {"generateName": generate}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {
        "restartPolicy": "Never", "serviceAccountName": service_account, "volumes": volumes or [],
        "containers": [{"name": "main", "image": "python:3.11-slim", "command": ["python3", "-c", script],
                        "volumeMounts": mounts or []}]}}
    created = core.create_namespaced_pod(namespace, body)
    pod_name = created.metadata.name

    def finished():
        pod = core.read_namespaced_pod(pod_name, namespace)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    return wait_for(f"pod {pod_name}", finished, timeout=120)


def termination_message(pod) -> str:
    return pod.status.container_statuses[0].state.terminated.message or ""


def everything_said(core, custom, namespace: str) -> str:  # noqa: F811
    """Every status, Event and pod log of the namespace, as one text to search."""
    parts = [json.dumps(obj.get("status") or {}) for obj in
             custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]]
    parts += [f"{e.reason} {e.message}" for e in core.list_namespaced_event(namespace).items]
    for pod in core.list_namespaced_pod(namespace).items:
        parts.append(pod.status.container_statuses[0].state.terminated.message or ""
                     if pod.status.container_statuses and pod.status.container_statuses[0].state.terminated else "")
        with contextlib.suppress(Exception):  # a pod not started has no log
            parts.append(core.read_namespaced_pod_log(pod.metadata.name, namespace))
    return "\n".join(parts)


# ------------------------------------------------------------------------- admission


@pytest.mark.parametrize(("case", "spec", "name", "message"), [
    ("long-name", {"input": {"inline": {"points": [[0.0]]}}}, "n" * 64, "at most 51 characters"),
    ("ragged", {"input": {"inline": {"points": [[0.0, 1.0], [2.0]]}}}, None, "same number of coordinates"),
    ("proc", {"input": {"url": "file:///proc/self/environ", "volume": {"claimName": "d"}}}, None,
     "must lie beneath file:///data/"),
    ("dotdot", {"input": {"url": "file:///data/../proc/self/environ", "volume": {"claimName": "d"}}}, None,
     "spec.input.url"),
    ("encoded", {"input": {"url": "file:///data/%2e%2e/etc/passwd", "volume": {"claimName": "d"}}}, None,
     "spec.input.url"),
    ("prefix", {"input": {"datasets": {"urlPrefix": "file:///etc/"}, "volume": {"claimName": "d"}}}, None,
     "spec.input.datasets.urlPrefix"),
    ("output-on-input", {"input": {"inline": {"points": [[0.0]]}}, "output": {"url": "file:///data/out/"}}, None,
     "spec.output.url"),
    ("output-without-volume", {"input": {"inline": {"points": [[0.0]]}}, "output": {"url": "file:///output/r/"}},
     None, "spec.output.volume"),
])
def test_admission_refuses_what_cannot_be_run_safely(platform, custom, ns, case, spec, name, message):  # noqa: F811
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        create(custom, ns, name or f"bad-{case}", spec)
    assert refused.value.status == 422, refused.value.body
    assert message in refused.value.body, refused.value.body


def test_the_longest_allowed_name_runs(platform, operator, custom, ns):  # noqa: F811
    name = "n" * 51
    create(custom, ns, name, {"input": {"inline": {"points": noisy_circle(12).round(4).tolist()}}})
    assert wait_phase(custom, ns, name, {"Succeeded", "Failed"})["status"]["phase"] == "Succeeded"


def test_a_finished_phase_is_final_even_for_the_api(platform, operator, custom, ns):  # noqa: F811
    from kubernetes.client.exceptions import ApiException

    create(custom, ns, "final", {"input": {"inline": {"points": noisy_circle(10).round(4).tolist()}}})
    wait_phase(custom, ns, "final", {"Succeeded"})
    with pytest.raises(ApiException) as refused:
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, "final",
                                                     {"status": {"phase": "Running"}})
    assert "keeps its phase" in refused.value.body


def test_http_inputs_are_refused_unless_the_platform_allows_them(platform, operator, custom, core, ns):  # noqa: F811
    create(custom, ns, "plain", {"input": {"url": "http://127.0.0.1:9/x.npy"}})
    status = wait_phase(custom, ns, "plain", {"Failed", "Succeeded"})["status"]
    assert status["reason"] == "InvalidInput" and "http:// is not allowed" in status["message"]
    assert not core.list_namespaced_pod(ns).items  # refused before any pod ran


# ------------------------------------------------------------------------- leaks


@pytest.fixture
def volume_with_traps(platform, core, ns):  # noqa: F811
    """PVC `data`: one good cloud, symlinks to the token and the environment, a way up, a huge file."""
    core.create_namespaced_persistent_volume_claim(ns, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    script = (
        "import os\n"
        "open('/data/good.txt','w').write('0 0\\n1 0\\n0 1\\n')\n"
        "os.symlink('/var/run/secrets/kubernetes.io/serviceaccount/token', '/data/token.txt')\n"
        "os.symlink('/proc/self/environ', '/data/environ.txt')\n"
        "os.symlink('..', '/data/up')\n"
        "os.makedirs('/data/sub')\n"
        "os.symlink('../../etc', '/data/sub/etc')\n"
        "with open('/data/huge.txt','wb') as f: f.truncate(100 * 1024 * 1024)\n"
    )
    pod = run_pod(core, ns, script, name="fill", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
                  mounts=[{"name": "d", "mountPath": "/data"}])
    assert pod.status.phase == "Succeeded", termination_message(pod)
    core.delete_namespaced_pod("fill", ns)
    return "data"


def test_no_path_leaks_a_secret_or_a_token(platform, operator, custom, core, ns, volume_with_traps):  # noqa: F811
    from kubernetes import client
    from tda_dev import objectstore

    secret_values = [f"key-{uuid.uuid4().hex}", f"secret-{uuid.uuid4().hex}"]  # values no one could guess
    body = objectstore.credentials_secret(objectstore.endpoint_url(), ns, "leaky")
    body["stringData"].update(AWS_ACCESS_KEY_ID=secret_values[0], AWS_SECRET_ACCESS_KEY=secret_values[1])
    core.create_namespaced_secret(ns, body)
    rbac = client.RbacAuthorizationV1Api(core.api_client)
    role, binding = objectstore.worker_secret_grant(ns, "leaky")
    rbac.create_namespaced_role(ns, role)
    rbac.create_namespaced_role_binding(ns, binding)
    common = {"volume": {"claimName": volume_with_traps}, "credentialsSecret": "leaky",
              "format": "lower-distance-matrix"}
    attempts = {
        "token": "file:///data/token.txt",
        "environ": "file:///data/environ.txt",
        "up": "file:///data/up/etc/passwd",
        "nested": "file:///data/sub/etc/passwd",
        "huge": "file:///data/huge.txt",
    }
    for name, url in attempts.items():
        create(custom, ns, name, {"input": {"url": url, **common}})
    create(custom, ns, "listing", {"input": {"datasets": {"urlPrefix": "file:///data/"}, **common}})
    for name in attempts:
        status = wait_phase(custom, ns, name, {"Failed", "Succeeded"})["status"]
        assert status["phase"] == "Failed" and status["reason"] == "InvalidInput", (name, status)
        expected = "download limit" if name == "huge" else "leaves the input volume"
        assert expected in status["message"], (name, status["message"])
    listing = wait_phase(custom, ns, "listing", {"Failed", "Succeeded"})["status"]
    # Symlinks are not listed: good.txt and huge.txt are the datasets; the huge one fails.
    assert listing["progress"]["total"] == 2 and listing["progress"]["succeeded"] == 1, listing
    said = everything_said(core, custom, ns)
    for value in secret_values:
        assert value not in said
    assert "eyJ" not in said  # no service-account token (a JWT) anywhere
    assert "AWS_" not in said and "KUBERNETES_SERVICE" not in said


def test_a_secret_the_worker_may_not_read_fails_cleanly_and_the_operator_never_touches_it(
        platform, operator, custom, core, ns):  # noqa: F811
    state = local_platform(platform)
    core.create_namespaced_secret(ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other-team"},
                                       "stringData": {"AWS_SECRET_ACCESS_KEY": "not-for-tda"}})
    create(custom, ns, "deputy", {"input": {"url": "s3://tda/x.npy", "credentialsSecret": "other-team"}})
    status = wait_phase(custom, ns, "deputy", {"Failed", "Succeeded"})["status"]
    assert status["phase"] == "Failed" and status["reason"] == "InvalidInput", status
    assert "may not read this Secret" in status["message"]
    assert "not-for-tda" not in everything_said(core, custom, ns)
    audit = [json.loads(line) for line in (state / "logs" / "audit.log").read_text().splitlines() if line]
    secret_reads = [e for e in audit if (e.get("objectRef") or {}).get("resource") == "secrets"
                    and (e.get("objectRef") or {}).get("namespace") == ns]
    assert any(e["user"]["username"] == f"system:serviceaccount:{ns}:tda-worker"
               and e["responseStatus"]["code"] == 403 for e in secret_reads), "the worker asked, and was refused"
    assert not [e for e in audit if e["user"]["username"] == OPERATOR_USER
                and (e.get("objectRef") or {}).get("resource") == "secrets"]


# ------------------------------------------------------------------------- isolation


ATTACK = """
import json
from kubernetes import client, config
config.load_incluster_config()
core = client.CoreV1Api()
custom = client.CustomObjectsApi()
def cm(name, tdajob):
    return {"metadata": {"name": name, "labels": {"tda.io/tdajob": tdajob}}}
def attempt(what, call):
    try:
        call()
        return "allowed"
    except client.ApiException as e:
        return e.status
out = {
    "create-other": attempt("c", lambda: core.create_namespaced_config_map(NS, cm("victim-result-0", "victim"))),
    "create-own-other-label": attempt("c", lambda: core.create_namespaced_config_map(NS, cm("mallory-result-8", "victim"))),
    "update-other": attempt("u", lambda: core.patch_namespaced_config_map("victim-result-0", NS, {"data": {"x": "y"}})),
    "update-own": attempt("u", lambda: core.patch_namespaced_config_map("mallory-result-0", NS, {"data": {"x": "y"}})),
    "delete-other": attempt("d", lambda: core.delete_namespaced_config_map("victim-result-0", NS)),
    "status-other": attempt("s", lambda: custom.patch_namespaced_custom_object_status(
        "tda.io", "v1alpha1", NS, "tdajobs", "victim", {"status": {"phase": "Failed"}})),
    "create-own": attempt("c", lambda: core.create_namespaced_config_map(NS, cm("mallory-result-9", "mallory"))),
}
open("/dev/termination-log", "w").write(json.dumps(out))
"""


def test_a_worker_of_one_tdajob_can_change_nothing_of_another(platform, operator, custom, core, ns):  # noqa: F811
    points = noisy_circle(12).round(4).tolist()
    for name in ("victim", "mallory"):
        create(custom, ns, name, {"input": {"inline": {"points": points}}})
    for name in ("victim", "mallory"):
        assert wait_phase(custom, ns, name, {"Succeeded", "Failed"})["status"]["phase"] == "Succeeded"
    before = core.read_namespaced_config_map("victim-result-0", ns)
    # A pod of mallory's (named as the Job controller names them) under the worker identity.
    pod = run_pod(core, ns, ATTACK.replace("NS", repr(ns)), generate="mallory-0-",
                  service_account="tda-worker")
    outcome = json.loads(termination_message(pod))
    assert outcome == {"create-other": 403, "create-own-other-label": 403, "update-other": 403,
                       "update-own": 403, "delete-other": 403, "status-other": 403, "create-own": "allowed"}, outcome
    after = core.read_namespaced_config_map("victim-result-0", ns)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert get(custom, ns, "victim")["status"]["phase"] == "Succeeded"


# ------------------------------------------------------------------------- pod security and creation failures


def test_a_restricted_namespace_runs_a_tdajob(platform, operator, custom, core, ns):  # noqa: F811
    core.patch_namespace(ns, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                                      "pod-security.kubernetes.io/enforce-version": "latest"}}})
    create(custom, ns, "strict", {"input": {"inline": {"points": noisy_circle(16).round(4).tolist()}}})
    assert wait_phase(custom, ns, "strict", {"Succeeded", "Failed"})["status"]["phase"] == "Succeeded"


def test_pods_the_job_cannot_create_are_reported(platform, operator, custom, core, ns):  # noqa: F811
    core.create_namespaced_resource_quota(ns, {"apiVersion": "v1", "kind": "ResourceQuota",
                                               "metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}})
    create(custom, ns, "blocked", {"input": {"inline": {"points": noisy_circle(8).round(4).tolist()}}})

    def reported():
        status = get(custom, ns, "blocked").get("status") or {}
        return status if status.get("reason") == "QuotaExceeded" else None

    status = wait_for("the quota to be reported", reported, timeout=90)
    assert status["phase"] == "Pending" and "ResourceQuota" in status["message"]
    assert "no-pods" not in status["message"]  # our words, not the Event's
    core.delete_namespaced_resource_quota("no-pods", ns)
    assert wait_phase(custom, ns, "blocked", {"Succeeded", "Failed"}, timeout=180)["status"]["phase"] == "Succeeded"


# ------------------------------------------------------------------------- durability


@pytest.fixture
def s3(platform, ns):
    """Bucket `tda` on the platform's object store, and Secret s3-creds (readable by the workers)."""
    from tda_dev import objectstore

    url = objectstore.endpoint_url()
    objectstore.apply_credentials_secret(platform.kubeconfig, ns, url)
    return objectstore.client(url)


def npy(points: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, points)
    return buffer.getvalue()


def expected_counts(clouds: list[np.ndarray]) -> list[int]:
    import tda_core

    totals = [0, 0]
    for cloud in clouds:
        for dim, diagram in enumerate(tda_core.rips_persistence(cloud, max_dim=1)):
            totals[dim] += int(np.sum(diagram[:, 1] > diagram[:, 0]))
    return totals


def test_deleting_the_pods_of_a_finished_index_changes_nothing(platform, operator, custom, core, ns, s3):  # noqa: F811
    clouds = [noisy_circle(16, seed=i) for i in range(4)]
    for i, cloud in enumerate(clouds):
        s3.put_object(Bucket="tda", Key=f"{ns}/keep/c{i}.npy", Body=npy(cloud))
    create(custom, ns, "kept", {"input": {"datasets": {"urlPrefix": f"s3://tda/{ns}/keep/"},
                                          "credentialsSecret": "s3-creds"}, "shards": 2, "parallelism": 1})
    wait_for("index 0's record", lambda: core.list_namespaced_config_map(ns, field_selector="metadata.name=kept-result-0").items)
    for pod in core.list_namespaced_pod(ns, label_selector="tda.io/tdajob=kept").items:
        if pod.status.phase == "Succeeded":
            core.delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
    status = wait_phase(custom, ns, "kept", {"Succeeded", "Failed"})["status"]
    assert status["phase"] == "Succeeded", status
    assert status["progress"]["succeeded"] == 4 and status["progress"]["total"] == 4
    assert status["summary"]["intervalCounts"] == expected_counts(clouds)
    for pod in core.list_namespaced_pod(ns, label_selector="tda.io/tdajob=kept").items:
        core.delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
    time.sleep(3)  # the operator sees the deletions; a final status stays as it is
    assert get(custom, ns, "kept")["status"] == status


def test_a_lost_status_write_converges(platform, operator, custom, core, ns):  # noqa: F811
    """The operator may not write status for a while (its RBAC loses the right); it retries and converges."""
    from kubernetes import client

    local_platform(platform)
    rbac = client.RbacAuthorizationV1Api(core.api_client)
    role = rbac.read_cluster_role("tda-operator")
    original = core.api_client.sanitize_for_serialization(role.rules)
    without_status = [r for r in original if "tdajobs/status" not in (r.get("resources") or [])]
    rbac.patch_cluster_role("tda-operator", {"rules": without_status})
    try:
        create(custom, ns, "retried", {"input": {"inline": {"points": noisy_circle(12).round(4).tolist()}}})
        wait_for("the run's record", lambda: core.list_namespaced_config_map(
            ns, field_selector="metadata.name=retried-result-0").items, timeout=120)
        assert not (get(custom, ns, "retried").get("status") or {}).get("phase")
    finally:
        rbac.patch_cluster_role("tda-operator", {"rules": original})
    status = wait_phase(custom, ns, "retried", {"Succeeded", "Failed"}, timeout=120)["status"]
    assert status["phase"] == "Succeeded" and status["progress"]["succeeded"] == 1


def test_ten_thousand_datasets_in_one_tdajob(platform, operator, custom, ns, s3):  # noqa: F811
    from concurrent.futures import ThreadPoolExecutor

    n = 10_000
    rng = np.random.default_rng(7)
    clouds = [rng.normal(size=(6, 2)).round(4) for _ in range(n)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket="tda", Key=f"{ns}/many/c{i:05d}.npy", Body=npy(clouds[i])),
                      range(n)))
    create(custom, ns, "tenk", {
        "input": {"datasets": {"urlPrefix": f"s3://tda/{ns}/many/", "pattern": "*.npy"},
                  "credentialsSecret": "s3-creds"},
        "computation": {"maxDimension": 1},
        "output": {"url": f"s3://tda/{ns}/many-results/"},
        "shards": 4, "parallelism": 2,
    })
    status = wait_phase(custom, ns, "tenk", {"Succeeded", "Failed"}, timeout=1200)["status"]
    assert status["phase"] == "Succeeded", status
    assert status["progress"] == {"total": n, "succeeded": n, "failed": 0, "running": 0, "text": f"{n}/{n}"}
    assert status["summary"]["intervalCounts"] == expected_counts(clouds)
    stored = sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket="tda", Prefix=f"{ns}/many-results/"))
    assert stored == 2 * n

