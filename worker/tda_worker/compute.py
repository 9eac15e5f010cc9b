"""`tda-compute`: persistent homology of datasets with tda_core.

  tda-compute run                     what each pod of a TDAJob runs
  tda-compute local FILE [FILE ...]   the same computation on this machine

`run` reads its TDAJob's spec, fixes the run's dataset list (see :mod:`.manifest`),
computes the datasets of its index (JOB_COMPLETION_INDEX), writes full results to
spec.output.url or into its result ConfigMap, records its outcome there (the durable
record the operator reports from) and exits 0 (done), 3 (invalid input: the Job fails
the index without retrying) or 4 (transient: retried).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tda_contract as C

from . import formats as tio
from . import results as tres
from .cluster import Cluster, PlatformError
from .manifest import RunIdentity, fixed_dataset_keys
from .sources import Limits, S3Credentials, Sources

log = logging.getLogger("tda-compute")

# The API server refuses a ConfigMap whose data exceeds 1 MiB; leave room for metadata.
CONFIGMAP_BUDGET = 1024 * 1024 - 16 * 1024
MAX_THRESHOLD = 1.7976931348623157e308


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
        """Validate `spec.computation` as the worker needs it; errors name the field, not the value."""
        from tda_core._validate import is_prime

        complex_ = comp.get("complex") or "rips"
        if complex_ not in ("rips", "cubical"):
            raise tio.InvalidInput("spec.computation.complex must be rips or cubical")
        max_dim = comp.get("maxDimension", 1)
        if not isinstance(max_dim, int) or isinstance(max_dim, bool) or not 0 <= max_dim <= 8:
            raise tio.InvalidInput("spec.computation.maxDimension must be an integer from 0 to 8")
        threshold = comp.get("threshold")
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= MAX_THRESHOLD:
                raise tio.InvalidInput("spec.computation.threshold must be a positive finite number")
            threshold = float(threshold)
        coeff = comp.get("coefficient", 2)
        if not isinstance(coeff, int) or isinstance(coeff, bool) or not is_prime(coeff):
            raise tio.InvalidInput("spec.computation.coefficient must be a prime (2, 3, 5, ...)")
        features = tuple(comp.get("features") or ("diagrams",))
        if any(f not in tres.FEATURES for f in features):
            raise tio.InvalidInput(f"spec.computation.features: known features are {', '.join(tres.FEATURES)}")
        metric = comp.get("metric") or "euclidean"
        if metric not in ("euclidean", "manhattan", "chebyshev", "cosine"):
            raise tio.InvalidInput("spec.computation.metric must be euclidean, manhattan, chebyshev or cosine")
        return cls(complex_, max_dim, threshold, coeff, metric, features, n_threads)


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
        # tda_core names the parameter at fault; its messages carry sizes, never data.
        raise tio.InvalidInput(f"{ds.id}: {exc}") from None
    return tres.DatasetResult(
        id=ds.id,
        kind=ds.kind,
        n_points=ds.size,
        diagrams=diagrams,
        features=features,
        feature_parameters=parameters,
        seconds=time.perf_counter() - start,
    )


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class Entry:
    """One dataset of the run: a URL, or the inline data of the spec."""

    id: str
    url: str | None = None
    inline: dict[str, Any] | None = None


def dataset_id_from_url(url: str) -> str:
    """A stable, readable id: the last path component (or the host for a bare URL)."""
    tail = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail or "dataset"


def run_entries(source: dict[str, Any], list_keys: Any) -> list[Entry]:
    """The run's datasets from `spec.input`; `list_keys()` gives a prefix's fixed names."""
    if source.get("inline") is not None:
        return [Entry(C.INLINE_DATASET_ID, inline=source["inline"])]
    if source.get("url"):
        return [Entry(dataset_id_from_url(source["url"]), url=source["url"])]
    prefix = (source.get("datasets") or {}).get("urlPrefix")
    if not prefix:
        raise tio.InvalidInput("spec.input needs inline, url or datasets")
    base = prefix if prefix.endswith("/") else prefix + "/"
    return [Entry(key, url=base + key) for key in list_keys()]


def load_entry(sources: Sources, entry: Entry, position: int, fmt: str | None, complex_: str) -> tio.Dataset:
    name = f"dataset {position} ({entry.id})" if entry.url else f"spec.input.{entry.id}"
    if entry.inline is not None:
        parsed = tio.parse_inline(entry.inline, complex_, "spec.input.inline", fmt)
        return tio.Dataset(entry.id, parsed.kind, parsed.array)
    assert entry.url is not None
    encoding, kind = tio.resolve_format(entry.url, fmt, complex_, name)
    arr = tio.parse(sources.fetch(entry.url, name), encoding, kind, name)
    if kind == "lower-distance":
        kind = "distance"
    if complex_ == "cubical" and kind != "image":
        raise tio.InvalidInput(f"{name}: a cubical complex needs an image (spec.input.format image-npy)")
    if complex_ == "rips" and kind == "image":
        raise tio.InvalidInput(f"{name}: spec.input.format image-npy needs spec.computation.complex cubical")
    return tio.Dataset(entry.id, kind, arr)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the outcome


@dataclass
class Outcome:
    """What one index did: the record the operator sums into the TDAJob's status."""

    index: int
    total: int = 0
    datasets: int = 0
    tally: tres.Tally = field(default_factory=tres.Tally)
    failures: list[dict[str, str]] = field(default_factory=list)

    def record(self, errors: Sequence[str] = ()) -> dict[str, Any]:
        messages = [f["error"] for f in self.failures] + list(errors)
        return {
            "v": C.OUTCOME_VERSION,
            "index": self.index,
            "datasets": self.datasets,
            # An index that failed as a whole (errors) has no durable result for any dataset.
            "succeeded": 0 if errors else self.tally.succeeded,
            "failed": self.datasets if errors else len(self.failures),
            "intervalCounts": self.tally.counts,
            "maxPersistence": [round(m, 9) for m in self.tally.maxima],
            "computeSeconds": round(self.tally.seconds, 3),
            "total": self.total,
            "errors": [_shorten(m) for m in messages[: C.OUTCOME_MAX_ERRORS]],
        }


def _shorten(message: str, limit: int = 512) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def result_config_map(
    run: RunIdentity, record: dict[str, Any], results: Sequence[tres.DatasetResult] | None,
    failures: Sequence[dict[str, str]],
) -> dict[str, Any]:
    """ConfigMap <tdajob>-result-<index>: the outcome, and the results when they live here."""
    index = int(record["index"])
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": run.metadata(C.result_config_map_name(run.name, index), C.ROLE_RESULT, index),
    }
    body["metadata"]["annotations"] = {C.ANNOTATION_OUTCOME: json.dumps(record, separators=(",", ":"))}
    if results is not None:
        job = {"name": run.name, "uid": run.uid, "index": index}
        json_gz = tres.shard_json_gz(results, failures, job)
        npz = tres.to_npz_bytes(tres.shard_arrays(results))
        if len(json_gz) + len(npz) > CONFIGMAP_BUDGET:
            raise tio.InvalidInput(
                f"the results of index {index} are {(len(json_gz) + len(npz)) / 2**20:.2f} MiB compressed, over "
                "the 1 MiB a ConfigMap holds; set spec.output.url to store results in object storage"
            )
        body["binaryData"] = {
            C.RESULT_JSON_KEY: base64.b64encode(json_gz).decode(),
            C.RESULT_NPZ_KEY: base64.b64encode(npz).decode(),
        }
    return body


def write_dataset_objects(sources: Sources, output_url: str, result: tres.DatasetResult,
                          job: dict[str, Any]) -> None:
    sources.put(output_url, result.id + ".json", tres.to_json_bytes(tres.dataset_document(result, job)),
                "application/json")
    sources.put(output_url, result.id + ".npz", tres.to_npz_bytes(tres.dataset_arrays(result)))


def termination_message(record: dict[str, Any]) -> str:
    """The outcome, shortened to the 4096 bytes a termination message holds (errors go first)."""
    text = json.dumps(record, separators=(",", ":"))
    trimmed = dict(record)
    while len(text.encode()) > C.TERMINATION_MESSAGE_MAX_BYTES and trimmed["errors"]:
        trimmed["errors"] = trimmed["errors"][:-1]
        text = json.dumps(trimmed, separators=(",", ":"))
    return text


def write_termination_log(text: str) -> None:
    path = Path(os.environ.get("TDA_TERMINATION_LOG", C.TERMINATION_MESSAGE_PATH))
    # Outside a pod there is no /dev/termination-log; the printed line suffices.
    with contextlib.suppress(OSError):
        path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- run


class Terminated(Exception):
    pass


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated("stopped by SIGTERM (the Job was suspended or deleted, or ran past its deadline)")


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        if default is None:
            raise PlatformError(f"the pod has no {name}; it must be started by the TDA operator")
        return default
    return int(value)


def run(index: int | None = None) -> int:
    """One pod's work; returns the exit code (the termination log is always written)."""
    started = time.perf_counter()
    index = _env_int(C.ENV_COMPLETION_INDEX, 0) if index is None else index
    outcome = Outcome(index)
    code = C.EXIT_OK
    errors: list[str] = []
    signal.signal(signal.SIGTERM, _raise_terminated)  # report how far the shard got
    try:
        run_id = RunIdentity(os.environ.get(C.ENV_NAMESPACE, "default"), os.environ.get(C.ENV_TDAJOB_NAME, ""),
                             os.environ.get(C.ENV_TDAJOB_UID, ""))
        shards = _env_int(C.ENV_SHARDS, 1)
        if not run_id.name or not run_id.uid:
            raise PlatformError("the pod has no TDAJob identity; it must be started by the TDA operator")
        cluster = Cluster()
        try:
            code = _run_index(cluster, run_id, shards, outcome)
        except tio.InvalidInput as exc:  # the index as a whole cannot run: record why, durably
            _record(cluster, run_id, outcome.record([f"InvalidInput: {exc}"]), None, outcome.failures)
            raise
    except tio.InvalidInput as exc:
        code, errors = C.EXIT_INVALID_INPUT, [f"InvalidInput: {exc}"]
    except tio.TransientError as exc:
        code, errors = C.EXIT_TRANSIENT, [f"TransientError: {exc}"]
    except PlatformError as exc:
        code, errors = 1, [f"PlatformError: {exc}"]
    except Terminated as exc:
        code, errors = 128 + signal.SIGTERM, [f"Terminated: {exc}"]
    except Exception as exc:  # a defect: say which kind, never the data that provoked it
        log.error("internal error: %s", type(exc).__name__)
        code, errors = 1, [f"InternalError: {type(exc).__name__}"]
    text = termination_message(outcome.record(errors))
    write_termination_log(text)
    print(text, flush=True)
    log.info("index %d: %d succeeded, %d failed, %.2fs (exit %d)", index, outcome.tally.succeeded,
             len(outcome.failures), time.perf_counter() - started, code)
    return code


def _run_index(cluster: Cluster, run_id: RunIdentity, shards: int, outcome: Outcome) -> int:
    tdajob = cluster.tdajob(run_id.namespace, run_id.name)
    if (tdajob.get("metadata") or {}).get("uid") != run_id.uid:
        raise PlatformError("the TDAJob was replaced by another of the same name; nothing to compute")
    spec = tdajob.get("spec") or {}
    source = spec.get("input") or {}
    comp = Computation.from_spec(spec.get("computation") or {}, default_threads())
    secret_name = source.get("credentialsSecret")
    service_account = os.environ.get(C.ENV_SERVICE_ACCOUNT, C.WORKER_SERVICE_ACCOUNT)
    credentials = cluster.secret(run_id.namespace, secret_name, service_account) if secret_name else {}
    sources = Sources(Limits.from_env(), S3Credentials(credentials))
    listing = source.get("datasets") or {}

    def list_keys() -> list[str]:
        return fixed_dataset_keys(cluster, run_id, lambda: sources.list_prefix(
            listing["urlPrefix"], listing.get("pattern") or "*", listing.get("limit")))

    entries = run_entries(source, list_keys)
    outcome.total = len(entries)
    if not entries:
        raise tio.InvalidInput("spec.input.datasets: no object under urlPrefix matches pattern")
    mine = C.datasets_of_index(len(entries), shards, outcome.index)
    outcome.datasets = len(mine)
    output_url = (spec.get("output") or {}).get("url")
    job = {"name": run_id.name, "namespace": run_id.namespace, "uid": run_id.uid}
    results: list[tres.DatasetResult] = []
    log.info("index %d of %d: %d of %d datasets, %s maxDimension=%d, %d threads", outcome.index, shards,
             len(mine), len(entries), comp.complex, comp.max_dimension, comp.n_threads)
    for position in mine:
        entry = entries[position]
        try:
            ds = load_entry(sources, entry, position, source.get("format"), comp.complex)
            result = compute_dataset(ds, comp)
            if output_url:
                write_dataset_objects(sources, output_url, result, job)
        except tio.InvalidInput as exc:
            # Keep going: one bad dataset should not hide the results of the others.
            outcome.failures.append({"id": entry.id, "error": f"InvalidInput: {exc}"})
            log.error("dataset %d: invalid input: %s", position, exc)
            continue
        outcome.tally.add(result)
        if not output_url:
            results.append(result)
    _record(cluster, run_id, outcome.record(), None if output_url else results, outcome.failures)
    return C.EXIT_INVALID_INPUT if outcome.failures else C.EXIT_OK


def _record(cluster: Cluster, run_id: RunIdentity, record: dict[str, Any],
            results: Sequence[tres.DatasetResult] | None, failures: Sequence[dict[str, str]]) -> None:
    """Create the result ConfigMap once; an existing one of this run is an earlier attempt's, final."""
    body = result_config_map(run_id, record, results, failures)
    if not cluster.create_config_map(body):
        existing = cluster.get_config_map(run_id.namespace, body["metadata"]["name"])
        if existing is None or not run_id.owns(existing):
            raise tio.TransientError("the result ConfigMap of an earlier TDAJob of this name still exists")
        log.info("index %d: an earlier attempt recorded its outcome already", record["index"])


# --------------------------------------------------------------------------- local


def _print_table(ds: tio.Dataset, result: tres.DatasetResult, comp: Computation) -> None:
    print(f"{result.id}: {ds.describe()}, {comp.complex}, {result.seconds:.3f}s")
    print(f"  {'dim':>3}  {'intervals':>9}  {'essential':>9}  {'max persistence':>15}")
    for q, dgm in enumerate(result.diagrams):
        essential = int(np.count_nonzero(~np.isfinite(dgm[:, 1]))) if len(dgm) else 0
        print(f"  H{q:<2}  {result.interval_counts[q]:>9}  {essential:>9}  {result.max_persistence[q]:>15.6g}")


def _local_credentials() -> S3Credentials:
    return S3Credentials({k: os.environ[k] for k in C.CREDENTIAL_KEYS if os.environ.get(k)})


def local(args: argparse.Namespace) -> int:
    comp = Computation.from_spec(
        {"complex": args.complex, "maxDimension": args.max_dim, "threshold": args.threshold,
         "coefficient": args.coeff, "metric": args.metric, "features": args.features},
        args.threads or default_threads(),
    )
    sources = Sources(Limits.unconfined(), _local_credentials())
    code = C.EXIT_OK
    documents = []
    for position, path in enumerate(args.files):
        entry = Entry(Path(path).name if "://" not in path else dataset_id_from_url(path), url=path)
        try:
            ds = load_entry(sources, entry, position, args.format, comp.complex)
            result = compute_dataset(ds, comp)
            if args.output:
                write_dataset_objects(sources, args.output, result, {})
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
            "ConfigMap); 4 transient (network, object store or API server; the Job retries); other: crash.\n\n"
            "examples:\n"
            "  tda-compute local cloud.npy --max-dim 2\n"
            "  tda-compute local dists.txt --format lower-distance-matrix --json\n"
            "  tda-compute local image.npy --complex cubical --features diagrams entropy\n"
            "  tda-compute local s3://bucket/clouds/a.npy --output file:///tmp/results/"
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run_p = sub.add_parser("run", help="process this pod's share of its TDAJob")
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
        return run(args.index)
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
