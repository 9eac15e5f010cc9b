"""The `tda-compute` worker: sharding, manifests, outcome records, exit codes, result encoding.

The worker's API calls go to a small in-memory API server (:class:`FakeApi`), which
answers like kube-apiserver (404, 403, 409 on create of an existing name); the
integration tests run the same worker in real pods.
"""

from __future__ import annotations

import base64
import copy
import gzip
import io
import json

import numpy as np
import pytest
import tda_contract as C
import tda_core
from kubernetes.client.exceptions import ApiException
from tda_worker import cluster as wcluster
from tda_worker import compute, manifest
from tda_worker import formats as tio
from tda_worker import results as tres

pytestmark = pytest.mark.unit

needs_rips = pytest.mark.skipif(not hasattr(tda_core, "rips_persistence"), reason="tda_core.rips_persistence not built")
needs_cubical = pytest.mark.skipif(
    not hasattr(tda_core, "cubical_persistence"), reason="tda_core.cubical_persistence not built"
)
NS, NAME, UID = "ns", "job", "1234-uid"
TDAJOB_PATH = f"/apis/tda.io/v1alpha1/namespaces/{NS}/tdajobs/{NAME}"
CM_PATH = f"/api/v1/namespaces/{NS}/configmaps"


def circle(n=40, seed=0, r=1.0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return (np.c_[r * np.cos(t), r * np.sin(t)] + rng.normal(0, 0.02, (n, 2))).round(6).tolist()


class FakeApi(wcluster.Cluster):
    """Objects by API path, answered as kube-apiserver would."""

    def __init__(self) -> None:  # no client: nothing leaves the process
        self.objects: dict[str, dict] = {}
        self.forbidden: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def _call(self, method, path, body=None, content_type="application/json"):
        self.calls.append((method, path))
        if path in self.forbidden:
            raise ApiException(status=403, reason="Forbidden")
        if method == "GET":
            if path not in self.objects:
                raise ApiException(status=404, reason="Not Found")
            return copy.deepcopy(self.objects[path])
        assert method == "POST"
        target = f"{path}/{body['metadata']['name']}"
        if target in self.objects:
            raise ApiException(status=409, reason="Conflict")
        self.objects[target] = copy.deepcopy(body)
        return body

    def config_maps(self, role=None):
        return {p.rsplit("/", 1)[1]: o for p, o in self.objects.items() if p.startswith(CM_PATH)
                and (role is None or o["metadata"]["labels"].get(C.LABEL_ROLE) == role)}


@pytest.fixture
def api(monkeypatch, tmp_path):
    """The fake API server, the pod's identity and an output volume for file:// results."""
    fake = FakeApi()
    monkeypatch.setattr(compute, "Cluster", lambda: fake)
    monkeypatch.setenv(C.ENV_TDAJOB_NAME, NAME)
    monkeypatch.setenv(C.ENV_TDAJOB_UID, UID)
    monkeypatch.setenv(C.ENV_NAMESPACE, NS)
    monkeypatch.delenv(C.ENV_COMPLETION_INDEX, raising=False)
    confined = compute.Limits(allow_http=True, data_root=str(tmp_path), output_root=str(tmp_path))
    monkeypatch.setattr(compute.Limits, "from_env", classmethod(lambda cls: confined))
    return fake


def submit(api, spec_input, shards=1, output=None, **computation):
    """Store the TDAJob the pods will read."""
    api.objects[TDAJOB_PATH] = {
        "apiVersion": "tda.io/v1alpha1", "kind": "TDAJob",
        "metadata": {"name": NAME, "namespace": NS, "uid": UID},
        "spec": {"input": spec_input,
                 "computation": {"complex": "rips", "maxDimension": 1, **computation},
                 "output": {"url": output} if output else {}},
    }
    return shards


def run_index(monkeypatch, index, shards):
    monkeypatch.setenv(C.ENV_SHARDS, str(shards))
    return compute.main(["run", "--index", str(index)])


@pytest.fixture
def term(tmp_path, monkeypatch):
    """The termination log, read back as JSON."""
    path = tmp_path / "termination-log"
    monkeypatch.setenv("TDA_TERMINATION_LOG", str(path))
    return lambda: json.loads(path.read_text())


def outcome_of(api, index):
    cm = api.config_maps(C.ROLE_RESULT)[C.result_config_map_name(NAME, index)]
    return json.loads(cm["metadata"]["annotations"][C.ANNOTATION_OUTCOME])


def prefix_of(tmp_path, clouds):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for i, points in enumerate(clouds):
        np.save(data / f"c{i}.npy", np.array(points))
    return "file://" + str(data) + "/"


# --------------------------------------------------------------------------- sharding and records


def inline_points(points):
    return {"inline": {"points": points}}


@needs_rips
@pytest.mark.parametrize("shards", [1, 3])
def test_each_index_processes_its_share_of_a_prefix(api, term, tmp_path, monkeypatch, shards):
    prefix = prefix_of(tmp_path, [circle(20, seed=i) for i in range(7)])
    out = "file://" + str(tmp_path / "out") + "/"
    submit(api, {"datasets": {"urlPrefix": prefix, "pattern": "*.npy"}}, output=out)
    done = 0
    for index in range(shards):
        assert run_index(monkeypatch, index, shards) == 0
        record = outcome_of(api, index)
        assert record == term()
        assert record["index"] == index and record["total"] == 7 and record["errors"] == []
        assert record["datasets"] == len(range(index, 7, shards)) == record["succeeded"]
        done += record["succeeded"]
    assert done == 7
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"c{i}.npy.{ext}" for i in range(7) for ext in ("json", "npz"))


@needs_rips
def test_the_manifest_fixes_the_dataset_list_for_every_index_and_retry(api, term, tmp_path, monkeypatch):
    prefix = prefix_of(tmp_path, [circle(12, seed=i) for i in range(4)])
    submit(api, {"datasets": {"urlPrefix": prefix}}, output="file://" + str(tmp_path / "out") + "/")
    assert run_index(monkeypatch, 0, 2) == 0
    heads = api.config_maps(C.ROLE_MANIFEST)
    assert list(heads) == [C.manifest_config_map_name(NAME)]
    # Objects added after the run started are not part of it: index 1 reads the manifest.
    np.save(tmp_path / "data" / "c9.npy", np.array(circle(12, seed=9)))
    assert run_index(monkeypatch, 1, 2) == 0
    assert outcome_of(api, 1)["datasets"] == 2 and outcome_of(api, 1)["total"] == 4
    assert len(api.config_maps(C.ROLE_MANIFEST_CHUNK)) == 1


def test_a_large_manifest_is_chunked_and_read_back_exactly(api):
    keys = [f"clouds/{i:06d}-{'x' * 40}.npy" for i in range(100_000)]
    run = manifest.RunIdentity(NS, NAME, UID)
    assert manifest.fixed_dataset_keys(api, run, lambda: keys) == keys
    chunks = api.config_maps(C.ROLE_MANIFEST_CHUNK)
    assert len(chunks) > 1
    assert all(len(json.dumps(c)) < 1024 * 1024 for c in chunks.values())  # each fits in a ConfigMap
    listed_again = []
    assert manifest.fixed_dataset_keys(api, run, lambda: listed_again.append(1) or []) == keys
    assert not listed_again  # the second pod reads; it never lists


def test_a_manifest_of_an_earlier_tdajob_is_not_used(api):
    manifest.fixed_dataset_keys(api, manifest.RunIdentity(NS, NAME, "old-uid"), lambda: ["a.npy"])
    with pytest.raises(tio.TransientError, match="earlier TDAJob"):
        manifest.fixed_dataset_keys(api, manifest.RunIdentity(NS, NAME, UID), lambda: ["b.npy"])


@needs_rips
def test_results_in_the_configmap_with_the_outcome(api, term, monkeypatch):
    submit(api, inline_points(circle(30)))
    assert run_index(monkeypatch, 0, 1) == 0
    cm = api.config_maps(C.ROLE_RESULT)["job-result-0"]
    (owner,) = cm["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "tda.io/v1alpha1", "kind": "TDAJob", "name": NAME, "uid": UID, "controller": True}
    assert cm["metadata"]["labels"][C.LABEL_TDAJOB] == NAME and cm["metadata"]["labels"][C.LABEL_INDEX] == "0"
    doc = tres.read_shard_json_gz(base64.b64decode(cm["binaryData"][C.RESULT_JSON_KEY]))
    assert [d["id"] for d in doc["datasets"]] == ["inline"]
    npz = np.load(io.BytesIO(base64.b64decode(cm["binaryData"][C.RESULT_NPZ_KEY])))
    assert "inline/diagram_1" in npz.files
    dgms = tda_core.rips_persistence(np.array(circle(30)), max_dim=1)
    assert outcome_of(api, 0)["intervalCounts"] == tres.interval_counts(dgms)


@needs_rips
def test_a_retried_index_keeps_the_first_record(api, term, monkeypatch):
    submit(api, inline_points(circle(20)))
    assert run_index(monkeypatch, 0, 1) == 0
    first = outcome_of(api, 0)
    assert run_index(monkeypatch, 0, 1) == 0  # create -> 409 -> the existing record of this run stands
    assert outcome_of(api, 0) == first


@needs_rips
def test_a_stale_record_of_an_earlier_tdajob_is_transient(api, term, monkeypatch):
    submit(api, inline_points(circle(20)))
    api.objects[f"{CM_PATH}/job-result-0"] = {"metadata": {"name": "job-result-0", "ownerReferences": [
        {"uid": "old-uid"}]}}
    assert run_index(monkeypatch, 0, 1) == C.EXIT_TRANSIENT
    assert "earlier TDAJob" in term()["errors"][0]


@needs_rips
def test_results_too_large_for_a_configmap_ask_for_output_url(api, term, monkeypatch):
    monkeypatch.setattr(compute, "CONFIGMAP_BUDGET", 200)
    submit(api, inline_points(circle(80)))
    assert run_index(monkeypatch, 0, 1) == C.EXIT_INVALID_INPUT
    assert "spec.output.url" in term()["errors"][0]
    record = outcome_of(api, 0)  # the failure is recorded durably too
    assert record["succeeded"] == 0 and record["failed"] == 1


def test_result_config_map_size_limit_with_incompressible_diagrams():
    rng = np.random.default_rng(0)
    big = tres.DatasetResult("big", "points", 100_000, [rng.random((60_000, 2))])
    run = manifest.RunIdentity("n", "j", "u")
    record = compute.Outcome(0).record()
    with pytest.raises(tio.InvalidInput, match=r"over the 1 MiB.*spec.output.url"):
        compute.result_config_map(run, record, [big], [])
    small = tres.DatasetResult("small", "points", 10, [rng.random((9, 2))])
    body = compute.result_config_map(run, record, [small], [])
    size = sum(len(base64.b64decode(v)) for v in body["binaryData"].values())
    assert size < compute.CONFIGMAP_BUDGET


# --------------------------------------------------------------------------- exit codes and messages


@needs_rips
def test_invalid_dataset_fails_the_index_with_code_3_but_keeps_the_others(api, term, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("0,1\n2,nan\n")
    np.save(data / "b.npy", np.array(circle(10)))
    submit(api, {"datasets": {"urlPrefix": "file://" + str(data) + "/"}}, output="file://" + str(tmp_path / "o") + "/")
    assert run_index(monkeypatch, 0, 1) == C.EXIT_INVALID_INPUT
    record = outcome_of(api, 0)
    assert (record["succeeded"], record["failed"]) == (1, 1)
    assert record["errors"][0].startswith("InvalidInput: dataset 0 (a.csv): ") and "NaN" in record["errors"][0]
    assert (tmp_path / "o" / "b.npy.json").exists()


def test_a_file_outside_the_volume_is_refused_without_its_content(api, term, tmp_path, monkeypatch):
    secret = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    secret.write_text("AWS_SECRET_ACCESS_KEY=hunter2\n")
    submit(api, {"url": "file://" + str(secret), "format": "lower-distance-matrix"})
    assert run_index(monkeypatch, 0, 1) == C.EXIT_INVALID_INPUT
    text = json.dumps(term()) + json.dumps(api.objects)
    assert "leaves the input volume" in text and "hunter2" not in text


def test_an_unreadable_secret_is_the_users_to_fix(api, term, monkeypatch):
    submit(api, {"url": "s3://bucket/a.npy", "credentialsSecret": "other-team"})
    api.forbidden.add(f"/api/v1/namespaces/{NS}/secrets/other-team")
    assert run_index(monkeypatch, 0, 1) == C.EXIT_INVALID_INPUT
    assert "may not read this Secret" in term()["errors"][0]
    submit(api, {"url": "s3://bucket/a.npy", "credentialsSecret": "missing"})
    assert run_index(monkeypatch, 0, 1) == C.EXIT_INVALID_INPUT


def test_credentials_come_from_the_secret_not_the_environment(api, term, monkeypatch):
    seen = {}

    def fake_fetch(self, url, name):
        seen.update(self.credentials.values)
        raise tio.InvalidInput(f"{name}: the object does not exist")

    monkeypatch.setattr(compute.Sources, "fetch", fake_fetch)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
    api.objects[f"/api/v1/namespaces/{NS}/secrets/creds"] = {"data": {
        "AWS_ACCESS_KEY_ID": base64.b64encode(b"id").decode(),
        "AWS_SECRET_ACCESS_KEY": base64.b64encode(b"from-the-secret").decode()}}
    submit(api, {"url": "s3://bucket/a.npy", "credentialsSecret": "creds"})
    assert run_index(monkeypatch, 0, 1) == C.EXIT_INVALID_INPUT
    assert seen["AWS_SECRET_ACCESS_KEY"] == "from-the-secret"
    assert "from-the-secret" not in json.dumps(term())


def test_an_unreachable_source_is_transient_with_code_4(api, term, monkeypatch):
    submit(api, {"url": "http://127.0.0.1:9/x.npy"})
    assert run_index(monkeypatch, 0, 1) == C.EXIT_TRANSIENT
    assert term()["errors"][0].startswith("TransientError: ")
    assert not api.config_maps(C.ROLE_RESULT)  # a retried index records nothing yet


@pytest.mark.parametrize(
    ("computation", "field"),
    [
        ({"coefficient": 4}, "spec.computation.coefficient"),
        ({"maxDimension": -1}, "spec.computation.maxDimension"),
        ({"threshold": 0}, "spec.computation.threshold"),
        ({"threshold": 1e309}, "spec.computation.threshold"),
        ({"complex": "alpha"}, "spec.computation.complex"),
        ({"features": ["diagrams", "silhouettes"]}, "spec.computation.features"),
        ({"metric": "hamming"}, "spec.computation.metric"),
    ],
)
def test_invalid_computation_is_invalid_input_naming_the_field(api, term, monkeypatch, computation, field):
    submit(api, inline_points(circle(5)), **computation)
    assert run_index(monkeypatch, 0, 1) == C.EXIT_INVALID_INPUT
    assert field in term()["errors"][0]


def test_a_replaced_tdajob_is_not_computed(api, term, monkeypatch):
    submit(api, inline_points(circle(5)))
    api.objects[TDAJOB_PATH]["metadata"]["uid"] = "another"
    assert run_index(monkeypatch, 0, 1) == 1
    assert term()["errors"][0].startswith("PlatformError: ")


def test_a_pod_without_identity_is_a_platform_error(term, monkeypatch):
    monkeypatch.delenv(C.ENV_TDAJOB_NAME, raising=False)
    assert compute.main(["run", "--index", "0"]) == 1
    assert term()["errors"][0].startswith("PlatformError: ")


def test_termination_message_fits_in_4096_bytes_even_with_huge_errors():
    outcome = compute.Outcome(3, total=100, datasets=100)
    outcome.failures = [{"id": str(i), "error": "InvalidInput: " + "é" * 5000} for i in range(3)]
    text = compute.termination_message(outcome.record())
    assert len(text.encode()) <= C.TERMINATION_MESSAGE_MAX_BYTES
    record = json.loads(text)
    assert set(record) == set(C.OUTCOME_KEYS) and record["v"] == C.OUTCOME_VERSION
    assert all(e.endswith("...") for e in record["errors"])


# --------------------------------------------------------------------------- features, cubical, local


@needs_rips
def test_requested_features_are_in_json_and_npz(api, term, tmp_path, monkeypatch):
    names = [n for n in tres._FEATURE_FUNCTIONS if hasattr(tda_core, tres._FEATURE_FUNCTIONS[n])]
    if len(names) < 4:
        pytest.skip("tda_core vectorizations not built")
    out = tmp_path / "out"
    submit(api, inline_points(circle(30)), output="file://" + str(out) + "/", features=["diagrams", *names])
    assert run_index(monkeypatch, 0, 1) == 0
    doc = json.loads((out / "inline.json").read_text())
    npz = np.load(out / "inline.npz")
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
    assert max(doc["features"]["bettiCurves"][1]) >= 1  # the circle's loop
    assert doc["features"]["entropy"][0] > 0
    assert doc["job"]["uid"] == UID


@needs_cubical
def test_cubical_image_inline(api, term, monkeypatch):
    img = np.zeros((7, 7))
    img[1:6, 1:6] = 1.0
    img[3, 3] = 0.0  # a ring of high values around a hole: one H1 class
    submit(api, {"inline": {"points": img.tolist()}}, complex="cubical", maxDimension=1)
    assert run_index(monkeypatch, 0, 1) == 0
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


def test_gzip_is_deterministic_so_a_retry_writes_the_same_bytes():
    r = tres.DatasetResult("a", "points", 3, [np.array([[0.0, np.inf], [0.0, 1.0]])])
    assert tres.shard_json_gz([r], []) == tres.shard_json_gz([r], [])
    assert gzip.decompress(tres.shard_json_gz([r], [])).startswith(b'{"v":1')
