"""The `tda-compute` worker: sharding, exit codes, termination message, result encoding."""

from __future__ import annotations

import base64
import gzip
import io
import json

import numpy as np
import pytest
import tda_core
from tda_core import compute
from tda_core import io as tio
from tda_core import results as tres
from tda_operator import contract as C

pytestmark = pytest.mark.unit

needs_rips = pytest.mark.skipif(not hasattr(tda_core, "rips_persistence"), reason="tda_core.rips_persistence not built")
needs_cubical = pytest.mark.skipif(
    not hasattr(tda_core, "cubical_persistence"), reason="tda_core.cubical_persistence not built"
)


def circle(n=40, seed=0, r=1.0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return (np.c_[r * np.cos(t), r * np.sin(t)] + rng.normal(0, 0.02, (n, 2))).round(6).tolist()


def make_spec(tmp_path, datasets, shards=1, output=None, **computation):
    spec = {
        "name": "job",
        "namespace": "ns",
        "uid": "1234-uid",
        "computation": {"complex": "rips", "maxDimension": 1, "threshold": None, "coefficient": 2,
                        "metric": "euclidean", "features": ["diagrams"], **computation},
        "input": {"format": None, "credentialsSecret": None},
        "datasets": datasets,
        "shards": shards,
        "output": {"url": output},
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture
def term(tmp_path, monkeypatch):
    """The termination log, read back as JSON."""
    path = tmp_path / "termination-log"
    monkeypatch.setenv("TDA_TERMINATION_LOG", str(path))
    monkeypatch.delenv(C.ENV_COMPLETION_INDEX, raising=False)
    return lambda: json.loads(path.read_text())


@pytest.fixture
def applied(monkeypatch):
    """ConfigMaps the worker would apply, instead of a cluster."""
    bodies: list[dict] = []
    monkeypatch.setattr(compute, "apply_config_map", bodies.append)
    return bodies


def inline(i, points):
    return {"id": f"ds-{i}", "inline": {"points": points}}


# --------------------------------------------------------------------------- sharding and results


@needs_rips
@pytest.mark.parametrize("shards", [1, 3])
def test_each_index_processes_its_share(tmp_path, term, shards):
    datasets = [inline(i, circle(20, seed=i)) for i in range(7)]
    out = tmp_path / "out"
    spec = make_spec(tmp_path, datasets, shards=shards, output=out.as_uri())
    seen = []
    for index in range(shards):
        assert compute.main(["run", "--spec", str(spec), "--index", str(index)]) == 0
        msg = term()
        mine = [d["id"] for j, d in enumerate(datasets) if j % shards == index]
        assert msg["index"] == index and msg["datasets"] == len(mine) == msg["succeeded"]
        assert msg["failed"] == 0 and "error" not in msg
        assert msg["result"] == out.as_uri()
        seen += mine
    assert sorted(seen) == sorted(d["id"] for d in datasets)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"ds-{i}.{ext}" for i in range(7) for ext in ("json", "npz"))


@needs_rips
def test_index_comes_from_the_job_controllers_env(tmp_path, term, monkeypatch, applied):
    spec = make_spec(tmp_path, [inline(i, circle(10, seed=i)) for i in range(4)], shards=2)
    monkeypatch.setenv(C.ENV_COMPLETION_INDEX, "1")
    assert compute.main(["run", "--spec", str(spec)]) == 0
    assert term()["index"] == 1 and term()["datasets"] == 2
    assert applied[0]["metadata"]["name"] == "job-result-1"


@needs_rips
def test_summary_matches_the_diagrams(tmp_path, term):
    points = circle(60)
    spec = make_spec(tmp_path, [inline(0, points), inline(1, circle(30, seed=5, r=2.0))],
                     output=(tmp_path / "o").as_uri())
    assert compute.main(["run", "--spec", str(spec)]) == 0
    counts, maxima = [0, 0], [0.0, 0.0]
    for p in (points, circle(30, seed=5, r=2.0)):
        dgms = tda_core.rips_persistence(np.array(p), max_dim=1)
        for q, d in enumerate(dgms):
            counts[q] += int(np.sum(d[:, 1] > d[:, 0]))
            fin = d[np.isfinite(d[:, 1])]
            maxima[q] = max(maxima[q], float(np.max(fin[:, 1] - fin[:, 0])) if len(fin) else 0.0)
    msg = term()
    assert msg["intervalCounts"] == counts
    np.testing.assert_allclose(msg["maxPersistence"], maxima, rtol=1e-8)
    assert counts[1] >= 2  # each circle has its loop


@needs_rips
def test_object_results_round_trip(tmp_path, term):
    out = tmp_path / "out"
    spec = make_spec(tmp_path, [inline(0, circle(25))], output=out.as_uri())
    assert compute.main(["run", "--spec", str(spec)]) == 0
    doc = json.loads((out / "ds-0.json").read_text())
    npz = np.load(out / "ds-0.npz")
    assert doc["id"] == "ds-0" and doc["job"]["uid"] == "1234-uid"
    dgms = tres.diagrams_from_json(doc["diagrams"])
    for q, d in enumerate(dgms):
        np.testing.assert_array_equal(d, npz[f"diagram_{q}"])
    assert np.isinf(dgms[0][:, 1]).sum() == 1  # one essential H0 class, null in JSON, inf in NPZ
    assert doc["summary"]["intervalCounts"] == tres.interval_counts(dgms)


@needs_rips
def test_configmap_result_is_owned_compressed_and_decodable(tmp_path, term, applied):
    spec = make_spec(tmp_path, [inline(0, circle(30)), {"id": "bad", "inline": {"points": [[0, float("nan")]]}}])
    assert compute.main(["run", "--spec", str(spec)]) == C.EXIT_INVALID_INPUT
    (cm,) = applied
    assert cm["metadata"]["name"] == "job-result-0" and cm["metadata"]["namespace"] == "ns"
    (owner,) = cm["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "tda.io/v1alpha1", "kind": "TDAJob", "name": "job", "uid": "1234-uid",
                     "controller": True}
    doc = tres.read_shard_json_gz(base64.b64decode(cm["binaryData"][compute.RESULT_JSON_KEY]))
    assert [d["id"] for d in doc["datasets"]] == ["ds-0"]
    assert doc["failed"][0]["id"] == "bad" and "NaN" in doc["failed"][0]["error"]
    npz = np.load(io.BytesIO(base64.b64decode(cm["binaryData"][compute.RESULT_NPZ_KEY])))
    assert "ds-0/diagram_1" in npz.files
    summary = json.loads(cm["data"][compute.RESULT_SUMMARY_KEY])
    assert summary["succeeded"] == 1 and summary["failed"] == 1
    assert term()["result"] == "configmap:job-result-0"


@needs_rips
def test_results_too_large_for_a_configmap_ask_for_output_url(tmp_path, term, applied, monkeypatch):
    monkeypatch.setattr(compute, "CONFIGMAP_BUDGET", 2000)
    spec = make_spec(tmp_path, [inline(0, circle(80))])
    assert compute.main(["run", "--spec", str(spec)]) == C.EXIT_INVALID_INPUT
    assert not applied
    assert "spec.output.url" in term()["error"]


def test_result_config_map_size_limit_with_incompressible_diagrams():
    rng = np.random.default_rng(0)
    big = tres.DatasetResult("big", "points", 100_000, [rng.random((60_000, 2))])
    spec = {"name": "j", "namespace": "n", "uid": "u"}
    with pytest.raises(tio.InvalidInput, match=r"over the 1 MiB.*spec.output.url"):
        compute.result_config_map(spec, 0, [big], [], {})
    small = tres.DatasetResult("small", "points", 10, [rng.random((9, 2))])
    body = compute.result_config_map(spec, 0, [small], [], {})
    size = sum(len(base64.b64decode(v)) for v in body["binaryData"].values())
    assert size < compute.CONFIGMAP_BUDGET


# --------------------------------------------------------------------------- exit codes


@needs_rips
def test_invalid_dataset_fails_the_index_with_code_3_but_keeps_the_others(tmp_path, term):
    bad = tmp_path / "bad.csv"
    bad.write_text("0,1\n2,nan\n")
    out = tmp_path / "out"
    spec = make_spec(tmp_path, [{"id": "bad", "url": bad.as_uri()}, inline(1, circle(10))], output=out.as_uri())
    assert compute.main(["run", "--spec", str(spec)]) == C.EXIT_INVALID_INPUT
    msg = term()
    assert (msg["succeeded"], msg["failed"]) == (1, 1)
    assert msg["error"].startswith("InvalidInput: ") and "bad" in msg["error"] and "NaN" in msg["error"]
    assert (out / "ds-1.json").exists()


def test_missing_file_is_invalid_input(tmp_path, term):
    spec = make_spec(tmp_path, [{"id": "gone", "url": "file:///nonexistent/gone.npy"}], output=(tmp_path / "o").as_uri())
    assert compute.main(["run", "--spec", str(spec)]) == C.EXIT_INVALID_INPUT
    assert "no such file" in term()["error"]


def test_unreachable_source_is_transient_with_code_4(tmp_path, term, monkeypatch):
    monkeypatch.setattr(tio.time, "sleep", lambda s: None)
    spec = make_spec(tmp_path, [{"id": "far", "url": "http://127.0.0.1:9/x.npy"}])
    assert compute.main(["run", "--spec", str(spec)]) == C.EXIT_TRANSIENT
    assert term()["error"].startswith("TransientError: ")


@pytest.mark.parametrize(
    ("computation", "field"),
    [
        ({"coefficient": 4}, "computation.coefficient"),
        ({"maxDimension": -1}, "computation.maxDimension"),
        ({"threshold": 0}, "computation.threshold"),
        ({"complex": "alpha"}, "computation.complex"),
        ({"features": ["diagrams", "silhouettes"]}, "computation.features"),
    ],
)
def test_invalid_computation_is_invalid_input_naming_the_field(tmp_path, term, computation, field):
    spec = make_spec(tmp_path, [inline(0, circle(5))], **computation)
    assert compute.main(["run", "--spec", str(spec)]) == C.EXIT_INVALID_INPUT
    assert field in term()["error"]


def test_index_outside_the_shards_is_invalid(tmp_path, term):
    spec = make_spec(tmp_path, [inline(0, circle(5))], shards=2)
    assert compute.main(["run", "--spec", str(spec), "--index", "2"]) == C.EXIT_INVALID_INPUT


def test_unreadable_spec_is_a_crash_not_invalid_input(tmp_path, term):
    assert compute.main(["run", "--spec", str(tmp_path / "missing.json")]) == 1
    assert term()["error"].startswith("InternalError: ")


# --------------------------------------------------------------------------- termination message


def test_termination_message_fits_in_4096_bytes_even_with_a_huge_error():
    text = compute.termination_message(3, 100, 90, 10, [10**6] * 9, [1.23456789] * 9, 12.5,
                                       "s3://bucket/" + "p" * 200, "InvalidInput: " + "é" * 10_000)
    assert len(text.encode()) <= C.TERMINATION_MESSAGE_MAX_BYTES
    msg = json.loads(text)
    assert set(msg) <= set(C.TERMINATION_MESSAGE_KEYS)
    assert msg["error"].startswith("InvalidInput: ") and msg["error"].endswith("...")
    assert msg["intervalCounts"] == [10**6] * 9 and msg["v"] == 1


def test_termination_message_keys_follow_the_contract():
    msg = json.loads(compute.termination_message(0, 1, 1, 0, [3, 1], [0.5, 0.25], 0.1, "configmap:j-result-0"))
    assert list(msg) == [k for k in C.TERMINATION_MESSAGE_KEYS if k != "error"]
    assert " " not in compute.termination_message(0, 1, 1, 0, [3], [0.5], 0.1, "x")  # compact


# --------------------------------------------------------------------------- features, cubical, local


@needs_rips
def test_requested_features_are_in_json_and_npz(tmp_path, term):
    names = [n for n in tres._FEATURE_FUNCTIONS if hasattr(tda_core, tres._FEATURE_FUNCTIONS[n])]
    if len(names) < 4:
        pytest.skip("tda_core vectorizations not built")
    out = tmp_path / "out"
    spec = make_spec(tmp_path, [inline(0, circle(30))], output=out.as_uri(), features=["diagrams", *names])
    assert compute.main(["run", "--spec", str(spec)]) == 0
    doc = json.loads((out / "ds-0.json").read_text())
    npz = np.load(out / "ds-0.npz")
    for name in names:
        assert len(doc["features"][name]) == 2  # one per dimension
        assert f"{name}_1" in npz.files
    assert npz["bettiCurves_0"].shape == (tres.CURVE_BINS,)
    assert npz["landscapes_1"].shape == (tres.LANDSCAPE_LAYERS, tres.CURVE_BINS)
    assert npz["persistenceImages_1"].shape == tres.IMAGE_RESOLUTION
    # The curves of all dimensions share one grid, recorded so they can be read.
    lo, hi = doc["featureParameters"]["bettiCurves"]["sampleRange"]
    dgms = tres.diagrams_from_json(doc["diagrams"])
    assert lo == 0.0 and hi == pytest.approx(max(d[np.isfinite(d[:, 1]), 1].max() for d in dgms))
    # The circle's loop is alive in the middle of the range: Betti-1 reaches 1 there.
    assert max(doc["features"]["bettiCurves"][1]) >= 1
    assert doc["features"]["entropy"][0] > 0


@needs_cubical
def test_cubical_image_inline(tmp_path, term):
    img = np.zeros((7, 7))
    img[1:6, 1:6] = 1.0
    img[3, 3] = 0.0  # a ring of high values around a hole: one H1 class
    spec = make_spec(tmp_path, [{"id": "img", "inline": {"image": img.tolist()}}], output=(tmp_path / "o").as_uri(),
                     complex="cubical", maxDimension=1)
    assert compute.main(["run", "--spec", str(spec)]) == 0
    assert len(term()["intervalCounts"]) == 2


@needs_rips
def test_local_prints_a_table_and_json(tmp_path, capsys):
    path = tmp_path / "c.npy"
    np.save(path, np.array(circle(40)))
    assert compute.main(["local", str(path), "--max-dim", "1"]) == 0
    out = capsys.readouterr().out
    assert "c.npy: 40 points" in out and "H1" in out
    assert compute.main(["local", str(path), "--json", "--diagrams"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["intervalCounts"][1] >= 1 and len(doc["diagrams"]) == 2


def test_local_bad_file_exits_3(tmp_path, capsys):
    path = tmp_path / "c.csv"
    path.write_text("1,2\n3\n")
    assert compute.main(["local", str(path)]) == C.EXIT_INVALID_INPUT
    assert "different numbers of columns" in capsys.readouterr().err


def test_help_names_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        compute.main(["--help"])
    out = capsys.readouterr().out
    assert "3 invalid input" in out and "4 transient" in out


def test_gzip_is_deterministic_so_reapplying_changes_nothing():
    r = tres.DatasetResult("a", "points", 3, [np.array([[0.0, np.inf], [0.0, 1.0]])])
    assert tres.shard_json_gz([r], []) == tres.shard_json_gz([r], [])
    assert gzip.decompress(tres.shard_json_gz([r], [])).startswith(b'{"v":1')


@needs_rips
def test_file_prefix_listing_is_done_by_the_pods(tmp_path, term):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        np.save(data / f"c{i}.npy", np.array(circle(12, seed=i)))
    (data / "README").write_text("not a dataset")
    out = tmp_path / "out"
    spec = json.loads(make_spec(tmp_path, [], shards=2, output=out.as_uri()).read_text())
    spec["listing"] = {"urlPrefix": data.as_uri() + "/", "pattern": "*.npy", "limit": None}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    for index, expected in ((0, 3), (1, 2)):
        assert compute.main(["run", "--spec", str(tmp_path / "job.json"), "--index", str(index)]) == 0
        assert term()["succeeded"] == expected
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".json") == [f"c{i}.npy.json" for i in range(5)]


def test_sigterm_still_writes_the_termination_message(tmp_path):
    """A suspended, deleted or timed-out pod still says how far it got."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    listener = socket.socket()  # accepts the connection but never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(60)
    spec = make_spec(tmp_path, [{"id": "slow", "url": f"http://127.0.0.1:{listener.getsockname()[1]}/slow.npy"}])
    term_path = tmp_path / "term"
    env = dict(os.environ, TDA_TERMINATION_LOG=str(term_path), TDA_HTTP_TIMEOUT="60")
    proc = subprocess.Popen([sys.executable, "-m", "tda_core.compute", "run", "--spec", str(spec)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn, _ = listener.accept()  # the worker is inside its fetch now
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        conn.close()
    finally:
        proc.kill()
        listener.close()
    msg = json.loads(term_path.read_text())
    assert msg["error"].startswith("Terminated: ") and msg["datasets"] == 1
