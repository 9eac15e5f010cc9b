"""Desired state of a TDAJob's children, as pure functions (no cluster access).

Every child carries the TDAJob as its controlling owner, so deleting the TDAJob
cascades through the garbage collector, and has a name derived from the TDAJob's
alone, so re-applying after a restart updates rather than duplicates.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Iterable
from typing import Any

from . import contract
from .models import API_VERSION, TDAJob
from .settings import FIELD_MANAGER, Settings

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
WORKER_CONTAINER = "worker"
SPEC_VOLUME = "tda-spec"
DATA_VOLUME = "tda-data"
#: A ConfigMap holds at most 1 MiB; keep room for metadata.
MAX_SPEC_BYTES = 1_000_000


class SpecTooLarge(ValueError):
    """The dataset list does not fit in the spec ConfigMap."""


def labels(tdajob: TDAJob) -> dict[str, str]:
    """Labels on every child (Job, pods, ConfigMaps)."""
    return {
        "app.kubernetes.io/name": "tda-worker",
        "app.kubernetes.io/instance": tdajob.metadata.name,
        "app.kubernetes.io/component": "compute",
        "app.kubernetes.io/part-of": "tda-platform",
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
        contract.LABEL_TDAJOB: tdajob.metadata.name,
    }


def owner_reference(tdajob: TDAJob) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TDAJob",
        "name": tdajob.metadata.name,
        "uid": tdajob.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _child_metadata(tdajob: TDAJob, name: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": tdajob.metadata.namespace,
        "labels": {**labels(tdajob), **(extra_labels or {})},
        "ownerReferences": [owner_reference(tdajob)],
    }


# ------------------------------------------------------------------------------ datasets


def dataset_id_from_url(url: str) -> str:
    """A stable, readable id: the last path component (or the host for a bare URL)."""
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail or url


def needs_listing_by_operator(tdajob: TDAJob) -> bool:
    """True for s3:// and https:// prefixes; file:// prefixes are listed by the pods."""
    source = tdajob.spec.input.datasets
    return source is not None and not source.urlPrefix.startswith("file://")


def datasets_for(tdajob: TDAJob, listed_keys: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The ``job.json`` dataset list.

    ``listed_keys`` are object names relative to ``spec.input.datasets.urlPrefix`` (as
    the operator found them); they are filtered by ``pattern``, sorted and capped by
    ``limit`` here so the result only depends on what is stored.
    """
    source = tdajob.spec.input
    if source.inline is not None:
        return [{"id": contract.INLINE_DATASET_ID, "inline": {"points": source.inline.points}}]
    if source.url is not None:
        return [{"id": dataset_id_from_url(source.url), "url": source.url}]
    assert source.datasets is not None
    if not needs_listing_by_operator(tdajob):
        return []
    prefix = source.datasets.urlPrefix if source.datasets.urlPrefix.endswith("/") else source.datasets.urlPrefix + "/"
    keys = sorted(k for k in set(listed_keys) if k and fnmatch.fnmatch(k, source.datasets.pattern))
    if source.datasets.limit is not None:
        keys = keys[: source.datasets.limit]
    return [{"id": key, "url": prefix + key} for key in keys]


def shard_count(tdajob: TDAJob, n_datasets: int, settings: Settings) -> int:
    """Pods (Job indexes) of the job: spec.shards, else one per dataset up to the cap.

    For pod-listed (file://) prefixes the number of datasets is unknown here: use
    spec.shards or spec.parallelism.
    """
    if tdajob.spec.shards is not None:
        wanted = tdajob.spec.shards
    elif tdajob.spec.input.datasets is not None and not needs_listing_by_operator(tdajob):
        wanted = tdajob.spec.parallelism
    else:
        wanted = min(n_datasets, settings.max_shards)
    if needs_listing_by_operator(tdajob) or tdajob.spec.input.datasets is None:
        wanted = min(wanted, n_datasets)  # an index without a dataset would be a wasted pod
    return max(wanted, 1)


def spec_document(tdajob: TDAJob, datasets: list[dict[str, Any]], shards: int) -> dict[str, Any]:
    """``job.json`` as described in :mod:`tda_operator.contract`."""
    spec = tdajob.spec
    listing = None
    if spec.input.datasets is not None and not needs_listing_by_operator(tdajob):
        listing = {
            "urlPrefix": spec.input.datasets.urlPrefix,
            "pattern": spec.input.datasets.pattern,
            "limit": spec.input.datasets.limit,
        }
    return {
        "name": tdajob.metadata.name,
        "namespace": tdajob.metadata.namespace,
        "uid": tdajob.metadata.uid,
        "computation": spec.computation.model_dump(mode="json"),
        "input": {"format": spec.input.format, "credentialsSecret": spec.input.credentialsSecret},
        "datasets": datasets,
        "listing": listing,
        "shards": shards,
        "output": {"url": spec.output.url},
    }


def build_spec_config_map(tdajob: TDAJob, datasets: list[dict[str, Any]], shards: int) -> dict[str, Any]:
    """ConfigMap ``<name>-spec`` with ``job.json``, mounted at /etc/tda in every pod."""
    document = json.dumps(spec_document(tdajob, datasets, shards), separators=(",", ":"))
    if len(document) > MAX_SPEC_BYTES:
        raise SpecTooLarge(
            f"{len(datasets)} datasets make a {len(document)}-byte job spec, over the {MAX_SPEC_BYTES}-byte "
            "ConfigMap limit; narrow spec.input.datasets.pattern or set spec.input.datasets.limit"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _child_metadata(tdajob, contract.spec_config_map_name(tdajob.metadata.name)),
        "data": {contract.SPEC_FILE_KEY: document},
    }


def datasets_from_config_map(config_map: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """(datasets, shards) recorded in an existing spec ConfigMap."""
    document = json.loads(config_map["data"][contract.SPEC_FILE_KEY])
    return document["datasets"], int(document["shards"])


# ----------------------------------------------------------------------------- resources


def _mebibytes(n_bytes: float) -> str:
    return f"{math.ceil(n_bytes / 1024**2)}Mi"


def default_resources(estimated_bytes: int | None, settings: Settings) -> dict[str, Any]:
    """Requests sized from the core's estimate (plus interpreter footprint and headroom)."""
    if estimated_bytes is None:
        memory = settings.default_memory_request
    else:
        memory = _mebibytes(settings.memory_base_bytes + estimated_bytes * settings.memory_headroom)
    return {"requests": {"cpu": settings.default_cpu_request, "memory": memory}}


def resources_for(tdajob: TDAJob, estimated_bytes: int | None, settings: Settings) -> dict[str, Any]:
    if tdajob.spec.resources is not None:
        given = tdajob.spec.resources.model_dump(mode="json", exclude_none=True)
        if given:
            return given
    return default_resources(estimated_bytes, settings)


# ---------------------------------------------------------------------------------- Job


def pod_failure_policy() -> dict[str, Any]:
    return {
        "rules": [
            {  # the input is wrong: retrying cannot help, fail this index now
                "action": "FailIndex",
                "onExitCodes": {
                    "containerName": WORKER_CONTAINER,
                    "operator": "In",
                    "values": [contract.EXIT_INVALID_INPUT],
                },
            },
            {  # evicted/preempted/node lost: not the job's fault, do not spend a retry
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
        ]
    }


def _worker_env(tdajob: TDAJob) -> list[dict[str, Any]]:
    return [
        {"name": contract.ENV_JOB_NAME, "value": tdajob.metadata.name},
        {"name": contract.ENV_NAMESPACE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]


def build_job(
    tdajob: TDAJob, settings: Settings, n_shards: int, estimated_bytes: int | None = None
) -> dict[str, Any]:
    """The Indexed Job that runs ``tda-compute`` over the TDAJob's shards.

    ``ttlSecondsAfterFinished`` is deliberately not set on the Job: its pods hold the
    termination messages the status is built from, so the operator deletes the Job
    itself once the TDAJob's final status is recorded (see handlers).
    """
    spec = tdajob.spec
    queue = tdajob.metadata.labels.get(QUEUE_LABEL)
    pod_labels = labels(tdajob)
    volumes: list[dict[str, Any]] = [
        {"name": SPEC_VOLUME, "configMap": {"name": contract.spec_config_map_name(tdajob.metadata.name)}}
    ]
    mounts: list[dict[str, Any]] = [{"name": SPEC_VOLUME, "mountPath": contract.SPEC_MOUNT_DIR, "readOnly": True}]
    if spec.input.volume is not None:
        volumes.append(
            {"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": spec.input.volume.claimName, "readOnly": True}}
        )
        mounts.append({"name": DATA_VOLUME, "mountPath": contract.DATA_MOUNT_DIR, "readOnly": True})
    container: dict[str, Any] = {
        "name": WORKER_CONTAINER,
        "image": settings.worker_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(contract.WORKER_COMMAND),
        "env": _worker_env(tdajob),
        "resources": resources_for(tdajob, estimated_bytes, settings),
        "volumeMounts": mounts,
        "terminationMessagePath": contract.TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.input.credentialsSecret:
        container["envFrom"] = [{"secretRef": {"name": spec.input.credentialsSecret}}]
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": n_shards,
        "parallelism": min(spec.parallelism, n_shards),
        "backoffLimitPerIndex": spec.backoffLimitPerDataset,
        "podFailurePolicy": pod_failure_policy(),
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "restartPolicy": "Never",  # required by podFailurePolicy; retries are new pods
                "serviceAccountName": settings.worker_service_account,
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    if spec.activeDeadlineSeconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.activeDeadlineSeconds
    # Under Kueue the queue owns `suspend` (its webhook creates the Job suspended and admits
    # it later); we only assert it when the user pauses the TDAJob.
    if queue is None or spec.suspend:
        job_spec["suspend"] = spec.suspend
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _child_metadata(
            tdajob, contract.job_name(tdajob.metadata.name), {QUEUE_LABEL: queue} if queue else None
        ),
        "spec": job_spec,
    }


#: Job fields someone may edit on a live Job and the operator restores (the rest is immutable).
MUTABLE_JOB_FIELDS = ("parallelism", "suspend", "activeDeadlineSeconds")


def job_drift(desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """Names of the desired Job's mutable fields the live Job no longer matches."""
    drifted = [
        f"spec.{name}"
        for name in MUTABLE_JOB_FIELDS
        if name in desired["spec"] and live.get("spec", {}).get(name) != desired["spec"][name]
    ]
    live_labels = live.get("metadata", {}).get("labels") or {}
    if any(live_labels.get(k) != v for k, v in desired["metadata"]["labels"].items()):
        drifted.append("metadata.labels")
    return drifted


def estimate_input_bytes(tdajob: TDAJob, estimate: Any) -> dict[str, Any] | None:
    """The core's memory estimate for an inline point cloud (other inputs: unknown here).

    ``estimate`` is ``tda_core.estimate_rips`` (passed in to keep this module pure).
    """
    inline = tdajob.spec.input.inline
    if inline is None or tdajob.spec.computation.complex != "rips" or estimate is None:
        return None
    result: dict[str, Any] = estimate(
        len(inline.points), tdajob.spec.computation.maxDimension, tdajob.spec.computation.threshold
    )
    return result


# ------------------------------------------------------------------- worker identity


def build_worker_rbac(namespace: str, settings: Settings) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding the worker pods of a namespace run as.

    The operator applies them in every namespace that has a TDAJob (they are shared by
    all TDAJobs there, so they have no owner): the worker writes its result ConfigMaps,
    owned by the TDAJob, and nothing else.
    """
    name = settings.worker_service_account
    meta = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/part-of": "tda-platform", "app.kubernetes.io/managed-by": FIELD_MANAGER},
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "update", "patch"]},
                # an ownerReference with blockOwnerDeletion needs update on the owner's finalizers
                {"apiGroups": ["tda.io"], "resources": ["tdajobs"], "verbs": ["get"]},
                {"apiGroups": ["tda.io"], "resources": ["tdajobs/finalizers"], "verbs": ["update"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]
