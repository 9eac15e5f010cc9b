"""The local object store is a real S3 endpoint, and the worker reads from and writes to it."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tda_dev import objectstore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    log = tmp_path_factory.mktemp("objectstore") / "moto.log"
    with objectstore.running_server(log=log) as url:
        objectstore.ensure_bucket(url)
        yield url


def npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr, dtype=np.float64))
    return buf.getvalue()


def test_put_and_get_over_the_s3_protocol(store):
    s3 = objectstore.client(store)
    s3.put_object(Bucket="tda", Key="hello/world.txt", Body=b"persistent")
    assert s3.get_object(Bucket="tda", Key="hello/world.txt")["Body"].read() == b"persistent"
    assert objectstore.bucket_exists(store)
    assert not objectstore.bucket_exists(store, "no-such-bucket")
    objectstore.ensure_bucket(store)  # idempotent


def test_credentials_secret_carries_what_the_worker_reads(store):
    from tda_operator import contract as C

    secret = objectstore.credentials_secret(store, "ns")
    assert secret["metadata"] == {"name": "s3-creds", "namespace": "ns",
                                  "labels": {"app.kubernetes.io/managed-by": "tda-dev"}}
    assert set(secret["stringData"]) == set(C.CREDENTIAL_ENV_KEYS)
    assert secret["stringData"]["AWS_ENDPOINT_URL"] == store


def worker_env(store, tmp_path):
    env = dict(os.environ, **objectstore.credentials_env(store))
    env["TDA_TERMINATION_LOG"] = str(tmp_path / "termination-log")
    return env


def run_worker(spec: dict, tmp_path, env, index: int = 0) -> tuple[int, dict]:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, "-m", "tda_core.compute", "run", "--spec", str(path)],
        env={**env, "JOB_COMPLETION_INDEX": str(index)}, capture_output=True, text=True, timeout=300,
    )
    message = json.loads((tmp_path / "termination-log").read_text())
    return proc.returncode, message


def spec_for(datasets, output, shards=1, fmt=None, **computation):
    return {
        "name": "s3job", "namespace": "default", "uid": "u-1",
        "computation": {"complex": "rips", "maxDimension": 1, "coefficient": 2, "metric": "euclidean",
                        "features": ["diagrams"], **computation},
        "input": {"format": fmt, "credentialsSecret": "s3-creds"},
        "datasets": datasets, "shards": shards, "output": {"url": output},
    }


def circle(n, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t), np.sin(t)] + rng.normal(0, 0.02, (n, 2))


def test_worker_reads_s3_and_writes_results_to_s3(store, tmp_path):
    import tda_core

    if not hasattr(tda_core, "rips_persistence"):
        pytest.skip("tda_core.rips_persistence not built")
    s3 = objectstore.client(store)
    for i in range(5):
        s3.put_object(Bucket="tda", Key=f"in/cloud-{i}.npy", Body=npy(circle(30, i)))
    datasets = [{"id": f"cloud-{i}", "url": f"s3://tda/in/cloud-{i}.npy"} for i in range(5)]
    env = worker_env(store, tmp_path)
    for index in range(2):
        code, msg = run_worker(spec_for(datasets, "s3://tda/out/run1/", shards=2), tmp_path, env, index)
        assert code == 0, msg
        assert msg["succeeded"] == msg["datasets"] == (3 if index == 0 else 2)
        assert msg["result"] == "s3://tda/out/run1/"
        assert msg["intervalCounts"][1] >= msg["datasets"]  # each circle has a loop
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="tda", Prefix="out/run1/")["Contents"])
    assert keys == sorted(f"out/run1/cloud-{i}.{ext}" for i in range(5) for ext in ("json", "npz"))
    doc = json.loads(s3.get_object(Bucket="tda", Key="out/run1/cloud-3.json")["Body"].read())
    expected = tda_core.rips_persistence(circle(30, 3), max_dim=1)
    np.testing.assert_allclose(
        np.nan_to_num(np.array(doc["diagrams"][1], dtype=float)), expected[1], rtol=1e-6
    )
    npz = np.load(io.BytesIO(s3.get_object(Bucket="tda", Key="out/run1/cloud-3.npz")["Body"].read()))
    np.testing.assert_array_equal(npz["diagram_0"], np.asarray(expected[0]))


def test_missing_object_is_invalid_input_and_dead_endpoint_is_transient(store, tmp_path):
    from tda_operator import contract as C

    env = worker_env(store, tmp_path)
    code, msg = run_worker(spec_for([{"id": "gone", "url": "s3://tda/in/nope.npy"}], "s3://tda/out/x/"),
                           tmp_path, env)
    assert code == C.EXIT_INVALID_INPUT
    assert "does not exist" in msg["error"] and "gone" in msg["error"]

    code, msg = run_worker(spec_for([{"id": "b", "url": "s3://no-such-bucket/x.npy"}], "s3://tda/out/x/"),
                           tmp_path, env)
    assert code == C.EXIT_INVALID_INPUT and "bucket does not exist" in msg["error"]

    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens there
    code, msg = run_worker(spec_for([{"id": "x", "url": "s3://tda/in/cloud-0.npy"}], "s3://tda/out/x/"),
                           tmp_path, env)
    assert code == C.EXIT_TRANSIENT, msg
    assert msg["error"].startswith("TransientError: ")


def test_seeded_examples_are_readable_by_the_worker_io(store, monkeypatch):
    from tda_core import io as tio

    keys = objectstore.seed_examples(store, n_clouds=3)
    assert "s3://tda/images/blobs.npy" in keys
    for key, value in objectstore.credentials_env(store).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(tio, "_S3", None)
    assert tio.load("s3://tda/clouds/cloud-002.npy").array.shape[1] == 2
    assert tio.load("s3://tda/images/blobs.npy", format="image-npy", complex="cubical").array.shape == (128, 128)


def test_platform_runs_the_store_with_bucket_and_secret(platform, api_client):
    if platform.external:
        pytest.skip("an existing cluster (TDA_KUBECONFIG) brings its own object storage")
    from kubernetes import client

    url = objectstore.endpoint_url()
    assert objectstore.bucket_exists(url)
    secret = client.CoreV1Api(api_client).read_namespaced_secret("s3-creds", "default")
    assert base64.b64decode(secret.data["AWS_ENDPOINT_URL"]).decode() == url
    # What a pod with envFrom: s3-creds would do.
    env = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    s3 = objectstore.client(env["AWS_ENDPOINT_URL"])
    s3.put_object(Bucket="tda", Key="probe.txt", Body=b"ok")
    assert s3.get_object(Bucket="tda", Key="probe.txt")["Body"].read() == b"ok"
