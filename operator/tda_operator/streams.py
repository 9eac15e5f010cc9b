"""A TDAStream's children and status, as pure functions (no cluster access).

Children: one Strimzi ``KafkaTopic`` per topic the stream creates, and one
``FlinkDeployment`` (Apache Flink Kubernetes Operator) running the PyFlink job
``tda_stream.job``. Status comes from the topics' ``Ready`` condition and the
FlinkDeployment's ``lifecycleState`` / ``jobStatus.state`` / ``error``.
"""

from __future__ import annotations

import json
from typing import Any

import tda_contract as contract

from .models import API_VERSION, StreamPhase, TDAStream, TDAStreamStatus, Topic, unreadable_message
from .settings import FIELD_MANAGER
from .status import conditions_for

STRIMZI_GROUP = "kafka.strimzi.io"
#: Newest first: Strimzi >= 1.0 serves v1 only, older releases v1beta2.
KAFKA_TOPIC_VERSIONS = ("v1", "v1beta2")
FLINK_API_VERSION = "flink.apache.org/v1beta1"
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"
LABEL_TDASTREAM = "tda.io/tdastream"
TOPIC_ROLES = ("input", "output", "deadLetter")
PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"
JOB_MODULE = "tda_stream.job"
MAX_MESSAGE_LENGTH = 1024


def labels(stream: TDAStream) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "tda-stream",
        "app.kubernetes.io/instance": stream.metadata.name,
        "app.kubernetes.io/part-of": "tda-platform",
        contract.LABEL_MANAGED_BY: FIELD_MANAGER,
        LABEL_TDASTREAM: stream.metadata.name,
    }


def owner_reference(stream: TDAStream) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": contract.TDASTREAM_KIND, "name": stream.metadata.name,
            "uid": stream.metadata.uid, "controller": True, "blockOwnerDeletion": True}


def kafka_topic_api_version(served_versions: list[str]) -> str | None:
    """The KafkaTopic version to write, from what discovery says the cluster serves (None: none)."""
    for version in KAFKA_TOPIC_VERSIONS:
        if version in served_versions:
            return f"{STRIMZI_GROUP}/{version}"
    return None


def topics(stream: TDAStream) -> dict[str, Topic]:
    """The stream's topics by role (input, output, deadLetter)."""
    kafka = stream.spec.kafka
    found = {"input": kafka.input, "output": kafka.output}
    if kafka.deadLetter is not None:
        found["deadLetter"] = kafka.deadLetter
    return found


def kafka_topic_name(stream: TDAStream, role: str) -> str:
    """Resource name of a created topic: Kafka names may hold '_' and '.', which resource names may not."""
    return f"{stream.metadata.name}-{role.lower()}"


def build_kafka_topic(stream: TDAStream, role: str, api_version: str) -> dict[str, Any]:
    """The Strimzi KafkaTopic for one created topic.

    With topicRetention Delete it is owned by the stream, so the garbage collector takes it
    (and Strimzi the Kafka topic) with the stream; with Retain it has no owner and outlives
    the stream, data and all, until someone deletes it.
    """
    topic = topics(stream)[role]
    metadata: dict[str, Any] = {
        "name": kafka_topic_name(stream, role),
        "namespace": stream.metadata.namespace,
        "labels": {**labels(stream), STRIMZI_CLUSTER_LABEL: stream.spec.kafka.clusterRef},
    }
    if stream.spec.kafka.topicRetention == "Delete":
        metadata["ownerReferences"] = [owner_reference(stream)]
    spec: dict[str, Any] = {"topicName": topic.topic, "partitions": topic.partitions, "replicas": topic.replicas}
    if topic.config:
        spec["config"] = dict(topic.config)
    return {"apiVersion": api_version, "kind": "KafkaTopic", "metadata": metadata, "spec": spec}


def bootstrap_servers(stream: TDAStream) -> str:
    kafka = stream.spec.kafka
    return kafka.bootstrapServers or f"{kafka.clusterRef}-kafka-bootstrap:9092"


def job_document(stream: TDAStream) -> dict[str, Any]:
    """What the PyFlink job needs, passed as one JSON argument (the spec holds no secrets)."""
    spec = stream.spec
    return {
        "stream": stream.metadata.name,
        "namespace": stream.metadata.namespace,
        "bootstrapServers": bootstrap_servers(stream),
        "topics": {role: topic.topic for role, topic in topics(stream).items()},
        "record": spec.record.model_dump(mode="json", exclude_none=True),
        "window": spec.window.model_dump(mode="json", exclude_none=True),
        "embedding": spec.embedding.model_dump(mode="json") if spec.embedding else None,
        "computation": spec.computation.model_dump(mode="json", exclude_none=True),
        "checkpointInterval": spec.flink.checkpointInterval,
    }


def _resource(process: Any, default_cpu: float, default_memory: str) -> dict[str, Any]:
    given = process.resources
    return {"cpu": float(_cpu(given.cpu)) if given and given.cpu else default_cpu,
            "memory": str(given.memory) if given and given.memory else default_memory}


def _cpu(quantity: int | str) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def build_flink_deployment(stream: TDAStream, image: str, flink_python_jar: str) -> dict[str, Any]:
    """The FlinkDeployment running ``tda_stream.job`` (application mode, PythonDriver)."""
    spec = stream.spec
    flink = spec.flink
    configuration = {
        "execution.checkpointing.interval": flink.checkpointInterval,
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "state.backend.type": "rocksdb",
        "taskmanager.numberOfTaskSlots": "1",
        "metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
        "metrics.reporter.prom.port": "9249",
        # Latency: watermarks every 50 ms (default 200), and the Python worker gets its
        # windows in bundles finished after 10 ms (default 1 s) -- one window is one call.
        "pipeline.auto-watermark-interval": "50 ms",
        "python.fn-execution.bundle.time": "10",
        "python.fn-execution.bundle.size": "1000",
    }
    job: dict[str, Any] = {
        "jarURI": flink_python_jar,
        "entryClass": PYTHON_DRIVER,
        "args": ["-pym", JOB_MODULE, "--job", json.dumps(job_document(stream), separators=(",", ":"))],
        "parallelism": flink.parallelism,
        "upgradeMode": flink.upgradeMode,
        "state": "suspended" if spec.suspend else "running",
    }
    task_manager: dict[str, Any] = {"resource": _resource(flink.taskManager, 1.0, "2048m")}
    if flink.taskManager.replicas:
        task_manager["replicas"] = flink.taskManager.replicas
    return {
        "apiVersion": FLINK_API_VERSION,
        "kind": "FlinkDeployment",
        "metadata": {"name": stream.metadata.name, "namespace": stream.metadata.namespace,
                     "labels": labels(stream), "ownerReferences": [owner_reference(stream)]},
        "spec": {
            "image": flink.image or image,
            "flinkVersion": flink.version,
            "serviceAccount": "flink",
            "flinkConfiguration": configuration,
            "jobManager": {"resource": _resource(flink.jobManager, 1.0, "1024m")},
            "taskManager": task_manager,
            "job": job,
        },
    }


# ----------------------------------------------------------------------------- status


def topic_state(topic: dict[str, Any] | None, created: bool) -> str:
    """Ready, NotReady (not yet, or Strimzi refused it) or External (the stream does not create it)."""
    if not created:
        return "External"
    for condition in ((topic or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return "Ready" if condition.get("status") == "True" else "NotReady"
    return "NotReady"


def _flink_error(deployment: dict[str, Any]) -> str:
    """The Flink operator's error, as the type of failure only (its text can quote user configuration)."""
    raw = (deployment.get("status") or {}).get("error")
    if not raw:
        return ""
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return "the Flink operator reports an error"
    kind = parsed.get("type", "") if isinstance(parsed, dict) else ""
    return f"the Flink operator reports {str(kind).rsplit('.', 1)[-1][:120] or 'an error'}"


def compute_stream_status(
    stream: TDAStream,
    topic_objects: dict[str, dict[str, Any] | None],
    deployment: dict[str, Any] | None,
    problem: str | None,
    now: str,
) -> TDAStreamStatus:
    """Phase and reason from the topics and the FlinkDeployment; ``problem`` is why children
    could not be written (e.g. an API that is not installed)."""
    states = {role: topic_state(topic_objects.get(role), topic.create) for role, topic in topics(stream).items()}
    flink_status = (deployment or {}).get("status") or {}
    lifecycle = flink_status.get("lifecycleState")
    job_status = flink_status.get("jobStatus") or {}
    job_state = job_status.get("state")
    error = _flink_error(deployment) if deployment else ""
    if problem:
        phase, reason, message = StreamPhase.pending, "ChildrenRefused", problem
    elif lifecycle == "FAILED" or job_state == "FAILED":
        phase, reason, message = StreamPhase.failed, "JobFailed", error or "the Flink job failed"
    elif stream.spec.suspend and (lifecycle == "SUSPENDED" or job_state in ("SUSPENDED", "CANCELED", "FINISHED")):
        phase, reason, message = StreamPhase.suspended, "Suspended", "spec.suspend is true"
    elif any(state == "NotReady" for state in states.values()):
        not_ready = ", ".join(role for role, state in states.items() if state == "NotReady")
        phase, reason, message = StreamPhase.pending, "TopicsNotReady", f"waiting for topics: {not_ready}"
    elif deployment is None:
        phase, reason, message = StreamPhase.pending, "Creating", "creating the FlinkDeployment"
    elif lifecycle in ("STABLE", "DEPLOYED") and job_state == "RUNNING":
        phase, reason, message = StreamPhase.running, "Running", "the Flink job is running"
    else:
        phase, reason = StreamPhase.deploying, "Deploying"
        message = f"Flink: {lifecycle or 'pending'}, job {job_state or 'not started'}" + (f"; {error}" if error else "")
    message = message[:MAX_MESSAGE_LENGTH]
    conditions = conditions_for(_as_job_phase(phase), reason, message, stream.metadata.generation,
                                stream.status.conditions, now)
    return TDAStreamStatus(
        phase=phase,  # type: ignore[arg-type]
        reason=reason,
        message=message,
        conditions=[c for c in conditions if c.type != "Complete"],
        topics={k: v for k, v in states.items()},  # type: ignore[arg-type]
        flink={"lifecycleState": lifecycle, "jobState": job_state, "jobId": job_status.get("jobId")}  # type: ignore[arg-type]
        if deployment else None,
        flinkDeploymentName=stream.metadata.name if deployment else None,
        observedGeneration=stream.metadata.generation,
    )


def unreadable_stream_status(stream: TDAStream, fields: list[str], now: str) -> TDAStreamStatus:
    """Failed, naming where the stored object breaks the model (see models.read_stored)."""
    message = unreadable_message(fields)[:MAX_MESSAGE_LENGTH]
    conditions = conditions_for(_as_job_phase(StreamPhase.failed), "InvalidSpec", message, stream.metadata.generation,
                                stream.status.conditions, now)
    return TDAStreamStatus(phase=StreamPhase.failed, reason="InvalidSpec", message=message,  # type: ignore[arg-type]
                           conditions=[c for c in conditions if c.type != "Complete"],
                           observedGeneration=stream.metadata.generation)


def _as_job_phase(phase: str) -> str:
    """Ready means running or suspended on purpose; Failed means failed (as for TDAJobs)."""
    return {"Deploying": "Pending"}.get(phase, phase)
