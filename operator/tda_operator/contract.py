"""The contract between the operator and the `tda-compute` worker pods.

Both sides import these names, so a change here is a change to both. The flow:

1. The operator writes ConfigMap ``<tdajob>-spec`` (owned by the TDAJob) whose key
   ``job.json`` holds :class:`JobSpecDocument`-shaped JSON, and mounts it at
   ``/etc/tda`` in every pod of the Indexed Job ``<tdajob>``.
2. Pod index ``i`` (env ``JOB_COMPLETION_INDEX``) processes ``datasets[j]`` for every
   ``j % shards == i``.
3. The worker writes results to ``output.url`` or to ConfigMap
   ``<tdajob>-result-<index>`` (owner: the TDAJob, uid from ``job.json``), then writes a
   compact JSON summary (:data:`TERMINATION_MESSAGE_KEYS`) to the termination log and
   exits with one of the ``EXIT_*`` codes.

``job.json``::

    {"name": str, "namespace": str, "uid": str,
     "computation": {"complex", "maxDimension", "threshold", "coefficient", "metric",
                     "features": [...]},
     "input": {"format": str | null, "credentialsSecret": str | null},
     "datasets": [{"id": str, "url": str} | {"id": "inline", "inline": {"points": [[...]]}}],
     "listing": {"urlPrefix": str, "pattern": str, "limit": int | null} | null,
     "shards": int,
     "output": {"url": str | null}}

``listing`` is set (and ``datasets`` empty) for ``file://`` prefixes: the operator cannot
see the PVC, so each pod lists ``urlPrefix`` itself, sorts the matching names, applies
``limit`` and takes every ``j % shards == index`` as above.

Termination message (``/dev/termination-log``, at most 4096 bytes)::

    {"v": 1, "index": i, "datasets": n, "succeeded": s, "failed": f,
     "intervalCounts": [c0, c1, ...], "maxPersistence": [p0, p1, ...],
     "computeSeconds": x, "result": "configmap:<name>" | "s3://...",
     "error": "<Reason>: <message>"}
"""

from __future__ import annotations

from typing import Final

# --- exit codes of `tda-compute run` -------------------------------------------------
EXIT_OK: Final = 0
#: The input itself is wrong (unreadable file, bad format, bad points): retrying cannot
#: help, so the Job's podFailurePolicy fails the index at once.
EXIT_INVALID_INPUT: Final = 3
#: Something outside the input failed (network, object store): the index is retried up to
#: ``backoffLimitPerIndex`` times.
EXIT_TRANSIENT: Final = 4

# --- paths inside the pod ---------------------------------------------------------------
SPEC_MOUNT_DIR: Final = "/etc/tda"
SPEC_FILE_KEY: Final = "job.json"
SPEC_PATH: Final = f"{SPEC_MOUNT_DIR}/{SPEC_FILE_KEY}"
DATA_MOUNT_DIR: Final = "/data"  # where spec.input.volume is mounted read-only (file:// inputs)
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"
TERMINATION_MESSAGE_MAX_BYTES: Final = 4096

# --- command and environment -----------------------------------------------------------
WORKER_COMMAND: Final = ("tda-compute", "run", "--spec", SPEC_PATH)
ENV_COMPLETION_INDEX: Final = "JOB_COMPLETION_INDEX"  # set by the Job controller
ENV_JOB_NAME: Final = "TDA_JOB_NAME"
ENV_NAMESPACE: Final = "POD_NAMESPACE"
#: Keys the worker reads from ``spec.input.credentialsSecret`` (loaded with envFrom).
CREDENTIAL_ENV_KEYS: Final = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
)

# --- names -----------------------------------------------------------------------------
#: Label on every object made for a TDAJob (its Job, pods, spec and result ConfigMaps).
LABEL_TDAJOB: Final = "tda.io/tdajob"
INLINE_DATASET_ID: Final = "inline"
WORKER_SERVICE_ACCOUNT: Final = "tda-worker"
TERMINATION_MESSAGE_VERSION: Final = 1
TERMINATION_MESSAGE_KEYS: Final = (
    "v",
    "index",
    "datasets",
    "succeeded",
    "failed",
    "intervalCounts",
    "maxPersistence",
    "computeSeconds",
    "result",
    "error",
)
RESULT_CONFIGMAP_PREFIX: Final = "configmap:"


def spec_config_map_name(tdajob_name: str) -> str:
    """ConfigMap holding ``job.json`` for the TDAJob's pods."""
    return f"{tdajob_name}-spec"


def result_config_map_name(tdajob_name: str, index: int) -> str:
    """ConfigMap the worker of ``index`` writes when the TDAJob has no ``output.url``."""
    return f"{tdajob_name}-result-{index}"


def job_name(tdajob_name: str) -> str:
    """The child Indexed Job has the TDAJob's own name (deterministic: no duplicates)."""
    return tdajob_name


def datasets_of_index(n_datasets: int, shards: int, index: int) -> range:
    """Dataset positions index ``index`` processes: every ``j`` with ``j % shards == index``."""
    return range(index, n_datasets, shards)
