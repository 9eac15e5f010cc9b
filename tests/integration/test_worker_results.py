"""The worker writes its result ConfigMap to a real API server: owned by the TDAJob, re-appliable."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration


def tdajob(name: str) -> dict:
    # Suspended: the operator (if running) starts no pods, so only this test writes the result.
    return {
        "apiVersion": "tda.io/v1alpha1", "kind": "TDAJob", "metadata": {"name": name},
        "spec": {"suspend": True, "input": {"inline": {"points": [[0, 0], [1, 0], [0, 1], [1, 1]]}}},
    }


def run_worker(platform, tmp_path, spec: dict) -> tuple[int, dict]:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    env.update(KUBECONFIG=str(platform.kubeconfig), TDA_TERMINATION_LOG=str(tmp_path / "term"),
               JOB_COMPLETION_INDEX="0")
    proc = subprocess.run([sys.executable, "-m", "tda_core.compute", "run", "--spec", str(path)],
                          env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads((tmp_path / "term").read_text())


def test_result_configmap_is_applied_owned_and_collected(platform, api_client, namespace, tmp_path):
    import tda_core
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from tda_core import results as tres

    if not hasattr(tda_core, "rips_persistence"):
        pytest.skip("tda_core.rips_persistence not built")
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    job = custom.create_namespaced_custom_object("tda.io", "v1alpha1", namespace, "tdajobs", tdajob("square"))
    spec = {
        "name": "square", "namespace": namespace, "uid": job["metadata"]["uid"],
        "computation": {"complex": "rips", "maxDimension": 1, "coefficient": 2, "features": ["diagrams"]},
        "input": {"format": None, "credentialsSecret": None},
        "datasets": [{"id": "inline", "inline": {"points": [[0, 0], [1, 0], [0, 1], [1, 1]]}}],
        "shards": 1, "output": {"url": None},
    }
    for _ in range(2):  # a retried index re-applies the same ConfigMap
        code, msg = run_worker(platform, tmp_path, spec)
        assert code == 0, msg
        assert msg["result"] == "configmap:square-result-0" and msg["intervalCounts"] == [4, 1]

    cm = core.read_namespaced_config_map("square-result-0", namespace)
    (owner,) = cm.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("TDAJob", "square", job["metadata"]["uid"])
    assert any(f.manager == "tda-compute" for f in cm.metadata.managed_fields)
    doc = tres.read_shard_json_gz(base64.b64decode(cm.binary_data["results.json.gz"]))
    assert doc["datasets"][0]["summary"]["intervalCounts"] == [4, 1]

    custom.delete_namespaced_custom_object("tda.io", "v1alpha1", namespace, "tdajobs", "square")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            core.read_namespaced_config_map("square-result-0", namespace)
        except ApiException as exc:
            assert exc.status == 404
            return
        time.sleep(0.5)
    pytest.fail("the garbage collector did not delete the result ConfigMap of a deleted TDAJob")
