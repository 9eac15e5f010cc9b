"""Desired state of a TDAJob's children, as pure functions (no cluster access).

Every child carries the TDAJob as its controlling owner, so deleting the TDAJob
cascades through the garbage collector, and has a name derived from the TDAJob's
alone, so re-applying after a restart updates rather than duplicates.
"""

from __future__ import annotations

import math
from typing import Any

import tda_contract as contract

from .models import API_VERSION, TDAJob
from .settings import FIELD_MANAGER, Settings

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
WORKER_CONTAINER = "worker"
SCRATCH_VOLUME = "tda-scratch"
DATA_VOLUME = "tda-data"
OUTPUT_VOLUME = "tda-output"


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


def dataset_count(tdajob: TDAJob) -> int | None:
    """Datasets of the run when known up front (inline or one url); None for a prefix (the pods list it)."""
    return None if tdajob.spec.input.datasets is not None else 1


def shard_count(tdajob: TDAJob) -> int:
    """Pods (Job indexes) of the run: spec.shards, else spec.parallelism for a prefix, else one."""
    if tdajob.spec.shards is not None:
        return tdajob.spec.shards if tdajob.spec.input.datasets is not None else 1
    return tdajob.spec.parallelism if tdajob.spec.input.datasets is not None else 1


def http_refusal(tdajob: TDAJob, settings: Settings) -> str | None:
    """Why the spec names an http:// input this platform does not fetch, or None."""
    if settings.allow_http:
        return None
    for field, url in (("spec.input.url", tdajob.spec.input.url),
                       ("spec.input.datasets.urlPrefix",
                        tdajob.spec.input.datasets.urlPrefix if tdajob.spec.input.datasets else None)):
        if url and url.startswith("http://"):
            return f"{field}: http:// is not allowed on this platform; use https://"
    return None


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


def _worker_env(tdajob: TDAJob, settings: Settings, shards: int) -> list[dict[str, Any]]:
    """The run's identity and the platform's input limits; the pod reads the rest from the TDAJob."""
    values = {
        contract.ENV_TDAJOB_NAME: tdajob.metadata.name,
        contract.ENV_TDAJOB_UID: tdajob.metadata.uid,
        contract.ENV_SHARDS: str(shards),
        contract.ENV_MAX_DOWNLOAD_BYTES: str(settings.max_download_bytes),
        contract.ENV_ALLOW_HTTP: "true" if settings.allow_http else "false",
        contract.ENV_MAX_REDIRECTS: str(settings.max_redirects),
        contract.ENV_SERVICE_ACCOUNT: settings.worker_service_account,
        "HOME": contract.SCRATCH_DIR,
        "TMPDIR": contract.SCRATCH_DIR,
    }
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in values.items()]
    env.append({"name": contract.ENV_NAMESPACE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}})
    return env


#: What the `restricted` Pod Security Standard asks of every pod and container.
POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def _volumes(tdajob: TDAJob) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts): scratch space, the input volume read-only, the output volume read-write."""
    volumes: list[dict[str, Any]] = [{"name": SCRATCH_VOLUME, "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": SCRATCH_VOLUME, "mountPath": contract.SCRATCH_DIR}]
    if tdajob.spec.input.volume is not None:
        claim = {"claimName": tdajob.spec.input.volume.claimName, "readOnly": True}
        volumes.append({"name": DATA_VOLUME, "persistentVolumeClaim": claim})
        mounts.append({"name": DATA_VOLUME, "mountPath": contract.DATA_MOUNT_DIR, "readOnly": True})
    if tdajob.spec.output.volume is not None:
        volumes.append({"name": OUTPUT_VOLUME,
                        "persistentVolumeClaim": {"claimName": tdajob.spec.output.volume.claimName}})
        mounts.append({"name": OUTPUT_VOLUME, "mountPath": contract.OUTPUT_MOUNT_DIR})
    return volumes, mounts


def build_job(tdajob: TDAJob, settings: Settings, estimated_bytes: int | None = None) -> dict[str, Any]:
    """The Indexed Job that runs ``tda-compute`` over the TDAJob's shards.

    Outcomes are recorded by the pods in ConfigMaps, so the Job may go with its own TTL.
    """
    spec = tdajob.spec
    shards = shard_count(tdajob)
    queue = tdajob.metadata.labels.get(QUEUE_LABEL)
    volumes, mounts = _volumes(tdajob)
    container: dict[str, Any] = {
        "name": WORKER_CONTAINER,
        "image": settings.worker_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(contract.WORKER_COMMAND),
        "env": _worker_env(tdajob, settings, shards),
        "resources": resources_for(tdajob, estimated_bytes, settings),
        "volumeMounts": mounts,
        "securityContext": CONTAINER_SECURITY_CONTEXT,
        "terminationMessagePath": contract.TERMINATION_MESSAGE_PATH,
        # Never the log tail: a log is no place to take a status message from.
        "terminationMessagePolicy": "File",
    }
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": shards,
        "parallelism": min(spec.parallelism, shards),
        "backoffLimitPerIndex": spec.backoffLimitPerDataset,
        "podFailurePolicy": pod_failure_policy(),
        "template": {
            "metadata": {"labels": labels(tdajob)},
            "spec": {
                "restartPolicy": "Never",  # required by podFailurePolicy; retries are new pods
                "serviceAccountName": settings.worker_service_account,
                "securityContext": POD_SECURITY_CONTEXT,
                "containers": [container],
                "volumes": volumes,
                **({"priorityClassName": spec.priorityClassName} if spec.priorityClassName else {}),
            },
        },
    }
    if spec.activeDeadlineSeconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.activeDeadlineSeconds
    if spec.ttlSecondsAfterFinished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttlSecondsAfterFinished
    # Under Kueue the queue owns `suspend` (its webhook creates the Job suspended and admits
    # it later); we only assert it when the user pauses the TDAJob.
    if queue is None or spec.suspend:
        job_spec["suspend"] = spec.suspend
    metadata = _child_metadata(tdajob, contract.job_name(tdajob.metadata.name), {QUEUE_LABEL: queue} if queue else None)
    count = dataset_count(tdajob)
    if count is not None:
        metadata["annotations"] = {contract.ANNOTATION_DATASETS: str(count)}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}


#: Job fields someone may edit on a live Job and the operator restores (the rest is immutable).
MUTABLE_JOB_FIELDS = ("parallelism", "suspend", "activeDeadlineSeconds")


def job_drift(desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """Names of the desired Job's mutable fields the live Job no longer matches."""
    live_spec = live.get("spec") or {}
    drifted = [
        f"spec.{name}"
        for name in MUTABLE_JOB_FIELDS
        if name in desired["spec"] and live_spec.get(name) != desired["spec"][name]
    ]
    # A deadline the TDAJob no longer has must go (suspend may be a queue's, so it is left alone).
    if "activeDeadlineSeconds" not in desired["spec"] and live_spec.get("activeDeadlineSeconds") is not None:
        drifted.append("spec.activeDeadlineSeconds")
    live_labels = live.get("metadata", {}).get("labels") or {}
    if any(live_labels.get(k) != v for k, v in desired["metadata"]["labels"].items()):
        drifted.append("metadata.labels")
    return drifted


def estimate_input_bytes(tdajob: TDAJob, n_points: int, estimate: Any) -> dict[str, Any] | None:
    """The core's memory estimate for an inline point cloud of ``n_points`` (other inputs: unknown here).

    ``estimate`` is ``tda_core.estimate_rips`` (passed in to keep this module pure).
    """
    if tdajob.spec.input.inline is None or tdajob.spec.computation.complex != "rips" or estimate is None:
        return None
    result: dict[str, Any] = estimate(n_points, tdajob.spec.computation.maxDimension, tdajob.spec.computation.threshold)
    return result


# ------------------------------------------------------------------- worker identity


def build_worker_rbac(namespace: str, settings: Settings) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding the worker pods of a namespace run as.

    Shared by all TDAJobs of the namespace (so they have no owner). The worker reads its
    TDAJob and creates its run's ConfigMaps -- no update, no delete; the platform's
    admission policy (:func:`build_worker_admission_policy`) limits the names it may create
    to its own TDAJob's. Secrets are not granted here: a namespace admin grants the worker
    ``get`` on the Secrets TDAJobs may name.
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
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]},
                {"apiGroups": [contract.GROUP], "resources": [contract.TDAJOB_PLURAL], "verbs": ["get"]},
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


WORKER_POLICY_NAME = "tda-worker-configmaps"


def build_worker_admission_policy(service_account: str = contract.WORKER_SERVICE_ACCOUNT) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding): a worker pod creates only its own run's ConfigMaps.

    The pod's bound token names the pod; a TDAJob's pods are ``<tdajob>-<index>-<suffix>``
    (names are short enough never to be cut), so the policy derives the TDAJob from the pod
    name and admits ``<tdajob>-result-<n>``, ``<tdajob>-manifest`` and its chunks only, with
    the matching label. Installed once per cluster (the platform, the Helm chart).
    """
    pod = "request.userInfo.extra[?'authentication.kubernetes.io/pod-name'].orValue([''])[0]"
    label = f"object.metadata.?labels[?'{contract.LABEL_TDAJOB}'].orValue('')"
    rule = (
        "variables.tdajob != '' && variables.label == variables.tdajob && ("
        "object.metadata.name == variables.tdajob + '-manifest' || "
        "(object.metadata.name.startsWith(variables.tdajob + '-manifest-') && "
        "object.metadata.name.substring(size(variables.tdajob) + 10).matches('^[0-9a-f]{10}-[0-9]+$')) || "
        "(object.metadata.name.startsWith(variables.tdajob + '-result-') && "
        "object.metadata.name.substring(size(variables.tdajob) + 8).matches('^[0-9]+$')))"
    )
    meta = {"name": WORKER_POLICY_NAME, "labels": {"app.kubernetes.io/part-of": "tda-platform"}}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": meta,
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                    "resources": ["configmaps"],
                }]},
                "matchConditions": [{
                    "name": "worker-service-account",
                    "expression": f"request.userInfo.username == 'system:serviceaccount:' + request.namespace + "
                                  f"':{service_account}'",
                }],
                "variables": [
                    {"name": "pod", "expression": pod},
                    # "<tdajob>-<index>-<suffix>" -> "<tdajob>"
                    {"name": "stem", "expression": "variables.pod.size() > 6 ? "
                                                   "variables.pod.substring(0, variables.pod.size() - 6) : ''"},
                    {"name": "tdajob", "expression": "variables.stem.lastIndexOf('-') > 0 ? "
                                                     "variables.stem.substring(0, variables.stem.lastIndexOf('-')) : ''"},
                    {"name": "label", "expression": label},
                ],
                "validations": [
                    {"expression": "request.operation == 'CREATE'", "reason": "Forbidden",
                     "message": "a TDA worker pod may not change an existing ConfigMap"},
                    {"expression": rule, "reason": "Forbidden",
                     "message": "a TDA worker pod may only create the ConfigMaps of its own TDAJob's run"},
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": meta,
            "spec": {"policyName": WORKER_POLICY_NAME, "validationActions": ["Deny"]},
        },
    ]
