"""`tda-dev demo-stream`: a TDAStream end to end -- records in, topological features out.

Brings the platform up, applies examples/tdastream.yaml, waits for the stream to run,
feeds two sensors a signal that changes regime (a noisy sine, whose delay embedding is
a loop, then noise) and prints each output record as it is committed: the loop's long
H1 bar vanishes and the change score jumps at the regime change.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tda_operator.models import GROUP, VERSION

from . import kafka, paths

PLURAL = "tdastreams"
EXAMPLE = paths.REPO_ROOT / "examples" / "tdastream.yaml"


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def regime_signal(key: str, start_ms: int, seconds: float, rate: float, change_at: float,
                  seed: int = 0) -> list[dict[str, Any]]:
    """Records of one sensor: a sine of period 2 s with a little noise until ``change_at``
    seconds, Gaussian noise after."""
    rng = random.Random(f"{key}-{seed}")
    out = []
    for i in range(int(seconds * rate)):
        t = i / rate
        value = math.sin(math.pi * t) + rng.gauss(0, 0.05) if t < change_at else rng.gauss(0, 0.7)
        out.append({"sensor": key, "ts": start_ms + int(1000 * t), "value": value})
    return out


def produce(bootstrap: str, topic: str, records: list[dict[str, Any]] | list[bytes], key_field: str = "sensor") -> None:
    """Send records (dicts as JSON, bytes as they are), keyed by their series; return once
    every one is acknowledged, or raise naming how many were not."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    try:
        sent = []
        for record in records:
            if isinstance(record, bytes):
                sent.append(producer.send(topic, value=record))
            else:
                key = str(record.get(key_field, "")).encode()
                sent.append(producer.send(topic, key=key, value=json.dumps(record).encode()))
        producer.flush(timeout=60)
        failed = [future.exception for future in sent if not future.succeeded()]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(sent)} records were not written to {topic} "
                               f"({type(failed[0]).__name__})")
    finally:
        producer.close()


def partitions(client: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    return [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or ())]


def topic_counts(bootstrap: str, topics: list[str]) -> dict[str, dict[str, int]]:
    """Per topic: records written (all, including open or aborted transactions) and records
    a read_committed consumer can reach -- what to look at when no output arrives."""
    from kafka import KafkaConsumer

    counts: dict[str, dict[str, int]] = {topic: {} for topic in topics}
    for isolation in ("read_uncommitted", "read_committed"):
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False)
        try:
            for topic in topics:
                tps = partitions(consumer, topic)
                first, last = (consumer.beginning_offsets(tps), consumer.end_offsets(tps)) if tps else ({}, {})
                counts[topic][isolation] = sum(last[tp] - first[tp] for tp in tps)
        finally:
            consumer.close()
    return counts


def committed(bootstrap: str, topic: str, timeout: float, idle: float | None = None) -> Iterator[dict[str, Any]]:
    """Records of ``topic`` from the start, as read_committed consumers see them (output of
    committed Flink checkpoints only), until ``timeout``, or ``idle`` seconds without one
    after the first."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             isolation_level="read_committed", enable_auto_commit=False,
                             consumer_timeout_ms=500)
    deadline = time.monotonic() + timeout
    last: float | None = None
    try:
        while time.monotonic() < deadline and (idle is None or last is None or time.monotonic() - last < idle):
            if not consumer.assignment():
                # Every partition, assigned by hand: no group, no wait for a metadata refresh.
                consumer.assign(partitions(consumer, topic))
                if not consumer.assignment():
                    time.sleep(0.5)
                    continue
            for message in consumer:
                last = time.monotonic()
                yield json.loads(message.value)
                if time.monotonic() >= deadline:
                    return
    finally:
        consumer.close()


def wait_running(custom: Any, namespace: str, name: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    phase = None
    while time.monotonic() < deadline:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        status = obj.get("status") or {}
        if status.get("phase") != phase:
            phase = status.get("phase")
            _say(f"  {name}: {phase} ({status.get('reason')}: {status.get('message')})")
        if phase == "Running":
            return obj
        if phase == "Failed":
            raise RuntimeError(f"TDAStream {name} failed: {status.get('message')}")
        time.sleep(1)
    raise RuntimeError(f"TDAStream {name} is not Running after {timeout:.0f}s")


def _row(record: dict[str, Any], start_ms: int, change_ms: int) -> str:
    h1 = (record.get("topPairs") or [[], []])[1]
    longest = h1[0][1] - h1[0][0] if h1 and h1[0][1] is not None else 0.0
    score = record.get("changeScore")
    mark = "  <- regime change inside this window" if record["windowStart"] <= change_ms < record["windowEnd"] else ""
    return (f"  {record['key']:<3} window +{(record['windowStart'] - start_ms) / 1000:5.1f}s  n={record['count']:<4} "
            f"longest H1 bar {longest:6.3f}  change score {'   -  ' if score is None else f'{score:6.3f}'}{mark}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tda-dev demo-stream", description=__doc__)
    parser.add_argument("--manifest", type=Path, default=EXAMPLE)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--seconds", type=float, default=60.0, help="event time fed per sensor")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    from kubernetes import client, config

    from . import platform

    info = platform.up()
    manifest = yaml.safe_load(args.manifest.read_text())
    manifest.setdefault("metadata", {})["namespace"] = args.namespace
    name = manifest["metadata"]["name"]
    custom = client.CustomObjectsApi(config.new_client_from_config(str(info.kubeconfig)))
    _say(f"\napplying {args.manifest.name}")
    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, args.namespace, PLURAL, manifest)
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
        _say(f"  TDAStream {name} exists already: feeding it")
    try:
        wait_running(custom, args.namespace, name, args.timeout)
    except RuntimeError as exc:
        _say(f"tda-dev demo-stream: {exc}")
        return 1
    kafka_spec = manifest["spec"]["kafka"]
    bootstrap = kafka.bootstrap_servers()
    start = int(time.time() * 1000) // 10_000 * 10_000 - int(args.seconds * 1000)
    change = start + int(args.seconds * 500)
    records = [r for key in ("s1", "s2") for r in regime_signal(key, start, args.seconds, 10.0, args.seconds / 2)]
    records.sort(key=lambda r: r["ts"])
    _say(f"\nfeeding {len(records)} records to {kafka_spec['input']['topic']}: a sine until "
         f"+{(change - start) / 1000:.1f}s, noise after (output is committed with each checkpoint)")
    produce(bootstrap, kafka_spec["input"]["topic"], records)
    expected = 2 * (int(args.seconds * 1000) // 2_000 - 4)
    seen = 0
    for record in committed(bootstrap, kafka_spec["output"]["topic"], timeout=args.timeout, idle=90.0):
        if record["windowStart"] < start:
            continue  # an earlier run's windows
        _say(_row(record, start, change))
        seen += 1
        if seen >= expected:
            break
    if not seen:
        topics = [kafka_spec[role]["topic"] for role in ("input", "output", "deadLetter") if role in kafka_spec]
        for topic, count in topic_counts(bootstrap, topics).items():
            _say(f"  {topic}: {count['read_uncommitted']} records, {count['read_committed']} readable "
                 "by read_committed consumers")
    _say(f"\n{seen} windows. Look around:\n"
         f"  kubectl get tdas,kafkatopics,flinkdeployments -n {args.namespace}\n"
         f"  kubectl describe tdas {name} -n {args.namespace}\n"
         f"  kubectl delete tdas {name} -n {args.namespace}   # topics go too (topicRetention: Delete)")
    return 0 if seen else 1


if __name__ == "__main__":
    sys.exit(main())
