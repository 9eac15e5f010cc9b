"""Real Flink on the local platform: PyFlink's distribution plus the Kafka connector.

PyFlink (``apache-flink`` from PyPI) ships Flink's jars; the Kafka connector comes from
Maven Central once, cached by version. A Flink home is assembled per platform from the
two (as the platform's Flink image has them in /opt/flink/lib), and each job runs in its
own process with a MiniCluster: the job manager, task managers and REST API of real Flink.

The stream runtime lives in its own virtualenv (``make setup`` creates ``.venv-stream``),
as it does in its own image: PyFlink pins versions of numpy, protobuf and Apache Beam
that differ from the operator's.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

from . import maven
from .paths import REPO_ROOT, cache_root

FLINK_VERSION = "1.20.3"
KAFKA_CONNECTOR_VERSION = "3.3.0-1.20"
CONNECTOR = f"org.apache.flink:flink-connector-kafka:{KAFKA_CONNECTOR_VERSION}"
# Flink itself provides these; a second copy on the class path would clash.
_PROVIDED = re.compile(r"^slf4j-api-.*\.jar$")


class FlinkError(RuntimeError):
    pass


def stream_python() -> Path:
    """The interpreter of the stream runtime (PyFlink + tda_core + tda_stream)."""
    given = os.environ.get("TDA_STREAM_PYTHON")
    return Path(given) if given else REPO_ROOT / ".venv-stream" / "bin" / "python"


@cache
def pyflink_dir() -> Path:
    python = stream_python()
    if not python.exists():
        raise FlinkError(f"the stream runtime is not installed ({python}): run `make setup`")
    out = subprocess.run([str(python), "-c", "import os, pyflink; print(os.path.dirname(pyflink.__file__))"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise FlinkError(f"PyFlink does not import in the stream runtime:\n{out.stderr[-1500:]}")
    return Path(out.stdout.strip())


def connector_jars() -> Path:
    target = cache_root() / f"flink-connector-kafka-{KAFKA_CONNECTOR_VERSION}" / "jars"
    try:
        return maven.resolve(target, [CONNECTOR], "Flink's Kafka connector")
    except maven.MavenError as exc:
        raise FlinkError(str(exc)) from None


def assemble_home(home: Path) -> Path:
    """A FLINK_HOME: PyFlink's bin, opt, plugins and lib, plus the connector jars in lib."""
    source = pyflink_dir()
    lib = home / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    for name in ("bin", "opt", "plugins", "conf"):
        link = home / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source / name)
    for old in lib.iterdir():
        old.unlink()
    for jar in [*sorted((source / "lib").glob("*.jar")), *sorted(connector_jars().glob("*.jar"))]:
        if not _PROVIDED.match(jar.name):
            (lib / jar.name).symlink_to(jar)
    return home


def java_options() -> str:
    """The JVM options PyFlink's own configuration gives (module opens Flink needs on Java 17)."""
    for line in (pyflink_dir() / "conf" / "config.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("all:") and "--add-opens" in stripped:
            return stripped.split(":", 1)[1].strip()
    return ""
