"""Jars from Maven Central, resolved once with Maven into a cache directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .binaries import cache_lock

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.tda-platform.dev</groupId><artifactId>{name}</artifactId><version>1</version>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""


class MavenError(RuntimeError):
    pass


def dependency(coordinates: str) -> str:
    group, artifact, version = coordinates.split(":")
    return (f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>")


def resolve(target: Path, coordinates: list[str], what: str) -> Path:
    """``target`` holding the runtime jars of ``coordinates`` (group:artifact:version) and
    their dependencies; resolved under a lock when missing, published atomically."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with cache_lock(target.parent / "build.lock"):
        if target.is_dir():
            return target
        if shutil.which("mvn") is None:
            raise MavenError(f"Maven (mvn) is needed once to fetch {what} from Maven Central")
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            pom = _POM.format(name=target.parent.name, dependencies="\n".join(map(dependency, coordinates)))
            (Path(tmp) / "pom.xml").write_text(pom)
            proc = subprocess.run(
                ["mvn", "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={tmp}/jars",
                 "-DincludeScope=runtime"], cwd=tmp, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                raise MavenError(f"fetching {what} with Maven failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            os.replace(Path(tmp) / "jars", target)
    return target
