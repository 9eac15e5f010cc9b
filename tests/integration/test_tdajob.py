"""TDAJob end to end on the local platform: the API server's validation, the operator,
the Job controller and garbage collector, and the real `tda-compute` worker in pods.

The operator is the platform's own (the Helm chart's operator pod, run by the node agent
under the chart's ServiceAccount and RBAC), or, on a platform without one, a subprocess of
this session (`tda-operator run`).
"""

from __future__ import annotations

import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import http_status, wait_for
from tda_dev.net import free_port

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "tda.io", "v1alpha1", "tdajobs"


# ------------------------------------------------------------------------------ helpers


class OperatorProcess:
    """`tda-operator run` as a child process that a test may kill and restart."""

    def __init__(self, kubeconfig: str, log_path: Path) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, KUBECONFIG=self.kubeconfig)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tda_operator.cli", "run", "--all-namespaces",
             "--metrics-port", str(self.metrics_port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for("the operator's /healthz", self.healthy, timeout=30)

    def healthy(self) -> bool:
        return http_status(f"http://127.0.0.1:{self.metrics_port}/healthz") == 200

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def kill(self) -> None:
        """SIGKILL: no clean-up, as a crash or an OOM kill would leave it."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _platform_operator_state(platform) -> dict[str, int] | None:
    """pid and metrics port of the chart's operator pod on the local node, if one runs."""
    from tda_dev import chart_service

    if platform.state_dir is None:
        return None
    try:
        state = json.loads((Path(platform.state_dir) / "state.json").read_text())
        pids = chart_service.operator_pids(Path(platform.state_dir), Path(platform.kubeconfig))
        if len(pids) != 1:
            return None
        return {"pid": pids[0], "port": int(state["ports"][chart_service.OPERATOR_PORT])}
    except (OSError, KeyError, ValueError, TypeError):
        return None


class PlatformOperator(OperatorProcess):
    """The chart's operator pod: its process killed like a crash, restarted by the node agent (as by kubelet)."""

    def __init__(self, platform, log_path: Path) -> None:
        super().__init__(str(platform.kubeconfig), log_path)
        self.platform = platform
        state = _platform_operator_state(platform)
        assert state is not None
        self.metrics_port = state["port"]

    def start(self) -> None:
        wait_for("the operator pod's container to be restarted", self.healthy, timeout=90)

    def kill(self) -> None:
        state = _platform_operator_state(self.platform)
        assert state is not None
        os.killpg(state["pid"], signal.SIGKILL)
        wait_for("the operator to go away", lambda: not self.healthy(), timeout=10)

    def stop(self) -> None:
        """The platform owns it."""


@pytest.fixture(scope="session")
def operator(platform, tmp_path_factory) -> Iterator[OperatorProcess]:
    """The operator under test: the platform's own service if it runs one, else a child process."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    if _platform_operator_state(platform) is not None:
        yield PlatformOperator(platform, log_path)
        return
    proc = OperatorProcess(str(platform.kubeconfig), log_path)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def custom(api_client):
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


@pytest.fixture
def batch(api_client):
    from kubernetes import client

    return client.BatchV1Api(api_client)


@pytest.fixture
def core(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


def tdajob_body(name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TDAJob",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }


def create(custom, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, tdajob_body(name, spec), field_validation="Strict"
    )


def get(custom, namespace: str, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def wait_phase(custom, namespace: str, name: str, phases: set[str], timeout: float = 180.0) -> dict[str, Any]:
    def reached():
        obj = get(custom, namespace, name)
        return obj if (obj.get("status") or {}).get("phase") in phases else None

    try:
        return wait_for(f"TDAJob {name} in {phases}", reached, timeout)
    except pytest.fail.Exception:
        print(json.dumps(get(custom, namespace, name).get("status"), indent=1))
        raise


def inline_spec(points: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {"input": {"inline": {"points": points.round(6).tolist()}}, "computation": {"maxDimension": 1}, **extra}


def noisy_circle(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(angles), np.sin(angles)] + rng.normal(0, 0.05, (n, 2))


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# ----------------------------------------------------------------- validation by the API server

VALID = {"input": {"inline": {"points": [[0.0, 0.0], [1.0, 1.0]]}}}

MALFORMED = [
    ("no-input", {}, "spec.input"),
    ("two-inputs", {"input": {"inline": {"points": [[0.0]]}, "url": "s3://b/k.npy"}}, "exactly one of"),
    ("no-source", {"input": {"format": "npy"}}, "exactly one of"),
    ("url-scheme", {"input": {"url": "ftp://host/x.npy"}}, "spec.input.url"),
    ("max-dimension", {**VALID, "computation": {"maxDimension": 7}}, "spec.computation.maxDimension"),
    ("coefficient", {**VALID, "computation": {"coefficient": 4}}, "spec.computation.coefficient"),
    ("complex", {**VALID, "computation": {"complex": "alpha"}}, "spec.computation.complex"),
    ("metric", {**VALID, "computation": {"metric": "hamming"}}, "spec.computation.metric"),
    ("threshold", {**VALID, "computation": {"threshold": -1}}, "spec.computation.threshold"),
    ("cubical-threshold", {**VALID, "computation": {"complex": "cubical", "threshold": 1}},
     "spec.computation.threshold"),
    ("features", {**VALID, "computation": {"features": ["diagrams", "diagrams"]}}, "spec.computation.features"),
    ("parallelism", {**VALID, "parallelism": 0}, "spec.parallelism"),
    ("unknown-field", {**VALID, "paralelism": 2}, "spec.paralelism"),
    ("empty-points", {"input": {"inline": {"points": []}}}, "spec.input.inline.points"),
    ("point-type", {"input": {"inline": {"points": [["a", "b"]]}}}, "spec.input.inline.points"),
    ("file-without-volume", {"input": {"url": "file:///data/x.npy"}}, "spec.input.volume"),
    ("secret-name", {"input": {"url": "s3://b/k.npy", "credentialsSecret": "Not_A_Name"}},
     "spec.input.credentialsSecret"),
    ("backoff", {**VALID, "backoffLimitPerDataset": -1}, "spec.backoffLimitPerDataset"),
    ("system-priority", {**VALID, "priorityClassName": "system-node-critical"}, "spec.priorityClassName"),
    ("priority-name", {**VALID, "priorityClassName": "Not_A_Name"}, "spec.priorityClassName"),
]


@pytest.mark.parametrize(("case", "spec", "field"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_spec_is_refused_naming_the_field(platform, custom, namespace, case, spec, field):
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        create(custom, namespace, f"bad-{case}", spec)
    assert refused.value.status in (400, 422), refused.value.body
    assert field in refused.value.body, refused.value.body


def test_input_and_computation_are_immutable(platform, operator, custom, namespace):
    from kubernetes.client.exceptions import ApiException

    create(custom, namespace, "frozen", {**VALID, "suspend": True})
    for patch, field in (
        ({"spec": {"input": {"inline": {"points": [[5.0, 5.0]]}}}}, "spec.input is immutable"),
        ({"spec": {"computation": {"maxDimension": 0}}}, "spec.computation is immutable"),
        ({"spec": {"priorityClassName": "low"}}, "spec.priorityClassName is immutable"),
    ):
        with pytest.raises(ApiException) as refused:
            custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "frozen", patch)
        assert field in refused.value.body
    # mutable fields stay mutable
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "frozen", {"spec": {"parallelism": 3}})


# ----------------------------------------------------------------------- running jobs


def test_inline_job_succeeds_with_ripsers_summary(platform, operator, custom, core, namespace):
    from ripser import ripser

    points = noisy_circle()
    create(custom, namespace, "circle", inline_spec(points))
    done = wait_phase(custom, namespace, "circle", {"Succeeded", "Failed"})
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    diagrams = ripser(points.round(6), maxdim=1)["dgms"]
    expected_counts = [int(np.sum(d[:, 1] > d[:, 0])) for d in diagrams]
    assert status["summary"]["intervalCounts"] == expected_counts
    finite = [d[np.isfinite(d[:, 1])] for d in diagrams]
    expected_max = [float(np.max(f[:, 1] - f[:, 0])) if len(f) else 0.0 for f in finite]
    assert status["summary"]["maxPersistence"] == pytest.approx(expected_max, rel=1e-5, abs=1e-6)
    assert status["progress"] == {"total": 1, "succeeded": 1, "failed": 0, "running": 0, "text": "1/1"}
    assert status["jobName"] == "circle" and status["observedGeneration"] == done["metadata"]["generation"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "Complete": "True", "Failed": "False"}
    result = core.read_namespaced_config_map("circle-result-0", namespace)
    assert result.metadata.owner_references[0].uid == done["metadata"]["uid"]
    assert json.loads(result.metadata.annotations["tda.io/outcome"])["succeeded"] == 1
    assert not (done["metadata"].get("annotations") or {})  # the operator writes status only
    # Events are posted off the reconcile: the Succeeded status may come first.
    wait_for("the Completed Event", lambda: "Completed" in {
        e.reason for e in core.list_namespaced_event(namespace, field_selector="involvedObject.name=circle").items})


def test_delete_cascades_to_children(platform, operator, custom, batch, core, namespace):
    create(custom, namespace, "doomed", {**VALID, "suspend": True})
    wait_for("the child Job", lambda: batch.list_namespaced_job(namespace, label_selector="tda.io/tdajob=doomed").items)
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "doomed")

    def children_gone():
        jobs = batch.list_namespaced_job(namespace, label_selector="tda.io/tdajob=doomed").items
        maps = core.list_namespaced_config_map(namespace, label_selector="tda.io/tdajob=doomed").items
        return not jobs and not maps

    wait_for("the garbage collector to delete the Job and ConfigMaps", children_gone)


def test_suspend_and_resume(platform, operator, custom, batch, core, namespace):
    create(custom, namespace, "paused", inline_spec(noisy_circle(20), suspend=True))
    wait_phase(custom, namespace, "paused", {"Suspended"})
    assert batch.read_namespaced_job("paused", namespace).spec.suspend is True
    assert not core.list_namespaced_pod(namespace, label_selector="tda.io/tdajob=paused").items
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "paused", {"spec": {"suspend": False}})
    assert wait_phase(custom, namespace, "paused", {"Succeeded", "Failed"})["status"]["phase"] == "Succeeded"


class _SlowServer:
    """An https-less dataset server that never answers in time (the worker waits)."""

    def __init__(self, delay: float) -> None:
        delay_s = delay

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                time.sleep(delay_s)
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow.npy"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_deadline_exceeded(platform, operator, custom, namespace):
    from tda_dev import objectstore

    slow = _SlowServer(delay=60)  # an object store that never answers in time
    try:
        objectstore.apply_credentials_secret(platform.kubeconfig, namespace, slow.url.rsplit("/", 1)[0], name="slow")
        create(custom, namespace, "late", {"input": {"url": "s3://tda/slow.npy", "credentialsSecret": "slow"},
                                           "activeDeadlineSeconds": 3})
        status = wait_phase(custom, namespace, "late", {"Failed", "Succeeded"}, timeout=120)["status"]
    finally:
        slow.close()
    assert status["phase"] == "Failed" and status["reason"] == "DeadlineExceeded", status


def test_deleted_or_edited_child_job_is_restored(platform, operator, custom, batch, namespace):
    create(custom, namespace, "kept", {**VALID, "suspend": True, "parallelism": 1})
    first = wait_for("the child Job", lambda: _job_or_none(batch, namespace, "kept"))
    batch.patch_namespaced_job("kept", namespace, {"spec": {"parallelism": 0}})
    wait_for("parallelism restored", lambda: batch.read_namespaced_job("kept", namespace).spec.parallelism == 1)
    batch.delete_namespaced_job("kept", namespace, propagation_policy="Background")
    again = wait_for(
        "the Job re-created",
        lambda: (j := _job_or_none(batch, namespace, "kept")) is not None and j.metadata.uid != first.metadata.uid,
    )
    assert again


def _job_or_none(batch, namespace: str, name: str):
    from kubernetes.client.exceptions import ApiException

    try:
        return batch.read_namespaced_job(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


# --------------------------------------------------------------------- object-store jobs


@pytest.fixture
def s3(platform, namespace):
    """Bucket `tda` on the platform's object store, and Secret s3-creds in the test namespace."""
    from tda_dev import objectstore

    url = objectstore.endpoint_url()
    objectstore.apply_credentials_secret(platform.kubeconfig, namespace, url)
    client = objectstore.client(url)

    def put(key: str, payload: bytes | np.ndarray) -> str:
        if isinstance(payload, np.ndarray):
            buffer = io.BytesIO()
            np.save(buffer, payload)
            payload = buffer.getvalue()
        client.put_object(Bucket=objectstore.BUCKET, Key=f"{namespace}/{key}", Body=payload)
        return f"s3://{objectstore.BUCKET}/{namespace}/{key}"

    return put


def _datasets_spec(namespace: str, **extra: Any) -> dict[str, Any]:
    return {
        "input": {"datasets": {"urlPrefix": f"s3://tda/{namespace}/clouds/", "pattern": "*.npy"},
                  "credentialsSecret": "s3-creds"},
        "computation": {"maxDimension": 1},
        **extra,
    }


def test_fifty_datasets_from_s3_with_parallelism_4(platform, operator, custom, batch, namespace, s3):
    for i in range(50):
        s3(f"clouds/c{i:03d}.npy", noisy_circle(24, seed=i))
    create(custom, namespace, "many", _datasets_spec(namespace, parallelism=4))
    job = wait_for("the child Job", lambda: _job_or_none(batch, namespace, "many"))
    assert job.spec.completions == 4 and job.spec.parallelism == 4 and job.spec.completion_mode == "Indexed"
    status = wait_phase(custom, namespace, "many", {"Succeeded", "Failed"}, timeout=600)["status"]
    assert status["phase"] == "Succeeded", status
    assert status["progress"]["succeeded"] == 50 and status["progress"]["total"] == 50
    assert len(status["summary"]["intervalCounts"]) == 2 and status["summary"]["intervalCounts"][1] >= 50


def test_bad_dataset_fails_its_index_only(platform, operator, custom, batch, namespace, s3):
    for i in range(4):
        s3(f"clouds/c{i}.npy", noisy_circle(20, seed=i))
    s3("clouds/c2-bad.npy", b"this is not an npy file")
    create(custom, namespace, "mixed", _datasets_spec(namespace, parallelism=2))
    status = wait_phase(custom, namespace, "mixed", {"Succeeded", "Failed"}, timeout=300)["status"]
    assert status["phase"] == "Failed" and status["reason"] == "InvalidInput", status
    assert (status["progress"]["succeeded"], status["progress"]["failed"]) == (4, 1), status
    # Sorted names: c0, c1, c2-bad, c2, c3; index 0 of 2 holds positions 0, 2 and 4.
    assert "index 0: InvalidInput: dataset 2 (c2-bad.npy)" in status["message"], status["message"]
    from tda_operator.status import parse_index_ranges

    job = batch.read_namespaced_job("mixed", namespace)
    assert parse_index_ranges(job.status.failed_indexes) == {0}
    assert parse_index_ranges(job.status.completed_indexes) == {1}


def test_operator_killed_mid_run_converges_without_duplicates(platform, operator, custom, batch, core, namespace, s3):
    for i in range(12):
        s3(f"clouds/c{i:02d}.npy", noisy_circle(20, seed=i))
    create(custom, namespace, "survivor", _datasets_spec(namespace, parallelism=2))
    first = wait_for("the child Job", lambda: _job_or_none(batch, namespace, "survivor"))
    operator.kill()
    time.sleep(3)  # pods go on without the operator
    operator.start()
    status = wait_phase(custom, namespace, "survivor", {"Succeeded", "Failed"}, timeout=300)["status"]
    assert status["phase"] == "Succeeded", status
    assert status["progress"]["succeeded"] == 12 and status["progress"]["total"] == 12
    jobs = batch.list_namespaced_job(namespace, label_selector="tda.io/tdajob=survivor").items
    assert [j.metadata.uid for j in jobs] == [first.metadata.uid]
    records = core.list_namespaced_config_map(namespace, label_selector="tda.io/tdajob=survivor").items
    assert sorted(m.metadata.name for m in records if m.metadata.labels["tda.io/role"] != "manifest-chunk") == [
        "survivor-manifest", "survivor-result-0", "survivor-result-1"]


def test_infeasible_job_fails_fast_with_the_numbers(platform, operator, custom, namespace):
    tda_core = pytest.importorskip("tda_core")
    if not hasattr(tda_core, "estimate_rips"):
        pytest.skip("tda_core.estimate_rips not available")
    points = np.random.default_rng(0).normal(size=(5000, 3))
    create(custom, namespace, "huge", {"input": {"inline": {"points": points.round(3).tolist()}},
                                       "computation": {"maxDimension": 4}})
    status = wait_phase(custom, namespace, "huge", {"Failed", "Succeeded", "Running"}, timeout=60)["status"]
    assert status["phase"] == "Failed" and status["reason"] == "Infeasible", status
    assert "GiB" in status["message"]


def test_metrics_are_served(platform, operator):
    text = operator.metrics()
    assert "tda_operator_reconciliations_total" in text and "tda_operator_tdajobs" in text
