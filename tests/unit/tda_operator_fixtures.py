"""Small builders of TDAJob/Job/pod/ConfigMap dicts for the operator's pure tests.

They follow what the API server, the Job controller and the ``tda-compute`` worker write
(see ``tda_contract``): a result ConfigMap ``<tdajob>-result-<index>`` carries the
index's outcome as JSON in annotation ``tda.io/outcome`` and the TDAJob as its owner.
"""

from __future__ import annotations

import json
from typing import Any

import tda_contract as contract
from tda_operator.models import TDAJob

NAME = "torus"
NAMESPACE = "lab"
UID = "uid-1"
JOB_UID = "job-uid"
INLINE = {"inline": {"points": [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]}}
PREFIX = {"datasets": {"urlPrefix": "s3://bucket/clouds/", "pattern": "*.npy"}, "credentialsSecret": "s3-creds"}


def tdajob_body(
    spec_input: dict[str, Any] | None = None,
    *,
    name: str = NAME,
    uid: str = UID,
    labels: dict[str, str] | None = None,
    resource_version: str = "100",
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A TDAJob as the API server returns it."""
    body: dict[str, Any] = {
        "apiVersion": contract.API_VERSION,
        "kind": contract.TDAJOB_KIND,
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": uid,
            "generation": 3,
            "resourceVersion": resource_version,
            "labels": dict(labels or {}),
        },
        "spec": {"input": spec_input or INLINE, **spec},
    }
    if status is not None:
        body["status"] = status
    return body


def tdajob(spec_input: dict[str, Any] | None = None, **kwargs: Any) -> TDAJob:
    return TDAJob.model_validate(tdajob_body(spec_input, **kwargs))


def job(
    completions: int = 4,
    conditions: list[dict[str, Any]] | None = None,
    completed: str = "",
    failed: str = "",
    active: int = 0,
    suspend: bool = False,
    succeeded: int = 0,
    datasets: int | None = None,
    completion_time: str | None = None,
) -> dict[str, Any]:
    """The child Job as the cache holds it (``datasets``: the ``tda.io/datasets`` annotation)."""
    status: dict[str, Any] = {"active": active, "startTime": "2026-01-01T00:00:00Z"}
    if succeeded:
        status["succeeded"] = succeeded
    if completed:
        status["completedIndexes"] = completed
    if failed:
        status["failedIndexes"] = failed
    if conditions:
        status["conditions"] = conditions
    if completion_time:
        status["completionTime"] = completion_time
    metadata: dict[str, Any] = {
        "name": NAME,
        "namespace": NAMESPACE,
        "uid": JOB_UID,
        "labels": {contract.LABEL_TDAJOB: NAME},
        "ownerReferences": [{"apiVersion": contract.API_VERSION, "kind": contract.TDAJOB_KIND, "name": NAME,
                             "uid": UID, "controller": True}],
    }
    if datasets is not None:
        metadata["annotations"] = {contract.ANNOTATION_DATASETS: str(datasets)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {"completions": completions, "parallelism": 2, "suspend": suspend},
        "status": status,
    }


def condition(kind: str, reason: str = "", message: str = "", when: str = "2026-01-01T00:05:00Z") -> dict:
    return {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": when}


def outcome_record(index: int, **fields: Any) -> dict[str, Any]:
    """One index's outcome record (``tda_contract.OUTCOME_KEYS``): by default one dataset computed."""
    record: dict[str, Any] = {
        "v": contract.OUTCOME_VERSION,
        "index": index,
        "datasets": 1,
        "succeeded": 1,
        "failed": 0,
        "intervalCounts": [3, 1],
        "maxPersistence": [0.5, 0.25],
        "computeSeconds": 0.5,
        "total": 4,
        "errors": [],
    }
    record.update(fields)
    return record


def outcome(index: int, **fields: Any) -> str:
    """The outcome record as the worker writes it (annotation value and termination message)."""
    return json.dumps(outcome_record(index, **fields), separators=(",", ":"))


def config_map(
    index: int,
    text: str | None = None,
    *,
    owner_uid: str = UID,
    name: str = NAME,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Result ConfigMap ``<name>-result-<index>``; ``text`` is its outcome annotation (default: outcome(index))."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": contract.result_config_map_name(name, index),
            "namespace": NAMESPACE,
            "labels": {
                contract.LABEL_TDAJOB: name,
                contract.LABEL_ROLE: contract.ROLE_RESULT,
                contract.LABEL_INDEX: str(index),
                contract.LABEL_MANAGED_BY: contract.FIELD_MANAGER_WORKER,
            },
            "annotations": annotations
            if annotations is not None
            else {contract.ANNOTATION_OUTCOME: outcome(index) if text is None else text},
            "ownerReferences": [{"apiVersion": contract.API_VERSION, "kind": contract.TDAJOB_KIND, "name": name,
                                 "uid": owner_uid, "controller": True}],
        },
    }


def manifest_config_map(count: int, *, owner_uid: str = UID, name: str = NAME, chunks: int = 1) -> dict[str, Any]:
    """The manifest head ``<name>-manifest``."""
    document = {"v": contract.MANIFEST_VERSION, "count": count, "digest": "ab" * 32, "chunks": chunks}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": contract.manifest_config_map_name(name),
            "namespace": NAMESPACE,
            "labels": {contract.LABEL_TDAJOB: name, contract.LABEL_ROLE: contract.ROLE_MANIFEST},
            "ownerReferences": [{"apiVersion": contract.API_VERSION, "kind": contract.TDAJOB_KIND, "name": name,
                                 "uid": owner_uid, "controller": True}],
        },
        "data": {contract.MANIFEST_HEAD_KEY: json.dumps(document)},
    }


def pod(
    index: int | None,
    phase: str = "Succeeded",
    exit_code: int | None = 0,
    message: str | None = None,
    finished: str = "2026-01-01T00:01:00Z",
    *,
    reason: str | None = None,
    unschedulable: str | None = None,
    name: str | None = None,
    job_uid: str = JOB_UID,
    deleting: bool = False,
) -> dict[str, Any]:
    """A worker pod; ``exit_code`` None: not terminated; ``unschedulable``: the scheduler's message."""
    state: dict[str, Any] = {"running": {}} if phase == "Running" else {"waiting": {"reason": "ContainerCreating"}}
    if exit_code is not None:
        terminated: dict[str, Any] = {"exitCode": exit_code, "finishedAt": finished}
        if message is not None:
            terminated["message"] = message
        if reason is not None:
            terminated["reason"] = reason
        state = {"terminated": terminated}
    annotations = {} if index is None else {"batch.kubernetes.io/job-completion-index": str(index)}
    metadata: dict[str, Any] = {
        "name": name or f"{NAME}-{index}-abcde",
        "namespace": NAMESPACE,
        "annotations": annotations,
        "labels": {contract.LABEL_TDAJOB: NAME, "batch.kubernetes.io/controller-uid": job_uid},
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:09:00Z"
    status: dict[str, Any] = {"phase": phase, "containerStatuses": [{"name": "worker", "state": state}]}
    if unschedulable is not None:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "status": status}
