"""A real Kafka broker on loopback (KRaft mode: broker and controller in one process).

Its jars come from Maven Central through Maven, once, into the user's cache directory
(keyed by version); `tda-dev up` formats the log directory the first time and runs
`kafka.Kafka` with the JDK on the machine. Clients use `TDA_KAFKA_BOOTSTRAP`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

from . import maven, paths
from .net import LOOPBACK
from .paths import cache_root

KAFKA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"
COMPONENT = "kafka"
CONTROLLER = "kafka-controller"
HEAP = "-Xmx512m"

COORDINATES = [f"org.apache.kafka:kafka_{SCALA_VERSION}:{KAFKA_VERSION}",
               f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
               f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}"]
_LOG4J2 = """<Configuration status="warn">
  <Appenders><Console name="out" target="SYSTEM_OUT"><PatternLayout pattern="%d %p %c{1}: %m%n"/></Console></Appenders>
  <Loggers><Root level="warn"><AppenderRef ref="out"/></Root>
    <Logger name="kafka.server.KafkaRaftServer" level="info"/></Loggers>
</Configuration>
"""


class KafkaError(RuntimeError):
    pass


def jar_dir() -> Path:
    return cache_root() / f"kafka-{SCALA_VERSION}-{KAFKA_VERSION}_log4j-{LOG4J_VERSION}" / "jars"


def ensure_jars() -> Path:
    """The broker's jars, resolved with Maven (once, under a lock) when missing."""
    try:
        return maven.resolve(jar_dir(), COORDINATES, "the Kafka broker's jars")
    except maven.MavenError as exc:
        raise KafkaError(str(exc)) from None


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found:
        raise KafkaError("a JDK (java 17 or newer) is needed to run the local Kafka broker")
    return found


def bootstrap(ctx: Any) -> str:
    return f"{LOOPBACK}:{ctx.port(COMPONENT)}"


def bootstrap_servers() -> str:
    """The running local broker: $TDA_KAFKA_BOOTSTRAP, else the port `tda-dev up` recorded."""
    if os.environ.get("TDA_KAFKA_BOOTSTRAP"):
        return os.environ["TDA_KAFKA_BOOTSTRAP"]
    try:
        state = json.loads(paths.state_file().read_text())
        return f"{LOOPBACK}:{int(state['ports'][COMPONENT])}"
    except (OSError, ValueError, KeyError) as exc:
        raise KafkaError("no Kafka broker is running: start the platform with `tda-dev up`") from exc


def _properties(ctx: Any) -> Path:
    data = ctx.path("kafka", "data")
    controller = f"{LOOPBACK}:{ctx.port(CONTROLLER)}"
    text = "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers={controller}",
        f"listeners=PLAINTEXT://{bootstrap(ctx)},CONTROLLER://{controller}",
        f"advertised.listeners=PLAINTEXT://{bootstrap(ctx)}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data}",
        # One broker: every internal topic has one replica.
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",  # topics come from KafkaTopics, as with Strimzi
        "",
    ])
    path = ctx.path("kafka", "server.properties")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    ctx.path("kafka", "log4j2.xml").write_text(_LOG4J2)
    return path


def setup(ctx: Any) -> None:
    """Write the configuration (ports may change between runs) and format the log directory once."""
    jars = ensure_jars()
    properties = _properties(ctx)
    if (ctx.path("kafka", "data") / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    proc = subprocess.run(
        [java(), "-cp", f"{jars}/*", f"-Dlog4j2.configurationFile={ctx.path('kafka', 'log4j2.xml')}",
         "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(properties)],
        capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise KafkaError(f"formatting the Kafka log directory failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")


def argv(ctx: Any) -> list[str]:
    return [java(), HEAP, "-cp", f"{jar_dir()}/*", f"-Dlog4j2.configurationFile={ctx.path('kafka', 'log4j2.xml')}",
            "kafka.Kafka", str(ctx.path("kafka", "server.properties"))]


def ready(ctx: Any) -> bool:
    """The broker answers a metadata request (not just an open port)."""
    try:
        with socket.create_connection((LOOPBACK, ctx.port(COMPONENT)), timeout=2):
            pass
    except OSError:
        return False
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=bootstrap(ctx), request_timeout_ms=5000)
        try:
            admin.list_topics()
        finally:
            admin.close()
    except Exception:  # noqa: BLE001 - not yet
        return False
    return True
