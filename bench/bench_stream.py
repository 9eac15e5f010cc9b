"""A TDAStream's throughput and latency on the local broker and real Flink.

    python bench/bench_stream.py [--keys 200] [--rate 10000] [--backlog 200000] [--live 40]

One TDAStream (tumbling 2 s windows, delay embedding of dimension 3, H0 and H1, the Kafka
record timestamp as event time) on the local platform, in a fresh namespace; ``--keys``
sensors at ``--rate`` records/s in total give windows of about 100 points
(rate x 2 s / keys). The output topic stamps records with the broker's append time
(``message.timestamp.type: LogAppendTime``), so every time below is read off Kafka.

1. Capacity: ``--backlog`` records are written while the stream is suspended, with event
   times spaced as at ``--rate``; then the stream resumes and drains them.
   ``records_per_s`` = records in the drained windows / (last window appended - first window
   appended): what the job sustains when it never waits for input.
2. Latency: a load generator (Kafka's own ProducerPerformance, a JVM process, at
   ``--rate`` for ``--live`` seconds, records of random sensors) feeds the running job.
   A window closes when the watermark passes its end, i.e. when the first record stamped
   at or after its end arrives, at the earliest at ``windowEnd`` (event time is the
   producer's clock here); latency = append time of the window's output record -
   windowEnd, so it holds the consumer's fetch, watermark propagation, the Python call
   and the transactional append (p50, p95 over every window of the live phase).
   ``live_records_per_s`` is what the generator achieved: below ``--rate`` the generator
   or the machine, not the job, was the limit.

Output is exactly once (Kafka transactions committed with each 5 s checkpoint): consumers
reading committed data see a window up to one checkpoint interval after its append; that
commit delay is reported as ``commit_delay_p50_ms`` (the read-committed consumer's receipt
time - append time). Everything runs on the same two cores: broker, Flink job manager
and task managers, Python workers, the generator and the control plane.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

GROUP, VERSION, PLURAL = "tda.io", "v1alpha1", "tdastreams"
WINDOW_MS = 2000
CHECKPOINT = "5s"
#: The generator's records have no key. Kafka's default for those is sticky partitioning: a
#: partition gets every record until a batch (16 KB) fills, then the next -- at 1,000 records/s
#: each partition sits idle for over a second at a time, and the event-time watermark (the
#: minimum over partitions) lags by as much. Sensor streams are keyed and every partition keeps
#: receiving records: round robin stands in for that.
ROUND_ROBIN = "org.apache.kafka.clients.producer.RoundRobinPartitioner"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def stream_body(name: str, topics: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAStream", "metadata": {"name": name}, "spec": {
        "kafka": {"clusterRef": "bench",
                  "input": {"topic": topics["input"], "partitions": 4, "replicas": 1},
                  "output": {"topic": topics["output"], "partitions": 4, "replicas": 1,
                             "config": {"message.timestamp.type": "LogAppendTime"}},
                  "deadLetter": {"topic": topics["deadLetter"], "partitions": 1, "replicas": 1}},
        "record": {"keyField": "sensor", "valueFields": ["value"]},
        "window": {"type": "tumbling", "size": f"{WINDOW_MS}ms"},
        "embedding": {"dimension": 3, "delay": 1},
        "computation": {"maxDimension": 1},
        "flink": {"parallelism": 2, "checkpointInterval": CHECKPOINT},
        "suspend": True,
    }}


def wait_phase(custom: Any, namespace: str, name: str, phase: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get("status") or {}
        if status.get("phase") == phase and (phase != "Suspended" or status.get("topics", {}).get("input") == "Ready"):
            return
        time.sleep(1)
    raise SystemExit(f"bench-stream: {name} did not reach {phase} in {timeout:.0f}s")


def backlog(bootstrap: str, topic: str, n: int, keys: int, rate: float, start_ms: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    rng = random.Random(7)
    for i in range(n):
        payload = b'{"sensor":"k%d","value":%.6f}' % (rng.randrange(keys), rng.gauss(0, 1))
        producer.send(topic, value=payload, timestamp_ms=start_ms + int(1000 * i / rate))
    producer.flush(timeout=120)
    producer.close()


def generator(bootstrap: str, topic: str, rate: int, seconds: float, keys: int, jars: Path) -> subprocess.Popen[str]:
    from tda_dev import kafka

    payloads = Path(tempfile.mkdtemp()) / "payloads.txt"
    rng = random.Random(11)
    payloads.write_text("\n".join(f'{{"sensor":"k{rng.randrange(keys)}","value":{rng.gauss(0, 1):.6f}}}'
                                  for _ in range(50_000)) + "\n")
    return subprocess.Popen(
        [kafka.java(), "-Xmx256m", "-cp", f"{jars}/*:{kafka.jar_dir()}/*", "org.apache.kafka.tools.ProducerPerformance",
         "--topic", topic, "--num-records", str(int(rate * seconds)), "--throughput", str(rate),
         "--payload-file", str(payloads), "--producer-props", f"bootstrap.servers={bootstrap}", "linger.ms=5",
         "acks=1", f"partitioner.class={ROUND_ROBIN}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def output_windows(bootstrap: str, topic: str, until: float, want: int | None = None) -> list[tuple[dict, int, float]]:
    """(record, append time ms, receipt time ms) of committed output, until ``until`` (monotonic)
    or ``want`` records."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             isolation_level="read_committed", enable_auto_commit=False, consumer_timeout_ms=1000)
    out = []
    try:
        while time.monotonic() < until and (want is None or len(out) < want):
            for message in consumer:
                out.append((json.loads(message.value), message.timestamp, time.time() * 1000))
                if want is not None and len(out) >= want:
                    break
    finally:
        consumer.close()
    return out


def kafka_tools_jars() -> Path:
    from tda_dev import kafka, maven, paths

    target = paths.cache_root() / f"kafka-tools-{kafka.KAFKA_VERSION}" / "jars"
    return maven.resolve(target, [f"org.apache.kafka:kafka-tools:{kafka.KAFKA_VERSION}"], "Kafka's tools")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--live", type=float, default=40.0)
    args = parser.parse_args()

    from kubernetes import client, config
    from tda_dev import kafka, platform

    info = platform.up()
    jars = kafka_tools_jars()
    api = config.new_client_from_config(str(info.kubeconfig))
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    namespace = f"bench-stream-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    suffix = namespace.rsplit("-", 1)[1]
    topics = {role: f"bench-{role.lower()}-{suffix}" for role in ("input", "output", "deadLetter")}
    bootstrap = kafka.bootstrap_servers()
    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, stream_body("bench", topics))
        wait_phase(custom, namespace, "bench", "Suspended")
        start_ms = int(time.time() * 1000) // WINDOW_MS * WINDOW_MS - int(1000 * args.backlog / args.rate) - 60_000
        began = time.monotonic()
        backlog(bootstrap, topics["input"], args.backlog, args.keys, args.rate, start_ms)
        _say(f"backlog: {args.backlog} records written in {time.monotonic() - began:.1f}s")
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "bench", {"spec": {"suspend": False}})
        wait_phase(custom, namespace, "bench", "Running")
        backlog_span = int(1000 * args.backlog / args.rate)
        closed = (backlog_span // WINDOW_MS - 1) * args.keys  # windows that close within the backlog
        drained = output_windows(bootstrap, topics["output"], time.monotonic() + 900, want=int(closed * 0.98))
        appends = [a for _, a, _ in drained]
        counted = sum(r["count"] for r, _, _ in drained)
        capacity = counted / max(1e-3, (max(appends) - min(appends)) / 1000)
        _say(f"capacity: {len(drained)} windows, {counted} records in {(max(appends) - min(appends)) / 1000:.1f}s")

        # The consumer runs beside the generator, so receipt times show when windows are committed.
        received: list[tuple[dict, int, float]] = []
        reader = threading.Thread(target=lambda: received.extend(output_windows(
            bootstrap, topics["output"], time.monotonic() + args.live + 60)), daemon=True)
        reader.start()
        live_start_ms = time.time() * 1000
        gen = generator(bootstrap, topics["input"], args.rate, args.live, args.keys, jars)
        report, _ = gen.communicate(timeout=args.live * 4 + 120)
        live_end_ms = time.time() * 1000
        _say("generator: " + (report.strip().splitlines() or ["(no report)"])[-1])
        reader.join()
        live = [(r, a, seen) for r, a, seen in received
                if r["windowStart"] >= live_start_ms + WINDOW_MS and r["windowEnd"] <= live_end_ms - WINDOW_MS]
        latencies = [a - r["windowEnd"] for r, a, _ in live]
        commit_delays = [seen - a for _, a, seen in live]
        live_records = sum(r["count"] for r, _, _ in live)
        live_span = (max(r["windowEnd"] for r, _, _ in live) - min(r["windowStart"] for r, _, _ in live)) / 1000
        figures = {
            "records_per_s": round(capacity),
            "live_records_per_s": round(live_records / live_span) if live_span > 0 else 0,
            "latency_p50_ms": round(statistics.median(latencies), 1),
            "latency_p95_ms": round(percentile(latencies, 0.95), 1),
            "windows": len(live),
            "points_per_window": round(live_records / max(1, len(live)), 1),
            "commit_delay_p50_ms": round(statistics.median(commit_delays), 1),
            "target_rate": args.rate, "keys": args.keys, "backlog_windows": len(drained),
        }
    finally:
        core.delete_namespace(namespace)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
