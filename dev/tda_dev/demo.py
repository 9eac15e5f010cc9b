"""`tda-dev demo`: the platform end to end on one TDAJob.

Brings the local platform up, applies examples/torus.yaml, follows the TDAJob until it finishes,
prints its summary, draws the persistence diagram from the result ConfigMap into
./out/torus-diagram.png, reads the same TDAJob and its result through the REST facade (as the
demo user of `tda-dev env`) and shows how to look around with kubectl and curl.
"""

from __future__ import annotations

import argparse
import base64
import math
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from tda_operator.models import GROUP, VERSION

from . import paths

PLURAL = "tdajobs"
EXAMPLE = paths.REPO_ROOT / "examples" / "torus.yaml"
RESULT_JSON_KEY = "results.json.gz"


def _say(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- the cluster side


def _apis(kubeconfig: Path):
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(kubeconfig))
    return client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)


def _get(custom, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def recreate(custom, namespace: str, manifest: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Start from scratch: a TDAJob's input is immutable and a finished one stays finished."""
    from kubernetes.client.exceptions import ApiException

    name = manifest["metadata"]["name"]
    if _get(custom, namespace, name) is not None:
        _say(f"deleting the TDAJob {name} of an earlier run ...")
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                               propagation_policy="Foreground")
        deadline = time.monotonic() + timeout
        while _get(custom, namespace, name) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"TDAJob {name} was not deleted within {timeout:.0f}s")
            time.sleep(0.5)
    try:
        return custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
    except ApiException as exc:
        if exc.status == 404:
            raise RuntimeError("the TDAJob CRD is not installed: is `crds/` generated (make crds)?") from exc
        raise


def follow(custom, namespace: str, name: str, timeout: float) -> dict[str, Any]:
    """Print each change of phase and progress until the TDAJob has finished; return it."""
    start = time.monotonic()
    last = None
    warned = False
    while True:
        obj = _get(custom, namespace, name) or {}
        status = obj.get("status") or {}
        phase = status.get("phase") or "(no status yet)"
        progress = status.get("progress") or {}
        line = (f"  {phase:<10} {progress.get('succeeded', 0)}/{progress.get('total', '?')} datasets"
                f"  running {progress.get('running', 0)}  failed {progress.get('failed', 0)}")
        if status.get("reason"):
            line += f"  ({status['reason']})"
        if line != last:
            _say(f"{line}   [{time.monotonic() - start:5.1f}s]")
            last = line
        if phase in ("Succeeded", "Failed"):
            return obj
        elapsed = time.monotonic() - start
        if not status and elapsed > 20 and not warned:
            _say("  no status after 20s: is the operator running? (tda-dev status)")
            warned = True
        if elapsed > timeout:
            raise RuntimeError(f"TDAJob {name} did not finish within {timeout:.0f}s (phase {phase})")
        time.sleep(0.5)


def result_documents(core, namespace: str, name: str, status: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-dataset result documents from the TDAJob's result ConfigMaps."""
    from tda_worker import results as tres

    ref = status.get("resultRef") or {}
    prefix = ref.get("namePrefix") or f"{name}-result-"
    docs: list[dict[str, Any]] = []
    for index in range(max(1, int(ref.get("shards") or 1))):
        cm = core.read_namespaced_config_map(f"{prefix}{index}", namespace)
        payload = (cm.binary_data or {}).get(RESULT_JSON_KEY)
        if payload:
            docs += tres.read_shard_json_gz(base64.b64decode(payload))["datasets"]
    return docs


# --------------------------------------------------------------------------- the picture


def plot_diagram(diagrams: list[Any], path: Path, title: str, xlabel: str = "filtration value") -> Path:
    """Persistence diagram (left) and barcode of the longest bars (right) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    dgms = [np.asarray(d, dtype=float).reshape(-1, 2) for d in diagrams]
    finite = np.concatenate([d[np.isfinite(d)] for d in dgms] + [np.zeros(1)])
    top = float(finite.max()) or 1.0
    inf_y = top * 1.1  # where essential classes (death = infinity) are drawn

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1, 1.15]})
    ax.plot([0, inf_y], [0, inf_y], color="0.6", lw=1)
    ax.axhline(inf_y, color="0.6", lw=1, ls="--")
    ax.text(0.02 * top, inf_y * 1.005, "death = ∞ (essential classes)", va="bottom", color="0.4", fontsize=8)
    for q, d in enumerate(dgms):
        if not len(d):
            continue
        deaths = np.where(np.isfinite(d[:, 1]), d[:, 1], inf_y)
        ax.scatter(d[:, 0], deaths, s=14, alpha=0.75, color=colors[q % len(colors)],
                   label=f"H{q} ({len(d)})", edgecolors="none")
    ax.set_xlim(-0.03 * inf_y, inf_y * 1.05)
    ax.set_ylim(-0.03 * inf_y, inf_y * 1.08)
    ax.set_aspect("equal")
    ax.set_xlabel("birth")
    ax.set_ylabel("death")
    ax.set_title("persistence diagram")
    ax.legend(loc="lower right")

    # Barcode: the 12 longest bars of each dimension, longest first.
    y = 0.0
    ticks: list[float] = []
    labels: list[str] = []
    for q, d in enumerate(dgms):
        if not len(d):
            continue
        deaths = np.where(np.isfinite(d[:, 1]), d[:, 1], inf_y)
        order = np.argsort(d[:, 0] - deaths)[:12]
        start = y
        for k in order:
            bx.plot([d[k, 0], deaths[k]], [y, y], color=colors[q % len(colors)], lw=3, solid_capstyle="butt")
            y += 1
        ticks.append((start + y - 1) / 2)
        labels.append(f"H{q}")
        y += 1.5
    bx.axvline(inf_y, color="0.6", lw=1, ls="--")
    bx.set_yticks(ticks, labels)
    bx.invert_yaxis()
    bx.set_xlim(0, inf_y * 1.05)
    bx.set_xlabel(xlabel)
    bx.set_title("longest bars")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- output


def print_summary(obj: dict[str, Any]) -> None:
    status = obj.get("status") or {}
    summary = status.get("summary") or {}
    counts = summary.get("intervalCounts") or []
    maxima = summary.get("maxPersistence") or []
    _say(f"\nTDAJob {obj['metadata']['name']}: {status.get('phase')}"
         + (f" ({status.get('reason')}: {status.get('message')})" if status.get("reason") else ""))
    if counts:
        _say(f"  {'dim':<4} {'intervals':>9} {'max persistence':>16}")
        for q, c in enumerate(counts):
            m = maxima[q] if q < len(maxima) else float("nan")
            _say(f"  H{q:<3} {c:>9} {m:>16.4f}")
    if summary.get("computeSeconds") is not None:
        _say(f"  compute time {float(summary.get('computeSeconds', 0)):.2f}s")


def print_top_bars(doc: dict[str, Any], n: int = 3) -> None:
    """The most persistent classes per dimension: for the torus, 1 in H0, 2 in H1, 1 in H2 stand out."""
    _say("  most persistent intervals (birth, death):")
    for q, dgm in enumerate(doc.get("diagrams", [])):
        bars = sorted(dgm, key=lambda p: -(math.inf if p[1] is None else p[1] - p[0]))[:n]
        text = ", ".join(f"[{b:.2f}, {'∞' if d is None else f'{d:.2f}'})" for b, d in bars)
        _say(f"    H{q}: {text}")


def show_rest_path(namespace: str, name: str) -> bool:
    """GET the TDAJob and its result through the facade, as the demo user; True when both were
    served or no facade runs here."""
    import httpx

    from . import chart_service, platform

    env = dict(line.removeprefix("export ").split("=", 1) for line in platform.env_lines())
    url, token = env.get("TDA_API_URL", "").strip("'"), env.get("TDA_API_TOKEN", "").strip("'")
    if not url or not token:
        _say("\n(no REST facade on this platform: TDA_DEV_API=0 or an existing cluster)")
        return False
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/v1/namespaces/{namespace}/jobs/{name}"
    _say(f"\nthe same TDAJob through the REST facade ({url}, as {chart_service.DEMO_NAMESPACE}/"
         f"{chart_service.DEMO_SERVICE_ACCOUNT}):")
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        job = http.get(path)
        _say(f"  GET {path} -> {job.status_code}: phase {job.json().get('status', {}).get('phase')}"
             if job.status_code == 200 else f"  GET {path} -> {job.status_code}")
        result = http.get(path + "/result")
        if result.status_code == 200:
            counts = [len(d) for d in result.json().get("diagrams", [])]
            _say(f"  GET {path}/result -> 200: intervals per dimension {counts}")
        else:
            _say(f"  GET {path}/result -> {result.status_code}")
    return job.status_code == result.status_code == 200


def print_next_steps(name: str, namespace: str, png: Path | None) -> None:
    if png is not None:
        _say(f"\npersistence diagram: {png}")
    commands = [
        ('eval "$(tda-dev env)"', "KUBECONFIG and kubectl on PATH"),
        (f"kubectl get tdaj -n {namespace}", "phase, datasets, progress"),
        (f"kubectl describe tdaj {name} -n {namespace}", "status, conditions, events"),
        (f"kubectl get job {name} -n {namespace}; kubectl get pods -n {namespace} -l job-name={name}",
         "the Indexed Job and its pods"),
        (f"kubectl get pods -n {namespace} -l job-name={name} -o jsonpath='{{..terminated.message}}'",
         "each pod's summary"),
        (f"kubectl get configmap {name}-result-0 -n {namespace} -o jsonpath='{{.data.summary\\.json}}'",
         "the result"),
        ("kubectl explain tdajob.spec.computation", "what else a TDAJob can do"),
        (f'curl -H "Authorization: Bearer $TDA_API_TOKEN" $TDA_API_URL/v1/namespaces/{namespace}/jobs/{name}',
         "the TDAJob through the REST facade (the web view: open $TDA_API_URL)"),
        ("python -m tda_dev.objectstore seed && kubectl apply -f examples/datasets-s3.yaml",
         "50 datasets in S3"),
        ("tda-dev down", "stop the platform"),
    ]
    _say("\nlook around:")
    for command, what in commands:
        _say(f"  # {what}\n  {command}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tda-dev demo", description=__doc__)
    parser.add_argument("--manifest", type=Path, default=EXAMPLE, help="the TDAJob to run (default examples/torus.yaml)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--out", type=Path, default=Path("out"), help="where the PNG goes (default ./out)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the TDAJob")
    args = parser.parse_args(argv)

    from . import platform

    info = platform.up()
    manifest = yaml.safe_load(args.manifest.read_text())
    manifest.setdefault("metadata", {})["namespace"] = args.namespace
    name = manifest["metadata"]["name"]
    custom, core = _apis(info.kubeconfig)

    n_points = len(((manifest.get("spec") or {}).get("input") or {}).get("inline", {}).get("points") or [])
    _say(f"\napplying {args.manifest.relative_to(paths.REPO_ROOT) if args.manifest.is_relative_to(paths.REPO_ROOT) else args.manifest}"
         + (f" ({n_points} points inline)" if n_points else ""))
    try:
        recreate(custom, args.namespace, manifest)
        obj = follow(custom, args.namespace, name, args.timeout)
    except RuntimeError as exc:
        _say(f"tda-dev demo: {exc}")
        print_next_steps(name, args.namespace, None)
        return 1
    print_summary(obj)
    if obj["status"].get("phase") != "Succeeded":
        print_next_steps(name, args.namespace, None)
        return 1

    png = None
    docs = result_documents(core, args.namespace, name, obj["status"])
    if docs:
        from tda_worker import results as tres

        print_top_bars(docs[0])
        comp = manifest["spec"].get("computation") or {}
        what = "cubical" if comp.get("complex") == "cubical" else "Vietoris–Rips"
        png = plot_diagram(tres.diagrams_from_json(docs[0]["diagrams"]),
                           args.out / f"{name}-diagram.png",
                           f"TDAJob {name}: {docs[0].get('points', '?')} points, {what}, "
                           f"coefficients Z/{comp.get('coefficient', 2)}",
                           "pixel value" if what == "cubical" else "filtration value (edge length)")
    else:
        _say("  (no diagrams in the result ConfigMap)")
    # The demo user may use TDAJobs in `default` only.
    rest_ok = show_rest_path(args.namespace, name) if args.namespace == "default" else True
    print_next_steps(name, args.namespace, png.resolve() if png else None)
    return 0 if rest_ok else 1


if __name__ == "__main__":
    sys.exit(main())
