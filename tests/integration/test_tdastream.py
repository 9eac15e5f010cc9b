"""TDAStream on the local platform: admission, then Strimzi KafkaTopics and a FlinkDeployment
accepted by the real CRDs, topics made real on the local Kafka broker (the topic stand-in),
owner references, suspend, spec changes and topic retention.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from support import wait_for
from test_tdajob import custom, operator  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "tda.io", "v1alpha1", "tdastreams"


def local_platform(platform) -> None:
    if platform.external:
        pytest.skip("needs the local platform's Kafka broker and topic stand-in")


def body(name: str, **spec: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:6]
    base = {
        "kafka": {"clusterRef": "local", "input": {"topic": f"in-{suffix}", "replicas": 1, "partitions": 2},
                  "output": {"topic": f"out-{suffix}", "replicas": 1, "partitions": 2},
                  "deadLetter": {"topic": f"dlq-{suffix}", "replicas": 1, "partitions": 1}},
        "record": {"keyField": "sensor", "timestampField": "ts"},
        "window": {"type": "sliding", "size": "10s", "slide": "2s"},
        "embedding": {"dimension": 3, "delay": 1},
    }
    for key, value in spec.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAStream", "metadata": {"name": name}, "spec": base}


def get(custom, namespace: str, name: str) -> dict[str, Any]:  # noqa: F811
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def kafka_topics(bootstrap: str) -> set[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


@pytest.fixture
def bootstrap(platform) -> str:
    local_platform(platform)
    from tda_dev import kafka

    return kafka.bootstrap_servers()


BAD = [
    ("slide", {"window": {"type": "sliding", "size": "2s", "slide": "10s"}}, "must not exceed spec.window.size"),
    ("duration", {"window": {"type": "sliding", "size": "ten", "slide": "1s"}}, "spec.window.size"),
    ("count", {"window": {"type": "count"}}, "sizeRecords is required"),
    ("same-topic", {"kafka": {"clusterRef": "k", "input": {"topic": "a"}, "output": {"topic": "a"}}},
     "must differ from spec.kafka.input.topic"),
    ("topic-name", {"kafka": {"clusterRef": "k", "input": {"topic": "a b"}, "output": {"topic": "b"}}},
     "spec.kafka.input.topic"),
    ("features", {"computation": {"features": ["totalPersistence", "magic"]}}, "spec.computation.features"),
    ("parallelism", {"flink": {"parallelism": 0}}, "spec.flink.parallelism"),
]


@pytest.mark.parametrize(("case", "spec", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_streams_are_refused_naming_the_field(platform, custom, namespace, case, spec, message):  # noqa: F811
    from kubernetes.client.exceptions import ApiException

    obj = body(f"bad-{case}")
    for key, value in spec.items():
        obj["spec"][key] = value
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
    assert refused.value.status == 422 and message in refused.value.body, refused.value.body


def test_a_long_name_is_refused_with_the_limit(platform, custom, namespace):  # noqa: F811
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body("s" * 46))
    assert "at most 45 characters" in refused.value.body


def test_a_stream_gets_real_topics_and_a_flink_deployment(platform, operator, custom, namespace, bootstrap):  # noqa: F811
    obj = body("sensors")
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
    topics = {role: obj["spec"]["kafka"][role]["topic"] for role in ("input", "output", "deadLetter")}

    def topics_ready():
        status = get(custom, namespace, "sensors").get("status") or {}
        return status if status.get("topics") == {"input": "Ready", "output": "Ready", "deadLetter": "Ready"} else None

    status = wait_for("the topics to be Ready", topics_ready, timeout=120)
    assert set(topics.values()) <= kafka_topics(bootstrap)  # real topics on the broker
    listed = custom.list_namespaced_custom_object("kafka.strimzi.io", "v1", namespace, "kafkatopics")["items"]
    by_name = {t["spec"]["topicName"]: t for t in listed}
    assert set(by_name) == set(topics.values())
    for topic in by_name.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "local"
        assert topic["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    deployment = custom.get_namespaced_custom_object("flink.apache.org", "v1beta1", namespace, "flinkdeployments",
                                                     "sensors")
    job = deployment["spec"]["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver" and job["state"] == "running"
    assert json.loads(job["args"][3])["topics"] == topics
    assert status["phase"] in ("Deploying", "Running") and status["observedGeneration"] == 1


def test_suspend_and_spec_changes_reach_the_flink_deployment(platform, operator, custom, namespace, bootstrap):  # noqa: F811
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body("paused"))

    def deployment():
        from kubernetes.client.exceptions import ApiException

        try:
            return custom.get_namespaced_custom_object("flink.apache.org", "v1beta1", namespace,
                                                       "flinkdeployments", "paused")
        except ApiException:
            return None

    wait_for("the FlinkDeployment", deployment)
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "paused",
                                          {"spec": {"suspend": True, "flink": {"parallelism": 3}}})
    wait_for("the job to be suspended with parallelism 3",
             lambda: (d := deployment()) and d["spec"]["job"]["state"] == "suspended"
             and d["spec"]["job"]["parallelism"] == 3)


@pytest.mark.parametrize("retention", ["Delete", "Retain"])
def test_topic_retention_on_delete(platform, operator, custom, namespace, bootstrap, retention):  # noqa: F811
    obj = body(f"ret-{retention.lower()}", kafka={"topicRetention": retention})
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, copy.deepcopy(obj))
    name = obj["metadata"]["name"]
    topic = obj["spec"]["kafka"]["input"]["topic"]
    wait_for("the input topic", lambda: topic in kafka_topics(bootstrap), timeout=120)
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    if retention == "Delete":
        wait_for("the topic to go with the stream", lambda: topic not in kafka_topics(bootstrap), timeout=120)
    else:
        wait_for("the stream to go", lambda: not custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL)["items"])
        import time

        time.sleep(5)  # the garbage collector had its chance
        assert topic in kafka_topics(bootstrap)
        remaining = custom.list_namespaced_custom_object("kafka.strimzi.io", "v1", namespace, "kafkatopics")["items"]
        assert topic in {t["spec"]["topicName"] for t in remaining}


# ----------------------------------------------------------------------------- data plane
# Records through real Kafka and real Flink (the Flink operator stand-in runs the job).


def flowing(custom, namespace: str, name: str, timeout: float = 240) -> Any:  # noqa: F811
    """Wait until the stream runs; its job's spec, as the job itself parses it."""
    from tda_stream.spec import parse

    wait_for(f"TDAStream {name} to run", lambda: (get(custom, namespace, name).get("status") or {})
             .get("phase") == "Running", timeout=timeout, every=1)
    deployment = custom.get_namespaced_custom_object("flink.apache.org", "v1beta1", namespace,
                                                     "flinkdeployments", name)
    return parse(deployment["spec"]["job"]["args"][3])


def series(keys: tuple[str, ...], start_ms: int, seconds: float, rate: float = 10.0) -> list[dict[str, Any]]:
    from tda_dev.stream_demo import regime_signal

    records = [r for key in keys for r in regime_signal(key, start_ms, seconds, rate, seconds / 2, seed=start_ms)]
    return sorted(records, key=lambda r: r["ts"])


def closed_windows(records: list[dict[str, Any]], size_ms: int, slide_ms: int, closed_before: int) -> set[tuple]:
    """(key, windowStart) of every window holding a record and ending by ``closed_before``."""
    found = set()
    for r in records:
        first = (r["ts"] - size_ms) // slide_ms * slide_ms + slide_ms
        for start in range(first, r["ts"] + 1, slide_ms):
            if start + size_ms <= closed_before:
                found.add((r["sensor"], start))
    return found


def read_windows(bootstrap: str, topic: str, wanted: set[tuple], timeout: float = 240) -> list[dict[str, Any]]:
    from tda_dev.stream_demo import committed

    out: list[dict[str, Any]] = []
    for record in committed(bootstrap, topic, timeout=timeout):
        out.append(record)
        if wanted <= {(r["key"], r["windowStart"]) for r in out}:
            break
    return out


def offline(spec: Any, records: list[dict[str, Any]], windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each window record recomputed with tda_core from the records it covers."""
    import numpy as np
    from tda_stream import features

    expected, previous = [], {}
    for window in sorted(windows, key=lambda w: (w["key"], w["windowEnd"])):
        values = np.array([[r["value"]] for r in records if r["sensor"] == window["key"]
                           and window["windowStart"] <= r["ts"] < window["windowEnd"]]).reshape(-1, 1)
        record, previous[window["key"]] = features.window_record(
            spec, window["key"], window["windowStart"], window["windowEnd"], values, previous.get(window["key"]))
        expected.append(json.loads(json.dumps(record)))
    return expected


#: Sums over a diagram: numpy's summation order differs between the job's runtime and this one
#: by an ulp; everything else (counts, pairs, Betti numbers) must be identical.
SUMS = ("totalPersistence", "entropy", "changeScore")


def assert_as_offline(spec: Any, records: list[dict[str, Any]], windows: list[dict[str, Any]]) -> None:
    got = sorted(windows, key=lambda w: (w["key"], w["windowEnd"]))
    for out, want in zip(got, offline(spec, records, windows), strict=True):
        same = {k: pytest.approx(v, rel=1e-12, abs=1e-15) if k in SUMS and v is not None else v
                for k, v in want.items()}
        differing = {k: (out.get(k), want.get(k)) for k in set(out) | set(want) if out.get(k) != same.get(k)}
        assert not differing, f"window {out['key']}@{out['windowStart']}: {differing}"


def test_every_output_record_is_tda_core_on_its_window_and_bad_records_go_to_the_dead_letter_topic(
        platform, operator, custom, namespace, bootstrap):  # noqa: F811
    import time

    from tda_dev.stream_demo import committed, produce

    obj = body("flow", window={"type": "sliding", "size": "4s", "slide": "2s"}, flink={"checkpointInterval": "2s"})
    topics = obj["spec"]["kafka"]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
    spec = flowing(custom, namespace, "flow")
    start = int(time.time() * 1000) // 2000 * 2000 - 60_000
    first, second = series(("s1", "s2"), start, 12.0), series(("s1", "s2"), start + 12_000, 12.0)
    produce(bootstrap, topics["input"]["topic"], first)
    bad = [b"not json", b"[1, 2]", json.dumps({"sensor": "s1", "ts": start, "value": "x"}).encode(),
           json.dumps({"ts": start, "value": 1.0}).encode(), json.dumps({"sensor": "s1", "value": 1.0}).encode(),
           b'{"sensor": "s1", "ts": %d, "value": 1e400}' % start]
    produce(bootstrap, topics["input"]["topic"], bad)
    produce(bootstrap, topics["input"]["topic"], second)  # after the bad ones: the job must still be running
    records = first + second
    wanted = closed_windows(records, 4000, 2000, closed_before=records[-1]["ts"] - 1000)
    windows = read_windows(bootstrap, topics["output"]["topic"], wanted)
    keys = [(w["key"], w["windowStart"]) for w in windows]
    assert wanted <= set(keys) and len(keys) == len(set(keys))
    assert_as_offline(spec, records, windows)
    letters = list(committed(bootstrap, topics["deadLetter"]["topic"], timeout=60, idle=10))
    assert sorted(letter["reason"] for letter in letters) == sorted([
        "not a JSON object", "not a JSON object", "record.valueFields value: missing or not a finite number",
        "record.keyField sensor: missing or not a scalar",
        "record.timestampField ts: missing or not epoch milliseconds",
        "record.valueFields value: missing or not a finite number"])
    assert "not json" in {x.get("record") for x in letters} and all(x["schema"] == "tda.io/dead-letter/v1" for x in letters)
    assert get(custom, namespace, "flow")["status"]["phase"] == "Running"


@pytest.mark.parametrize("interruption", ["suspend", pytest.param("kill", marks=pytest.mark.chaos)])
def test_a_stopped_or_killed_job_resumes_from_its_state_without_losing_or_duplicating_a_window(
        platform, operator, custom, namespace, bootstrap, interruption):  # noqa: F811
    import os
    import signal
    import time

    from tda_dev import paths
    from tda_dev.stream_demo import produce

    name = f"resume-{interruption}"
    obj = body(name, window={"type": "sliding", "size": "4s", "slide": "2s"}, flink={"checkpointInterval": "2s"})
    topics = obj["spec"]["kafka"]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
    spec = flowing(custom, namespace, name)
    start = int(time.time() * 1000) // 2000 * 2000 - 120_000
    before, after = series(("s1", "s2"), start, 20.0), series(("s1", "s2"), start + 20_000, 20.0)
    produce(bootstrap, topics["input"]["topic"], before)
    early = closed_windows(before[: len(before) // 2], 4000, 2000, before[len(before) // 2]["ts"] - 1000)
    read_windows(bootstrap, topics["output"]["topic"], early)  # some output is committed
    if interruption == "suspend":
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": {"suspend": True}})
        wait_for("Suspended", lambda: get(custom, namespace, name)["status"]["phase"] == "Suspended", timeout=180)
        deployment = custom.get_namespaced_custom_object("flink.apache.org", "v1beta1", namespace,
                                                         "flinkdeployments", name)
        assert deployment["status"]["jobStatus"]["savepointInfo"]["lastSavepoint"]["location"]
        produce(bootstrap, topics["input"]["topic"], after)  # arrives while nothing runs
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": {"suspend": False}})
    else:
        pid_file = paths.state_dir() / "flink" / "deployments" / namespace / name / "job.pid"
        os.killpg(int(pid_file.read_text()), signal.SIGKILL)  # the job manager and its task managers die
        produce(bootstrap, topics["input"]["topic"], after)
    records = before + after
    wanted = closed_windows(records, 4000, 2000, closed_before=records[-1]["ts"] - 1000)
    windows = read_windows(bootstrap, topics["output"]["topic"], wanted, timeout=300)
    keys = [(w["key"], w["windowStart"]) for w in windows]
    assert wanted <= set(keys), sorted(wanted - set(keys))[:5]
    assert len(keys) == len(set(keys)), "a window was output twice"
    assert_as_offline(spec, records, windows)
    assert sum(w["changeScore"] is None for w in windows) == 2  # keyed state survived: one first window per key


def test_count_windows_are_the_last_records_of_each_key(platform, operator, custom, namespace, bootstrap):  # noqa: F811
    import time

    import numpy as np
    from tda_dev.stream_demo import produce
    from tda_stream import features

    obj = body("counted", window={"type": "count", "sizeRecords": 30, "slideRecords": 10},
               flink={"checkpointInterval": "2s"})
    topics = obj["spec"]["kafka"]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
    spec = flowing(custom, namespace, "counted")
    records = series(("s1", "s2"), int(time.time() * 1000) - 60_000, 10.0)  # 100 records per key
    produce(bootstrap, topics["input"]["topic"], records)
    wanted = {(key, start) for key in ("s1", "s2")
              for start in [r["ts"] for r in records if r["sensor"] == key][0:71:10]}
    windows = read_windows(bootstrap, topics["output"]["topic"], wanted)
    assert {(w["key"], w["windowStart"]) for w in windows} == wanted and len(windows) == len(wanted)
    previous: dict[str, Any] = {}
    for window in sorted(windows, key=lambda w: (w["key"], w["windowEnd"])):
        mine = [r for r in records if r["sensor"] == window["key"] and window["windowStart"] <= r["ts"] < window["windowEnd"]]
        assert len(mine) == window["count"] == 30
        want, previous[window["key"]] = features.window_record(
            spec, window["key"], window["windowStart"], window["windowEnd"],
            np.array([[r["value"]] for r in mine]), previous.get(window["key"]))
        assert window["topPairs"] == json.loads(json.dumps(want["topPairs"]))
        assert window["changeScore"] == (None if want["changeScore"] is None else pytest.approx(want["changeScore"]))
