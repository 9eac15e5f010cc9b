"""The latest window features per key of a TDAStream, read from its output topic.

The output is read with read-committed isolation (only windows of committed checkpoints),
from the last records of each partition, so the answer is bounded in time and size.
Records that are not the window-features schema are skipped, never quoted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from .problems import Problem

WINDOW_FEATURES_SCHEMA = "tda.io/window-features/v1"
RECORDS_PER_PARTITION = 500
DEFAULT_PORT = 9092


def bootstrap_servers(kafka_spec: dict[str, Any], local_bootstrap: str | None) -> str:
    """The stream's brokers; in-cluster Strimzi addresses become ``local_bootstrap`` when one is set."""
    servers = str(kafka_spec.get("bootstrapServers") or "")
    if not servers:
        servers = f"{kafka_spec.get('clusterRef', '')}-kafka-bootstrap:{DEFAULT_PORT}"
    hosts = [server.rsplit(":", 1)[0] for server in servers.split(",")]
    in_cluster = all(h.endswith("-kafka-bootstrap") or ".svc" in h for h in hosts)
    return local_bootstrap if local_bootstrap and in_cluster else servers


def latest_by_key(values: Iterable[bytes]) -> dict[str, dict[str, Any]]:
    """Per key, the window-features record with the latest window end."""
    latest: dict[str, dict[str, Any]] = {}
    for value in values:
        try:
            record = json.loads(value)
        except (ValueError, TypeError):
            continue
        if not isinstance(record, dict) or record.get("schema") != WINDOW_FEATURES_SCHEMA:
            continue
        key = str(record.get("key"))
        end = record.get("windowEnd")
        if not isinstance(end, int | float):
            continue
        if key not in latest or end >= latest[key]["windowEnd"]:
            latest[key] = record
    return latest


def read_tail(bootstrap: str, topic: str, deadline_seconds: float) -> list[bytes]:
    """The last committed records of every partition of ``topic`` (blocking: run it in a thread)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False,
            group_id=None, request_timeout_ms=int(deadline_seconds * 1000) + 5000,
        )
    except KafkaError:
        raise Problem(503, "the stream's Kafka cluster could not be reached") from None
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise Problem(404, "the stream's output topic does not exist (yet)")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        ends = consumer.end_offsets(assigned)
        begins = consumer.beginning_offsets(assigned)
        for tp in assigned:
            consumer.seek(tp, max(begins[tp], ends[tp] - RECORDS_PER_PARTITION))
        return _drain(consumer, ends, time.monotonic() + deadline_seconds)
    except KafkaError:
        raise Problem(503, "the stream's output topic could not be read") from None
    finally:
        consumer.close()


def _drain(consumer: Any, ends: dict[Any, int], deadline: float) -> list[bytes]:
    values: list[bytes] = []
    while time.monotonic() < deadline:
        if all(consumer.position(tp) >= end for tp, end in ends.items()):
            break
        for records in consumer.poll(timeout_ms=200).values():
            values.extend(r.value for r in records if r.value is not None)
    return values
