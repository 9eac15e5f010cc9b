"""The contract between the operator and the `tda-compute` worker pods.

Both sides import these names, so a change here is a change to both. This module has
no dependencies (standard library only), so worker pods never load the operator.

The flow of one TDAJob ``J``:

1. The operator creates the Indexed Job ``J`` (``completions`` = shards). Every pod gets
   the TDAJob's identity and the platform's input limits as environment variables
   (``ENV_*``) and runs :data:`WORKER_COMMAND` under the namespace's worker ServiceAccount.
2. Each pod reads ``spec`` of TDAJob ``J`` itself (``input`` and ``computation`` are
   immutable, so every pod and every retry sees the same spec) and, when the spec names
   ``input.credentialsSecret``, reads that Secret with its own ServiceAccount token: the
   operator never touches user data or user Secrets.
3. For a prefix input (``spec.input.datasets``) the run fixes its dataset list once: the
   first pod to list the prefix writes the manifest (chunk ConfigMaps, then the head
   ConfigMap ``J-manifest`` as the commit point); every other pod and every retry reads it.
4. Pod index ``i`` processes manifest positions ``j`` with ``j % shards == i``, writes
   full results to ``spec.output.url`` or into its result ConfigMap, and records its
   outcome (:data:`OUTCOME_KEYS`, JSON) in annotation :data:`ANNOTATION_OUTCOME` of the
   result ConfigMap ``J-result-i`` -- created once, so it is the durable record the
   operator sums into ``status``, whatever happens to the pods later.
"""

from __future__ import annotations

from typing import Final

# --- the API ---------------------------------------------------------------------------
GROUP: Final = "tda.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
TDAJOB_KIND: Final = "TDAJob"
TDAJOB_PLURAL: Final = "tdajobs"
TDASTREAM_KIND: Final = "TDAStream"
TDASTREAM_PLURAL: Final = "tdastreams"

FIELD_MANAGER_OPERATOR: Final = "tda-operator"
FIELD_MANAGER_WORKER: Final = "tda-compute"

# --- exit codes of `tda-compute run` -------------------------------------------------
EXIT_OK: Final = 0
#: The input itself is wrong (unreadable file, bad format, bad points): retrying cannot
#: help, so the Job's podFailurePolicy fails the index at once.
EXIT_INVALID_INPUT: Final = 3
#: Something outside the input failed (network, object store, API server): the index is
#: retried up to ``backoffLimitPerIndex`` times.
EXIT_TRANSIENT: Final = 4

# --- paths inside the pod ---------------------------------------------------------------
DATA_MOUNT_DIR: Final = "/data"  # spec.input.volume, read-only: the only place file:// inputs may be
OUTPUT_MOUNT_DIR: Final = "/output"  # spec.output.volume, read-write: file:// outputs
#: An emptyDir for HOME and TMPDIR (the root filesystem is read-only). Not /tmp: on the local
#: node pods see the host's filesystem, where /tmp may hold the very checkout that runs them.
SCRATCH_DIR: Final = "/tda-scratch"
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"
TERMINATION_MESSAGE_MAX_BYTES: Final = 4096

# --- command and environment -----------------------------------------------------------
WORKER_COMMAND: Final = ("tda-compute", "run")
ENV_COMPLETION_INDEX: Final = "JOB_COMPLETION_INDEX"  # set by the Job controller
ENV_TDAJOB_NAME: Final = "TDA_TDAJOB_NAME"
ENV_TDAJOB_UID: Final = "TDA_TDAJOB_UID"
ENV_NAMESPACE: Final = "POD_NAMESPACE"
ENV_SHARDS: Final = "TDA_SHARDS"
ENV_MAX_DOWNLOAD_BYTES: Final = "TDA_MAX_DOWNLOAD_BYTES"
ENV_ALLOW_HTTP: Final = "TDA_ALLOW_HTTP"
ENV_MAX_REDIRECTS: Final = "TDA_MAX_REDIRECTS"
ENV_SERVICE_ACCOUNT: Final = "TDA_SERVICE_ACCOUNT"  # named in messages about the pod's own rights
#: Keys the worker reads from ``spec.input.credentialsSecret`` (through the API, with its own token).
CREDENTIAL_KEYS: Final = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
)

# --- labels and annotations ----------------------------------------------------------------
LABEL_TDAJOB: Final = "tda.io/tdajob"  # on the Job, its pods and every ConfigMap of the run
LABEL_ROLE: Final = "tda.io/role"  # what a ConfigMap of the run is (ROLE_*)
LABEL_INDEX: Final = "tda.io/index"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
ROLE_RESULT: Final = "result"
ROLE_MANIFEST: Final = "manifest"
ROLE_MANIFEST_CHUNK: Final = "manifest-chunk"
#: The ConfigMaps the operator watches (chunks carry data it never needs).
WATCHED_ROLES: Final = (ROLE_RESULT, ROLE_MANIFEST)
ANNOTATION_OUTCOME: Final = "tda.io/outcome"
ANNOTATION_DATASETS: Final = "tda.io/datasets"  # on the Job: dataset count when known up front

WORKER_SERVICE_ACCOUNT: Final = "tda-worker"
INLINE_DATASET_ID: Final = "inline"

# --- records ----------------------------------------------------------------------------
OUTCOME_VERSION: Final = 1
#: One index's outcome: ``{"v": 1, "index": i, "datasets": n, "succeeded": s, "failed": f,
#: "intervalCounts": [c0, ...], "maxPersistence": [p0, ...], "computeSeconds": x,
#: "total": N, "errors": ["<Reason>: <message>", ...]}``; ``total`` is the run's dataset count.
OUTCOME_KEYS: Final = (
    "v", "index", "datasets", "succeeded", "failed", "intervalCounts", "maxPersistence",
    "computeSeconds", "total", "errors",
)
OUTCOME_MAX_ERRORS: Final = 3
MANIFEST_VERSION: Final = 1
MANIFEST_HEAD_KEY: Final = "manifest.json"  # {"v", "count", "digest", "chunks"}
MANIFEST_CHUNK_KEY: Final = "keys.json.gz"  # gzip of a JSON list of object names
RESULT_JSON_KEY: Final = "results.json.gz"
RESULT_NPZ_KEY: Final = "results.npz"

# --- names ------------------------------------------------------------------------------
#: Longest TDAJob name: the Job controller names pods ``<job>-<index>-<5 random>`` and cuts
#: the job name when that exceeds 63 characters; with up to 100,000 indexes (5 digits) a
#: name of at most 51 characters is never cut, so every pod name leads back to its TDAJob.
MAX_TDAJOB_NAME_LENGTH: Final = 51
MAX_SHARDS: Final = 100_000


def job_name(tdajob_name: str) -> str:
    """The child Indexed Job has the TDAJob's own name (deterministic: no duplicates)."""
    return tdajob_name


def result_config_map_name(tdajob_name: str, index: int) -> str:
    """ConfigMap of index ``index``: its outcome (annotation) and, without output.url, its results."""
    return f"{tdajob_name}-result-{index}"


def manifest_config_map_name(tdajob_name: str) -> str:
    """Head of the run's dataset manifest: count, digest and number of chunks."""
    return f"{tdajob_name}-manifest"


def manifest_chunk_name(tdajob_name: str, digest: str, chunk: int) -> str:
    """Chunk ``chunk`` of the manifest whose content has SHA-256 ``digest``."""
    return f"{tdajob_name}-manifest-{digest[:10]}-{chunk}"


def datasets_of_index(n_datasets: int, shards: int, index: int) -> range:
    """Dataset positions index ``index`` processes: every ``j`` with ``j % shards == index``."""
    return range(index, n_datasets, shards)
