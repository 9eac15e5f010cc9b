"""Small builders of TDAJob/Job/pod dicts for the operator's pure tests."""

from __future__ import annotations

import json
from typing import Any

from tda_operator.models import TDAJob


def tdajob(spec_input: dict[str, Any] | None = None, **spec: Any) -> TDAJob:
    body = {
        "apiVersion": "tda.io/v1alpha1",
        "kind": "TDAJob",
        "metadata": {"name": "torus", "namespace": "lab", "uid": "uid-1", "generation": 3, "labels": {}},
        "spec": {"input": spec_input or {"inline": {"points": [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]}}, **spec},
    }
    return TDAJob.model_validate(body)


def job(
    completions: int = 4,
    conditions: list[dict[str, Any]] | None = None,
    completed: str = "",
    failed: str = "",
    active: int = 0,
    suspend: bool = False,
) -> dict[str, Any]:
    status: dict[str, Any] = {"active": active, "startTime": "2026-01-01T00:00:00Z"}
    if completed:
        status["completedIndexes"] = completed
    if failed:
        status["failedIndexes"] = failed
    if conditions:
        status["conditions"] = conditions
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "torus", "namespace": "lab", "uid": "job-uid", "labels": {}},
        "spec": {"completions": completions, "parallelism": 2, "suspend": suspend},
        "status": status,
    }


def condition(kind: str, reason: str = "", message: str = "", when: str = "2026-01-01T00:05:00Z") -> dict:
    return {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": when}


def report(index: int, **fields: Any) -> str:
    message = {
        "v": 1,
        "index": index,
        "datasets": 1,
        "succeeded": 1,
        "failed": 0,
        "intervalCounts": [3, 1],
        "maxPersistence": [0.5, 0.25],
        "computeSeconds": 0.5,
        "result": f"configmap:torus-result-{index}",
    }
    message.update(fields)
    return json.dumps(message)


def pod(
    index: int,
    phase: str = "Succeeded",
    exit_code: int | None = 0,
    message: str | None = None,
    finished: str = "2026-01-01T00:01:00Z",
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if exit_code is not None:
        state = {"terminated": {"exitCode": exit_code, "finishedAt": finished, "message": message}}
    return {
        "metadata": {
            "name": f"torus-{index}-x",
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "status": {"phase": phase, "containerStatuses": [{"name": "worker", "state": state}]},
    }
