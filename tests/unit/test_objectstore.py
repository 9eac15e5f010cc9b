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
    import tda_contract as C

    secret = objectstore.credentials_secret(store, "ns")
    assert secret["metadata"] == {"name": "s3-creds", "namespace": "ns",
                                  "labels": {"app.kubernetes.io/managed-by": "tda-dev"}}
    assert set(secret["stringData"]) <= set(C.CREDENTIAL_KEYS)
    assert secret["stringData"]["AWS_ENDPOINT_URL"] == store


def test_the_worker_grant_is_one_secret_read_only():
    role, binding = objectstore.worker_secret_grant("ns", "s3-creds")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s3-creds"],
                              "verbs": ["get"]}]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tda-worker", "namespace": "ns"}]


def worker(store, *args: str, endpoint: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **objectstore.credentials_env(store))
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return subprocess.run([sys.executable, "-m", "tda_worker.compute", "local", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def circle(n, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t), np.sin(t)] + rng.normal(0, 0.02, (n, 2))


def test_worker_reads_s3_and_writes_results_to_s3(store):
    import tda_core

    if not hasattr(tda_core, "rips_persistence"):
        pytest.skip("tda_core.rips_persistence not built")
    s3 = objectstore.client(store)
    for i in range(3):
        s3.put_object(Bucket="tda", Key=f"in/cloud-{i}.npy", Body=npy(circle(30, i)))
    urls = [f"s3://tda/in/cloud-{i}.npy" for i in range(3)]
    proc = worker(store, *urls, "--output", "s3://tda/out/run1/", "--json")
    assert proc.returncode == 0, proc.stderr
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="tda", Prefix="out/run1/")["Contents"])
    assert keys == sorted(f"out/run1/cloud-{i}.npy.{ext}" for i in range(3) for ext in ("json", "npz"))
    doc = json.loads(s3.get_object(Bucket="tda", Key="out/run1/cloud-2.npy.json")["Body"].read())
    expected = tda_core.rips_persistence(circle(30, 2), max_dim=1)
    np.testing.assert_allclose(np.nan_to_num(np.array(doc["diagrams"][1], dtype=float)), expected[1], rtol=1e-6)
    npz = np.load(io.BytesIO(s3.get_object(Bucket="tda", Key="out/run1/cloud-2.npy.npz")["Body"].read()))
    np.testing.assert_array_equal(npz["diagram_0"], np.asarray(expected[0]))


def test_missing_object_is_invalid_input_and_dead_endpoint_is_transient(store):
    import tda_contract as C

    proc = worker(store, "s3://tda/in/nope.npy")
    assert proc.returncode == C.EXIT_INVALID_INPUT and "does not exist" in proc.stderr
    proc = worker(store, "s3://no-such-bucket/x.npy")
    assert proc.returncode == C.EXIT_INVALID_INPUT and "bucket does not exist" in proc.stderr
    proc = worker(store, "s3://tda/in/cloud-0.npy", endpoint="http://127.0.0.1:9")  # nothing listens there
    assert proc.returncode == C.EXIT_TRANSIENT, proc.stderr


def test_seeded_examples_are_readable_by_the_worker(store):
    from tda_worker.compute import Entry, load_entry
    from tda_worker.sources import Limits, S3Credentials, Sources

    keys = objectstore.seed_examples(store, n_clouds=3)
    assert "s3://tda/images/blobs.npy" in keys
    sources = Sources(Limits(), S3Credentials(objectstore.credentials_env(store)))
    cloud = load_entry(sources, Entry("cloud-002.npy", url="s3://tda/clouds/cloud-002.npy"), 0, None, "rips")
    assert cloud.array.shape[1] == 2
    image = load_entry(sources, Entry("blobs.npy", url="s3://tda/images/blobs.npy"), 0, "image-npy", "cubical")
    assert image.array.shape == (128, 128)


def test_platform_runs_the_store_with_bucket_and_secret(platform, api_client):
    if platform.external:
        pytest.skip("an existing cluster (TDA_KUBECONFIG) brings its own object storage")
    from kubernetes import client

    url = objectstore.endpoint_url()
    assert objectstore.bucket_exists(url)
    secret = client.CoreV1Api(api_client).read_namespaced_secret("s3-creds", "default")
    assert base64.b64decode(secret.data["AWS_ENDPOINT_URL"]).decode() == url
    # What a worker that may read s3-creds does with it.
    env = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    s3 = objectstore.client(env["AWS_ENDPOINT_URL"])
    s3.put_object(Bucket="tda", Key="probe.txt", Body=b"ok")
    assert s3.get_object(Bucket="tda", Key="probe.txt")["Body"].read() == b"ok"
