"""`tda-compute`: compute persistent homology of datasets with tda_core.

  tda-compute run --spec /etc/tda/job.json     what each pod of a TDAJob runs
  tda-compute local FILE [FILE ...]            the same computation on this machine

`run` processes the datasets of its index (JOB_COMPLETION_INDEX): datasets[j] for j % shards == index.
It writes results to `output.url` (<url>/<id>.json and <id>.npz) or to the ConfigMap
<tdajob>-result-<index>, a one-line JSON summary to the termination log, and exits with
0 (done), 3 (invalid input: the Job fails the index without retrying) or 4 (transient: retried).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The worker and the operator ship in one distribution and share their contract.
from tda_operator import contract as C

from . import io as tio
from . import results as tres
from ._validate import is_prime

log = logging.getLogger("tda-compute")

FIELD_MANAGER = "tda-compute"
TDAJOB_API_VERSION = "tda.io/v1alpha1"
TDAJOB_KIND = "TDAJob"
# The API server refuses a ConfigMap whose data exceeds 1 MiB; leave room for metadata.
CONFIGMAP_BUDGET = 1024 * 1024 - 16 * 1024
RESULT_JSON_KEY = "results.json.gz"
RESULT_NPZ_KEY = "results.npz"
RESULT_SUMMARY_KEY = "summary.json"


# --------------------------------------------------------------------------- the computation


@dataclass(frozen=True)
class Computation:
    complex: str = "rips"
    max_dimension: int = 1
    threshold: float | None = None
    coefficient: int = 2
    metric: str = "euclidean"
    features: tuple[str, ...] = ("diagrams",)
    n_threads: int = 1

    @classmethod
    def from_spec(cls, comp: dict[str, Any], n_threads: int = 1) -> Computation:
        """Validate `computation` as the worker needs it; errors name the field."""
        complex_ = comp.get("complex") or "rips"
        if complex_ not in ("rips", "cubical"):
            raise tio.InvalidInput(f"computation.complex must be rips or cubical, not {complex_!r}")
        max_dim = comp.get("maxDimension", 1)
        if not isinstance(max_dim, int) or isinstance(max_dim, bool) or not 0 <= max_dim <= 8:
            raise tio.InvalidInput(f"computation.maxDimension must be an integer from 0 to 8, not {max_dim!r}")
        threshold = comp.get("threshold")
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
                raise tio.InvalidInput(f"computation.threshold must be a positive number, not {threshold!r}")
            threshold = float(threshold)
        coeff = comp.get("coefficient", 2)
        if not isinstance(coeff, int) or isinstance(coeff, bool) or not is_prime(coeff):
            raise tio.InvalidInput(f"computation.coefficient must be a prime (2, 3, 5, ...), not {coeff!r}")
        features = tuple(comp.get("features") or ("diagrams",))
        unknown = [f for f in features if f not in tres.FEATURES]
        if unknown:
            raise tio.InvalidInput(
                f"computation.features: unknown {', '.join(map(repr, unknown))}; known: {', '.join(tres.FEATURES)}"
            )
        return cls(complex_, max_dim, threshold, coeff, comp.get("metric") or "euclidean", features, n_threads)


def default_threads() -> int:
    """TDA_THREADS, else the container's CPU limit (cgroup v2 cpu.max), else the CPUs we may run on."""
    if os.environ.get("TDA_THREADS"):
        return max(1, int(os.environ["TDA_THREADS"]))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def compute_dataset(ds: tio.Dataset, comp: Computation) -> tres.DatasetResult:
    """Persistence diagrams (and features) of one parsed dataset."""
    import tda_core

    start = time.perf_counter()
    try:
        if comp.complex == "cubical":
            # A d-dimensional image has homology up to dimension d-1; ask for no more than exists.
            max_dim = min(comp.max_dimension, ds.array.ndim - 1)
            diagrams = tda_core.cubical_persistence(ds.array, max_dim=max_dim)
        else:
            diagrams = tda_core.rips_persistence(
                ds.array,
                max_dim=comp.max_dimension,
                threshold=comp.threshold,
                coeff=comp.coefficient,
                metric=comp.metric,
                distance_matrix=ds.kind == "distance",
                n_threads=comp.n_threads,
            )
        diagrams = [np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in diagrams]
        features, parameters = tres.compute_features(diagrams, comp.features)
    except (ValueError, TypeError) as exc:
        # tda_core validates its arguments with ValueError naming the parameter.
        raise tio.InvalidInput(f"{ds.id}: {exc}") from exc
    return tres.DatasetResult(
        id=ds.id,
        kind=ds.kind,
        n_points=ds.size,
        diagrams=diagrams,
        features=features,
        feature_parameters=parameters,
        seconds=time.perf_counter() - start,
    )


# --------------------------------------------------------------------------- termination message


def termination_message(
    index: int,
    n_datasets: int,
    succeeded: int,
    failed: int,
    counts: Sequence[int],
    maxima: Sequence[float],
    seconds: float,
    result: str | None,
    error: str | None = None,
) -> str:
    """Compact JSON, at most 4096 bytes: the error message is shortened to fit, never the numbers."""
    msg: dict[str, Any] = {
        "v": C.TERMINATION_MESSAGE_VERSION,
        "index": index,
        "datasets": n_datasets,
        "succeeded": succeeded,
        "failed": failed,
        "intervalCounts": list(counts),
        "maxPersistence": [round(m, 9) for m in maxima],
        "computeSeconds": round(seconds, 3),
        "result": result or "",
    }
    if not error:
        return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
    limit = C.TERMINATION_MESSAGE_MAX_BYTES
    # Longest prefix of the error that fits (binary search: JSON escaping makes sizes non-linear).
    lo, hi = 0, len(error)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = error if mid == len(error) else error[:mid] + "..."
        size = len(json.dumps({**msg, "error": candidate}, separators=(",", ":"), ensure_ascii=False).encode())
        if size <= limit:
            lo = mid
        else:
            hi = mid - 1
    msg["error"] = error if lo == len(error) else error[:lo] + "..."
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)


def write_termination_log(text: str) -> None:
    path = Path(os.environ.get("TDA_TERMINATION_LOG", C.TERMINATION_MESSAGE_PATH))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:  # outside a pod there is no /dev/termination-log; the log line suffices
        log.debug("no termination log at %s: %s", path, exc)


# --------------------------------------------------------------------------- result writers


def owner_reference(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": TDAJOB_API_VERSION,
        "kind": TDAJOB_KIND,
        "name": spec["name"],
        "uid": spec["uid"],
        "controller": True,
    }


def result_config_map(
    spec: dict[str, Any], index: int, results: Sequence[tres.DatasetResult], failed: Sequence[dict[str, str]],
    summary: dict[str, Any],
) -> dict[str, Any]:
    """The ConfigMap <tdajob>-result-<index>; raises InvalidInput when it cannot fit in 1 MiB."""
    job = {"name": spec.get("name"), "uid": spec.get("uid"), "index": index}
    json_gz = tres.shard_json_gz(results, failed, job)
    npz = tres.to_npz_bytes(tres.shard_arrays(results))
    summary_text = json.dumps(summary, separators=(",", ":"))
    size = len(json_gz) + len(npz) + len(summary_text)
    name = C.result_config_map_name(spec["name"], index)
    if size > CONFIGMAP_BUDGET:
        raise tio.InvalidInput(
            f"results of index {index} are {size / 2**20:.2f} MiB compressed, over the 1 MiB a ConfigMap "
            f"({name}) can hold; set spec.output.url (s3:// or file://) to store results in object storage"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": spec["namespace"],
            "labels": {
                "app.kubernetes.io/managed-by": FIELD_MANAGER,
                "tda.io/tdajob": spec["name"],
                "tda.io/index": str(index),
            },
            "ownerReferences": [owner_reference(spec)],
        },
        "data": {RESULT_SUMMARY_KEY: summary_text},
        "binaryData": {
            RESULT_JSON_KEY: base64.b64encode(json_gz).decode(),
            RESULT_NPZ_KEY: base64.b64encode(npz).decode(),
        },
    }


def _kube_core_api():
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()  # a worker run by hand against a cluster
    return client.CoreV1Api()


def apply_config_map(body: dict[str, Any]) -> None:
    """Server-side apply: re-running an index replaces its result instead of failing on conflict."""
    from kubernetes.client.exceptions import ApiException

    meta = body["metadata"]
    try:
        _kube_core_api().patch_namespaced_config_map(
            meta["name"], meta["namespace"], body,
            field_manager=FIELD_MANAGER, force=True, _content_type="application/apply-patch+yaml",
        )
    except ApiException as exc:
        if exc.status is not None and (exc.status >= 500 or exc.status == 429):
            raise tio.TransientError(f"writing ConfigMap {meta['name']}: HTTP {exc.status} {exc.reason}") from exc
        if exc.status == 422 or exc.status == 413:
            raise tio.InvalidInput(
                f"the API server refused ConfigMap {meta['name']} ({exc.reason}); set spec.output.url"
            ) from exc
        raise
    except OSError as exc:  # urllib3 connection errors derive from OSError
        raise tio.TransientError(f"writing ConfigMap {meta['name']}: {exc}") from exc


def write_dataset_objects(output_url: str, result: tres.DatasetResult, job: dict[str, Any]) -> None:
    base = tio.join_url(output_url, result.id)
    tio.put(base + ".json", tres.to_json_bytes(tres.dataset_document(result, job)), "application/json")
    tio.put(base + ".npz", tres.to_npz_bytes(tres.dataset_arrays(result)))


# --------------------------------------------------------------------------- run


def _load_spec(path: str) -> dict[str, Any]:
    try:
        spec = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"spec {path} not found (is the ConfigMap <tdajob>-spec mounted at /etc/tda?)") from exc
    except json.JSONDecodeError as exc:
        raise tio.InvalidInput(f"spec {path} is not valid JSON: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("datasets"), list):
        raise tio.InvalidInput(f"spec {path}: needs a datasets list")
    return spec


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Terminated(Exception):
    pass


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated("stopped by SIGTERM (the Job was suspended or deleted, or ran past its deadline)")


def run(spec_path: str, index: int | None = None) -> int:
    """One pod's work; returns the exit code (the termination log is always written)."""
    started = time.perf_counter()
    index = _int_env(C.ENV_COMPLETION_INDEX, 0) if index is None else index
    results: list[tres.DatasetResult] = []  # kept only for the ConfigMap; object output streams
    tally = tres.Tally()
    failed: list[dict[str, str]] = []
    mine: list[dict[str, Any]] = []
    result_ref: str | None = None

    def finish(code: int, error: str | None = None) -> int:
        text = termination_message(
            index, len(mine), tally.succeeded, len(failed), tally.counts, tally.maxima,
            tally.seconds, result_ref, error,
        )
        write_termination_log(text)
        print(text, flush=True)
        log.info("index %d: %d succeeded, %d failed, %.2fs total (exit %d)",
                 index, tally.succeeded, len(failed), time.perf_counter() - started, code)
        return code

    # Report how far the shard got when the pod is stopped (suspend, deadline, deletion).
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        spec = _load_spec(spec_path)
        comp = Computation.from_spec(spec.get("computation") or {}, default_threads())
        shards = int(spec.get("shards") or 1)
        if not 0 <= index < shards:
            raise tio.InvalidInput(f"index {index} is outside 0..{shards - 1} (spec.shards={shards})")
        datasets = spec["datasets"]
        listing = spec.get("listing")
        if not datasets and listing:
            datasets = tio.list_prefix(listing["urlPrefix"], listing.get("pattern") or "*", listing.get("limit"))
            log.info("listed %d datasets under %s", len(datasets), listing["urlPrefix"])
        mine = [datasets[j] for j in C.datasets_of_index(len(datasets), shards, index)]
        fmt = (spec.get("input") or {}).get("format")
        output_url = (spec.get("output") or {}).get("url")
        job = {"name": spec.get("name"), "namespace": spec.get("namespace"), "uid": spec.get("uid")}
        if output_url:
            result_ref = output_url
        elif spec.get("name"):
            result_ref = C.RESULT_CONFIGMAP_PREFIX + C.result_config_map_name(spec["name"], index)
        log.info("index %d of %d: %d datasets, %s maxDimension=%d, %d threads",
                 index, shards, len(mine), comp.complex, comp.max_dimension, comp.n_threads)

        for k, entry in enumerate(mine, start=1):
            ds_id = str(entry.get("id") or entry.get("url") or f"dataset-{k}")
            try:
                ds = tio.load_entry(entry, format=fmt, complex=comp.complex)
                result = compute_dataset(ds, comp)
                if output_url:
                    write_dataset_objects(output_url, result, job)
            except tio.InvalidInput as exc:
                # Keep going: one bad dataset should not hide the results of the others.
                error = str(exc) if str(exc).startswith(ds_id) else f"dataset {ds_id}: {exc}"
                failed.append({"id": ds_id, "error": error})
                log.error("[%d/%d] %s: invalid input: %s", k, len(mine), ds_id, exc)
                continue
            tally.add(result)
            if not output_url:
                results.append(result)
            log.info("[%d/%d] %s: %s, intervals %s, %.3fs", k, len(mine), ds_id, ds.describe(),
                     result.interval_counts, result.seconds)

        if not output_url:
            if not spec.get("name") or not spec.get("uid") or not spec.get("namespace"):
                raise tio.InvalidInput("spec needs name, namespace and uid to write the result ConfigMap")
            summary = {"index": index, "datasets": len(mine), "succeeded": tally.succeeded, "failed": len(failed),
                       "intervalCounts": tally.counts, "maxPersistence": tally.maxima}
            apply_config_map(result_config_map(spec, index, results, failed, summary))
    except tio.InvalidInput as exc:
        return finish(C.EXIT_INVALID_INPUT, f"InvalidInput: {exc}")
    except tio.TransientError as exc:
        return finish(C.EXIT_TRANSIENT, f"TransientError: {exc}")
    except Terminated as exc:
        return finish(128 + signal.SIGTERM, f"Terminated: {exc}")
    except Exception as exc:
        traceback.print_exc()
        return finish(1, f"InternalError: {type(exc).__name__}: {exc}")

    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return finish(C.EXIT_INVALID_INPUT, f"InvalidInput: {first['error']}{more}")
    return finish(C.EXIT_OK)


# --------------------------------------------------------------------------- local


def _print_table(ds: tio.Dataset, result: tres.DatasetResult, comp: Computation) -> None:
    print(f"{result.id}: {ds.describe()}, {comp.complex}, {result.seconds:.3f}s")
    print(f"  {'dim':>3}  {'intervals':>9}  {'essential':>9}  {'max persistence':>15}")
    for q, dgm in enumerate(result.diagrams):
        essential = int(np.count_nonzero(~np.isfinite(dgm[:, 1]))) if len(dgm) else 0
        print(f"  H{q:<2}  {result.interval_counts[q]:>9}  {essential:>9}  {result.max_persistence[q]:>15.6g}")


def local(args: argparse.Namespace) -> int:
    comp = Computation.from_spec(
        {"complex": args.complex, "maxDimension": args.max_dim, "threshold": args.threshold,
         "coefficient": args.coeff, "metric": args.metric, "features": args.features},
        args.threads or default_threads(),
    )
    code = C.EXIT_OK
    documents = []
    for path in args.files:
        try:
            ds = tio.load(path, id=Path(path).name, format=args.format, complex=comp.complex)
            result = compute_dataset(ds, comp)
            if args.output:
                write_dataset_objects(args.output, result, {})
        except tio.InvalidInput as exc:
            print(f"tda-compute: invalid input: {exc}", file=sys.stderr)
            code = C.EXIT_INVALID_INPUT
            continue
        except tio.TransientError as exc:
            print(f"tda-compute: {exc}", file=sys.stderr)
            return C.EXIT_TRANSIENT
        if args.json:
            doc = tres.dataset_document(result)
            if not args.diagrams:
                doc.pop("diagrams")
                doc.pop("features", None)
            documents.append(doc)
        else:
            _print_table(ds, result, comp)
    if args.json:
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=None))
    return code


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tda-compute",
        description="Compute persistent homology of datasets with tda_core (the TDAJob worker).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "exit codes: 0 done; 3 invalid input (bad file, NaN, wrong shape, results too large for a\n"
            "ConfigMap); 4 transient (network or object store; the Job retries); other: crash.\n\n"
            "examples:\n"
            "  tda-compute local cloud.npy --max-dim 2\n"
            "  tda-compute local dists.txt --format lower-distance-matrix --json\n"
            "  tda-compute local image.npy --complex cubical --features diagrams entropy\n"
            "  tda-compute local s3://bucket/clouds/a.npy --output file:///tmp/results/"
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run_p = sub.add_parser("run", help="process this pod's share of a TDAJob (reads job.json)")
    run_p.add_argument("--spec", default=C.SPEC_PATH, help=f"the job document (default {C.SPEC_PATH})")
    run_p.add_argument("--index", type=int, default=None,
                       help=f"which shard to process (default: ${C.ENV_COMPLETION_INDEX} or 0)")

    loc = sub.add_parser("local", help="compute on local files or URLs and print a summary",
                         description="Compute persistent homology of FILEs (paths, file://, https:// or s3:// "
                                     "URLs; s3 uses AWS_* environment variables) and print a summary.")
    loc.add_argument("files", nargs="+", metavar="FILE")
    loc.add_argument("--complex", choices=("rips", "cubical"), default="rips")
    loc.add_argument("--max-dim", type=int, default=1, help="highest homology dimension (default 1)")
    loc.add_argument("--threshold", type=float, default=None, help="largest edge length of the Rips complex")
    loc.add_argument("--coeff", type=int, default=2, help="prime field of coefficients (default 2)")
    loc.add_argument("--metric", default="euclidean", help="distance between points (default euclidean)")
    loc.add_argument("--format", choices=tio.FORMATS, default=None, help="default: from the file extension")
    loc.add_argument("--features", nargs="+", choices=tres.FEATURES, default=["diagrams"])
    loc.add_argument("--threads", type=int, default=None, help="default: $TDA_THREADS or the CPUs available")
    loc.add_argument("--output", default=None, metavar="URL",
                     help="also write <id>.json and <id>.npz under this s3:// or file:// prefix")
    loc.add_argument("--json", action="store_true", help="print JSON documents instead of a table")
    loc.add_argument("--diagrams", action="store_true", help="with --json: include diagrams and features")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s tda-compute %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if args.command == "run":
        return run(args.spec, args.index)
    try:
        return local(args)
    except tio.InvalidInput as exc:
        print(f"tda-compute: {exc}", file=sys.stderr)
        return C.EXIT_INVALID_INPUT
    except BrokenPipeError:  # `tda-compute local ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return C.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
