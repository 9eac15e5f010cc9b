"""Result serialization: the worker's ConfigMaps read back as JSON (null deaths) and NPZ (inf)."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
from tda_api.problems import Problem
from tda_api.results import JobResults, shard_from_config_map
from tda_contract import RESULT_JSON_KEY, RESULT_NPZ_KEY
from tda_worker.results import DatasetResult, shard_arrays, shard_json_gz, to_npz_bytes

pytestmark = pytest.mark.unit


def result(ds_id: str) -> DatasetResult:
    return DatasetResult(
        id=ds_id, kind="rips", n_points=4,
        diagrams=[np.array([[0.0, 0.5], [0.0, math.inf]]), np.array([[0.6, 0.9]])],
        features={"entropy": [0.25, 0.0]}, feature_parameters={"entropy": {"of": "finite intervals"}},
    )


def config_map(results: list[DatasetResult], failed: list[dict[str, str]] | None = None) -> dict:
    json_gz = shard_json_gz(results, failed or [], {"name": "j"})
    npz = to_npz_bytes(shard_arrays(results))
    return {"binaryData": {RESULT_JSON_KEY: base64.b64encode(json_gz).decode(),
                           RESULT_NPZ_KEY: base64.b64encode(npz).decode()}}


@pytest.fixture
def job_results() -> JobResults:
    return JobResults([
        shard_from_config_map(config_map([result("b.npy")], [{"id": "c.npy", "error": "InvalidInput: x"}])),
        shard_from_config_map(config_map([result("a.npy")])),
        shard_from_config_map({"metadata": {"name": "j-result-2"}}),  # an index without datasets
    ])


def test_json_document_has_null_deaths_for_essential_classes(job_results):
    doc = job_results.document("j", None)
    assert doc["dataset"] == "a.npy"  # the first id in order
    assert doc["datasets"] == ["a.npy", "b.npy"]
    assert doc["failed"] == ["c.npy"]
    assert doc["diagrams"] == [[[0.0, 0.5], [0.0, None]], [[0.6, 0.9]]]
    assert doc["features"] == {"entropy": [0.25, 0.0]}
    assert doc["summary"]["intervalCounts"] == [2, 1]
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN or Infinity


def test_npz_holds_the_datasets_exact_arrays_with_inf(job_results):
    archive = np.load(io.BytesIO(job_results.npz("b.npy")), allow_pickle=False)
    assert sorted(archive.files) == ["diagram_0", "diagram_1", "entropy_0", "entropy_1"]
    assert archive["diagram_0"].dtype == np.float64
    assert np.isinf(archive["diagram_0"][1, 1])
    np.testing.assert_array_equal(archive["diagram_1"], [[0.6, 0.9]])


def test_diagrams_come_back_as_float_arrays(job_results):
    dataset_id, dgms = job_results.diagrams("a.npy")
    assert dataset_id == "a.npy"
    assert [d.shape for d in dgms] == [(2, 2), (1, 2)]
    assert math.isinf(dgms[0][1, 1])


def test_unknown_dataset_is_404_without_echo(job_results):
    with pytest.raises(Problem) as caught:
        job_results.document("j", "no-such-<script>")
    assert caught.value.status == 404
    assert "<script>" not in caught.value.detail


def test_no_results_at_all_is_404():
    with pytest.raises(Problem) as caught:
        JobResults([]).document("j", None)
    assert caught.value.status == 404


def test_corrupt_config_map_is_a_502_not_a_crash():
    with pytest.raises(Problem) as caught:
        shard_from_config_map({"binaryData": {RESULT_JSON_KEY: base64.b64encode(b"not gzip").decode()}})
    assert caught.value.status == 502
