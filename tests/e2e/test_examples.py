"""The user-facing examples end to end, the way the README tells a user to run them.

Each manifest in examples/ is applied with the real `kubectl` (found through `tda-dev env`)
to a fresh namespace of the local platform, after seeding what it reads with
`python -m tda_dev.objectstore`; the TDAJob must reach Succeeded with results that make
sense. `tda-dev demo` runs as a subprocess against the same platform.
"""

from __future__ import annotations

import base64
import fnmatch
import io
import json
import shutil
import struct
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# Two loaded cores: pods are Python processes that import numpy, boto3 and the core.
PHASE_TIMEOUT = 600.0


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="session")
def user_env(platform) -> dict[str, str]:
    """The environment after `eval "$(tda-dev env)"`: KUBECONFIG, and kubectl on PATH."""
    lines = subprocess.run([sys.executable, "-m", "tda_dev.cli", "env"], check=True,
                           capture_output=True, text=True, timeout=120).stdout
    dumped = subprocess.run(["bash", "-c", 'eval "$1" && env -0', "bash", lines], check=True,
                            capture_output=True, timeout=60).stdout
    env = dict(item.split("=", 1) for item in dumped.decode().split("\0") if "=" in item)
    env["KUBECONFIG"] = str(platform.kubeconfig)
    assert shutil.which("kubectl", path=env["PATH"]), f"no kubectl on the PATH of `tda-dev env`: {lines}"
    return env


def kubectl(env: dict[str, str], *args: str, timeout: float = 120.0) -> str:
    result = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def run_module(env: dict[str, str], *argv: str, timeout: float = 300.0, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def wait_succeeded(env: dict[str, str], namespace: str, name: str, timeout: float = PHASE_TIMEOUT) -> dict:
    """Poll the phase with kubectl until the TDAJob finishes; fail on anything but Succeeded."""
    deadline = time.monotonic() + timeout
    phase = ""
    while time.monotonic() < deadline:
        phase = kubectl(env, "get", "tdaj", name, "-n", namespace, "-o", "jsonpath={.status.phase}")
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(2)
    obj = json.loads(kubectl(env, "get", "tdaj", name, "-n", namespace, "-o", "json"))
    assert phase == "Succeeded", (
        f"TDAJob {namespace}/{name} ended in phase {phase!r} after up to {timeout:.0f}s:\n"
        + json.dumps(obj.get("status"), indent=1)
        + "\n" + kubectl(env, "get", "pods", "-n", namespace, "-o", "wide")
    )
    return obj


def seed(env: dict[str, str], namespace: str) -> None:
    """What the examples' comments say to run first, plus the Secret in the test's namespace."""
    seeded = run_module(env, "tda_dev.objectstore", "seed")
    assert seeded.returncode == 0, seeded.stderr
    secret = run_module(env, "tda_dev.objectstore", "secret", "-n", namespace)
    assert secret.returncode == 0, secret.stderr


def s3_client():
    from tda_dev import objectstore

    return objectstore.client(objectstore.endpoint_url())


def s3_keys(s3, prefix: str) -> dict[str, Any]:
    """key -> LastModified of every object under `prefix` in bucket tda."""
    found: dict[str, Any] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="tda", Prefix=prefix):
        found.update({o["Key"]: o["LastModified"] for o in page.get("Contents", [])})
    return found


def s3_array(s3, key: str) -> np.ndarray:
    return np.load(io.BytesIO(s3.get_object(Bucket="tda", Key=key)["Body"].read()))


def result_documents(namespace: str, name: str, status: dict, platform) -> list[dict[str, Any]]:
    """Per-dataset documents from the result ConfigMaps (results.json.gz)."""
    from kubernetes import client, config
    from tda_worker import results as tres

    core = client.CoreV1Api(config.new_client_from_config(str(platform.kubeconfig)))
    ref = status["resultRef"]
    assert ref["kind"] == "ConfigMap", ref
    docs = []
    for index in range(int(ref.get("shards") or 1)):
        cm = core.read_namespaced_config_map(f"{ref['namePrefix']}{index}", namespace)
        docs += tres.read_shard_json_gz(base64.b64decode(cm.binary_data["results.json.gz"]))["datasets"]
    return docs


def positive_counts(diagrams) -> list[int]:
    return [int(np.sum(d[:, 1] > d[:, 0])) for d in diagrams]


def finite_max_persistence(diagrams) -> list[float]:
    out = []
    for d in diagrams:
        f = d[np.isfinite(d[:, 1])]
        out.append(float(np.max(f[:, 1] - f[:, 0])) if len(f) else 0.0)
    return out


def long_bars(diagram: np.ndarray, top: int = 10) -> int:
    """Finite bars before the largest relative gap among the `top` longest: the features that stand out."""
    lengths = np.sort((diagram[:, 1] - diagram[:, 0])[np.isfinite(diagram[:, 1])])[::-1][:top]
    ratios = lengths[:-1] / np.maximum(lengths[1:], 1e-12)
    k = int(np.argmax(ratios))
    assert ratios[k] > 1.5, f"no clear gap between long and short bars: {lengths}"
    return k + 1


# ------------------------------------------------------------------------------ the examples


def test_every_example_tdajob_is_covered_here():
    kinds = {p.name: yaml.safe_load(p.read_text())["kind"] for p in EXAMPLES.glob("*.yaml")}
    assert kinds == {"torus.yaml": "TDAJob", "datasets-s3.yaml": "TDAJob", "image-cubical.yaml": "TDAJob",
                     "tdastream.yaml": "TDAStream"}


@pytest.mark.timeout(900)
def test_the_stream_example_flows_and_its_change_score_jumps_at_the_regime_change(platform, user_env, namespace):
    """kubectl apply of examples/tdastream.yaml, then `tda-dev demo-stream` feeds it and prints the records."""
    import re

    if platform.external:
        pytest.skip("needs the local platform's Kafka broker and stand-ins")
    assert "tdastream.tda.io/sensors created" in kubectl(
        user_env, "apply", "-f", str(EXAMPLES / "tdastream.yaml"), "-n", namespace)
    demo = run_module(dict(user_env, PYTHONUNBUFFERED="1"), "tda_dev.cli", "demo-stream", "--namespace", namespace,
                      timeout=600)
    job_log = platform.state_dir / "flink" / "deployments" / namespace / "sensors" / "job.log"
    job_lines = [line for line in job_log.read_text().splitlines() if "Triggering checkpoint" not in line] \
        if job_log.exists() else ["(no job log)"]
    job_tail = "\n".join(job_lines[-40:])
    assert demo.returncode == 0, f"stdout:\n{demo.stdout}\nstderr:\n{demo.stderr}\nFlink job log (end):\n{job_tail}"
    rows = re.findall(r"window \+\s*([0-9.]+)s .* change score\s+([0-9.]+|-)(\s+<- regime change)?", demo.stdout)
    scores = [(float(t), float(c)) for t, c, _ in rows if c != "-"]
    assert len(scores) >= 40, demo.stdout
    calm = [c for t, c in scores if t >= 2 and t + 10 <= 30]  # full windows, all before the change at +30 s
    changed = [c for t, c, mark in rows if mark and c != "-"]
    assert calm and changed and min(float(c) for c in changed) > 2 * max(calm), demo.stdout
    table = kubectl(user_env, "get", "tdas", "sensors", "-n", namespace)
    assert table.splitlines()[1].split()[:2] == ["sensors", "Running"], table


def test_torus_shows_the_torus(platform, user_env, namespace):
    from ripser import ripser
    from tda_worker import results as tres

    manifest = EXAMPLES / "torus.yaml"
    assert "tdajob.tda.io/torus created" in kubectl(user_env, "apply", "-f", str(manifest), "-n", namespace)
    obj = wait_succeeded(user_env, namespace, "torus")
    status = obj["status"]
    assert status["progress"] == {"total": 1, "succeeded": 1, "failed": 0, "running": 0, "text": "1/1"}

    # The summary is what ripser.py computes on the same points.
    points = np.asarray(yaml.safe_load(manifest.read_text())["spec"]["input"]["inline"]["points"], dtype=float)
    expected = ripser(points, maxdim=2, coeff=2)["dgms"]
    assert status["summary"]["intervalCounts"] == positive_counts(expected)
    assert status["summary"]["maxPersistence"] == pytest.approx(finite_max_persistence(expected), rel=1e-5)

    # The result's diagrams show the torus: Betti numbers 1, 2, 1 among the long bars.
    (doc,) = result_documents(namespace, "torus", status, platform)
    diagrams = tres.diagrams_from_json(doc["diagrams"])
    assert [len(d) for d in diagrams] == [len(d) for d in expected]
    assert int(np.sum(np.isinf(diagrams[0][:, 1]))) == 1
    assert [long_bars(diagrams[1]), long_bars(diagrams[2])] == [2, 1]
    assert {"bettiCurves", "entropy"} <= set(doc.get("features", {}))

    # What the example's comment and the README tell a user to look at.
    summary = json.loads(kubectl(user_env, "get", "configmap", "torus-result-0", "-n", namespace,
                                 "-o", r"jsonpath={.metadata.annotations.tda\.io/outcome}"))
    assert summary["intervalCounts"] == status["summary"]["intervalCounts"]
    table = kubectl(user_env, "get", "tdaj", "-n", namespace).splitlines()
    assert table[0].split() == ["NAME", "PHASE", "DATASETS", "PROGRESS", "AGE"], table
    assert table[1].split()[:4] == ["torus", "Succeeded", "1", "1/1"], table
    described = kubectl(user_env, "describe", "tdaj", "torus", "-n", namespace)
    assert "Succeeded" in described and "Interval Counts" in described, described


@pytest.mark.timeout(1500)
def test_datasets_s3_computes_every_seeded_cloud(platform, user_env, namespace):
    from ripser import ripser

    seed(user_env, namespace)
    s3 = s3_client()
    clouds = sorted(k.removeprefix("clouds/") for k in s3_keys(s3, "clouds/")
                    if fnmatch.fnmatch(k.removeprefix("clouds/"), "*.npy"))
    assert {f"cloud-{i:03d}.npy" for i in range(50)} <= set(clouds)
    # The store's clock, to tell this run's results from an earlier run's.
    not_before = parsedate_to_datetime(s3.list_buckets()["ResponseMetadata"]["HTTPHeaders"]["date"])

    kubectl(user_env, "apply", "-f", str(EXAMPLES / "datasets-s3.yaml"), "-n", namespace)
    status = wait_succeeded(user_env, namespace, "clouds", timeout=1200)["status"]
    n = len(clouds)
    assert status["progress"] == {"total": n, "succeeded": n, "failed": 0, "running": 0, "text": f"{n}/{n}"}
    assert len(status["summary"]["intervalCounts"]) == 2

    # <id>.json and <id>.npz per cloud under output.url, written by this run.
    results = s3_keys(s3, "results/clouds/")
    expected = {f"results/clouds/{c}{ext}" for c in clouds for ext in (".json", ".npz")}
    assert expected <= set(results), sorted(expected - set(results))[:5]
    stale = [k for k in expected if results[k] < not_before]
    assert not stale, f"results older than this run: {stale[:5]}"

    # A few results agree with ripser.py on the stored cloud.
    for cloud in clouds[:3]:
        doc = json.loads(s3.get_object(Bucket="tda", Key=f"results/clouds/{cloud}.json")["Body"].read())
        expected_dgms = ripser(s3_array(s3, f"clouds/{cloud}"), maxdim=1)["dgms"]
        assert doc["summary"]["intervalCounts"] == positive_counts(expected_dgms), cloud
        assert {"bettiCurves", "persistenceImages", "entropy"} <= set(doc["features"]), cloud
        npz = np.load(io.BytesIO(s3.get_object(Bucket="tda", Key=f"results/clouds/{cloud}.npz")["Body"].read()))
        assert {"diagram_0", "diagram_1"} <= set(npz.files), cloud


def test_image_cubical_succeeds_with_a_summary(platform, user_env, namespace):
    import tda_core

    seed(user_env, namespace)
    kubectl(user_env, "apply", "-f", str(EXAMPLES / "image-cubical.yaml"), "-n", namespace)
    status = wait_succeeded(user_env, namespace, "blobs")["status"]
    assert status["progress"]["succeeded"] == status["progress"]["total"] == 1
    counts = status["summary"]["intervalCounts"]
    assert len(counts) == 2 and counts[0] > 1 and counts[1] > 0, status["summary"]  # basins and rings
    # The same numbers as the core on the stored image, computed here.
    image = s3_array(s3_client(), "images/blobs.npy")
    assert image.shape == (128, 128)
    assert counts == positive_counts(tda_core.cubical_persistence(image, max_dim=1))
    summary = json.loads(kubectl(user_env, "get", "configmap", "blobs-result-0", "-n", namespace,
                                 "-o", r"jsonpath={.metadata.annotations.tda\.io/outcome}"))
    assert summary["intervalCounts"] == counts


def test_kubectl_explain_documents_the_computation(user_env):
    text = kubectl(user_env, "explain", "tdajob.spec.computation")
    assert "DESCRIPTION:" in text and "What to compute" in text, text
    for field in ("complex", "maxDimension", "coefficient", "metric", "threshold", "features"):
        assert f"  {field}\t" in text, f"{field} missing:\n{text}"
    # Every field has a description line under it, not just a type.
    fields = text.split("FIELDS:", 1)[1].strip().split("\n\n")
    assert all(len(block.strip().splitlines()) >= 2 for block in fields), fields


# ------------------------------------------------------------------------------ the demo


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


@pytest.mark.timeout(1200)
def test_demo_draws_the_torus_diagram(platform, user_env, namespace, tmp_path):
    env = dict(user_env, PYTHONUNBUFFERED="1")
    helped = run_module(env, "tda_dev.cli", "demo", "--help", timeout=120)
    assert helped.returncode == 0 and "--namespace" in helped.stdout and "--out" in helped.stdout

    demo = run_module(env, "tda_dev.cli", "demo", "--namespace", namespace, "--timeout", str(PHASE_TIMEOUT),
                      cwd=tmp_path, timeout=PHASE_TIMEOUT + 240)
    assert demo.returncode == 0, f"stdout:\n{demo.stdout}\nstderr:\n{demo.stderr}"
    assert "TDAJob torus: Succeeded" in demo.stdout, demo.stdout
    png = tmp_path / "out" / "torus-diagram.png"
    assert png.is_file(), demo.stdout
    width, height = _png_size(png.read_bytes())
    assert width >= 600 and height >= 300 and png.stat().st_size > 20_000, (width, height, png.stat().st_size)
