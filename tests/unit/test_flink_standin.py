"""The Flink operator stand-in's pure parts, and one Flink version across the project."""

from __future__ import annotations

import json
import re

import pytest
from tda_dev import flink, flink_standin, paths
from tda_operator import settings, streams
from tda_operator.models import TDAStream

pytestmark = pytest.mark.unit

STREAM = {
    "apiVersion": "tda.io/v1alpha1", "kind": "TDAStream",
    "metadata": {"name": "sensors", "namespace": "lab", "uid": "u", "generation": 1},
    "spec": {"kafka": {"clusterRef": "my-cluster", "input": {"topic": "in"}, "output": {"topic": "out"}},
             "window": {"type": "tumbling", "size": "5s"}},
}


def deployment(**changes) -> dict:
    stream = TDAStream.model_validate({**STREAM, "spec": {**STREAM["spec"], **changes}})
    return streams.build_flink_deployment(stream, "img", settings.Settings().flink_python_jar)


def test_the_job_runs_against_the_local_broker_when_it_names_a_strimzi_cluster():
    args = flink_standin.job_arguments(deployment()["spec"], "127.0.0.1:9092")
    assert args[0] == "--job" and json.loads(args[1])["bootstrapServers"] == "127.0.0.1:9092"
    own = deployment(kafka={**STREAM["spec"]["kafka"], "bootstrapServers": "kafka.example.com:9093"})
    assert json.loads(flink_standin.job_arguments(own["spec"], "127.0.0.1:9092")[1])["bootstrapServers"] == \
        "kafka.example.com:9093"


def test_only_the_platform_s_job_is_run():
    spec = deployment()["spec"]
    assert flink_standin.job_arguments({**spec, "job": {**spec["job"], "args": ["-pym", "os", "--job", "{}"]}},
                                       "b:1") is None
    assert flink_standin.job_arguments({**spec, "job": {**spec["job"], "entryClass": "x.Main"}}, "b:1") is None


def test_suspending_does_not_roll_the_job_but_a_spec_change_does():
    running, suspended = deployment()["spec"], deployment(suspend=True)["spec"]
    assert flink_standin.spec_digest(running) == flink_standin.spec_digest(suspended)
    assert flink_standin.spec_digest(running) != flink_standin.spec_digest(deployment(flink={"parallelism": 3})["spec"])


def test_process_level_configuration_does_not_reach_the_local_job():
    spec = {"flinkConfiguration": {"execution.checkpointing.interval": "5s", "env.java.opts.all": "-javaagent:x",
                                   "python.executable": "/bin/sh", "python.fn-execution.bundle.time": "10"}}
    kept, ignored = flink_standin.flink_configuration(spec)
    assert kept == {"execution.checkpointing.interval": "5s", "python.fn-execution.bundle.time": "10"}
    assert ignored == 2


def test_one_flink_version_everywhere():
    makefile = (paths.REPO_ROOT / "Makefile").read_text()
    assert f"FLINK_VERSION := {flink.FLINK_VERSION}" in makefile
    assert f'"apache-flink=={flink.FLINK_VERSION}"' in (paths.REPO_ROOT / "pyproject.toml").read_text()
    assert settings.Settings().flink_python_jar.endswith(f"flink-python-{flink.FLINK_VERSION}.jar")
    major, minor = re.match(r"(\d+)\.(\d+)", flink.FLINK_VERSION).groups()
    assert deployment()["spec"]["flinkVersion"] == f"v{major}_{minor}"
    assert flink.KAFKA_CONNECTOR_VERSION.endswith(f"-{major}.{minor}")


def test_a_new_cluster_starts_with_no_broker_topics_and_no_job_state(tmp_path):
    """An old run's topics would be adopted by the new cluster's KafkaTopics, open transactions and all."""
    from tda_dev import platform

    for part in ("pki/ca.crt", "etcd/member", "kafka/data/sensors-tda-0/00.log", "flink/deployments/ns/s/job.pid"):
        (tmp_path / part).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / part).write_text("x")
    ctx = platform.Context(tmp_path, {"processes": {}, "done": ["crds"]}, _bins={})
    platform._fresh(ctx)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pki"] and ctx.state == {"processes": {}, "done": []}
