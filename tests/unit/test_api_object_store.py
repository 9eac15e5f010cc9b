"""Results in S3 (spec.output.url) read back with the job's credentials, never the facade's own."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
from tda_api.object_store import ObjectStoreResults, secret_values, split_prefix
from tda_api.problems import Problem
from tda_worker.results import DatasetResult, dataset_arrays, dataset_document, to_json_bytes, to_npz_bytes

pytestmark = pytest.mark.unit
KEYS = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def bucket():
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="tda")
        for ds_id in ("b", "a"):
            result = DatasetResult(id=ds_id, kind="rips", n_points=3,
                                   diagrams=[np.array([[0.0, 1.0], [0.0, math.inf]])])
            s3.put_object(Bucket="tda", Key=f"runs/one/{ds_id}.json", Body=to_json_bytes(dataset_document(result)))
            s3.put_object(Bucket="tda", Key=f"runs/one/{ds_id}.npz", Body=to_npz_bytes(dataset_arrays(result)))
        s3.put_object(Bucket="tda", Key="runs/one/nested/c.json", Body=b"{}")
        yield s3


def test_lists_reads_and_serves_npz(bucket):
    results = ObjectStoreResults.open("s3://tda/runs/one/", KEYS)
    doc = results.document("j", None)
    assert (doc["dataset"], doc["datasets"]) == ("a", ["a", "b"])
    assert doc["diagrams"] == [[[0.0, 1.0], [0.0, None]]]
    archive = np.load(io.BytesIO(results.npz("b")), allow_pickle=False)
    assert np.isinf(archive["diagram_0"][1, 1])
    assert results.diagrams("b")[1][0].shape == (2, 2)
    with pytest.raises(Problem) as missing:
        results.document("j", "nested/c")
    assert missing.value.status == 404


def test_secret_without_keys_is_refused_before_any_read():
    with pytest.raises(Problem) as caught:
        ObjectStoreResults.open("s3://tda/runs/one/", {"AWS_ENDPOINT_URL": "http://x"})
    assert caught.value.status == 409


def test_volume_results_are_not_served():
    with pytest.raises(Problem) as caught:
        split_prefix("file:///output/run/")
    assert caught.value.status == 409
    assert split_prefix("s3://tda/a/b") == ("tda", "a/b/")


def test_secret_values_decode_text_keys_only():
    secret = {"data": {"A": base64.b64encode(b"x").decode(), "B": base64.b64encode(b"\xff").decode()}}
    assert secret_values(secret) == {"A": "x"}
