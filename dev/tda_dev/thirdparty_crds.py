"""The real CRDs of the third-party operators whose objects the TDA operator writes.

The operator creates Strimzi `KafkaTopic`s and Flink `FlinkDeployment`s. Strimzi and the
Flink Kubernetes Operator cannot run on the local platform (they deploy container
images), but their CRDs can: installed, the real schemas validate every object the
operator writes, as they would on a real cluster.

- FlinkDeployment: the CRD file the Flink operator ships in its api jar on Maven Central
  (the same file as its Helm chart's crds/).
- KafkaTopic: Strimzi publishes no CRD artifact, so it is generated from the pinned
  `io.strimzi:api` model by Strimzi's own `io.strimzi:crd-generator`, with the options of
  Strimzi's api/pom.xml; the result is packaging/install/cluster-operator/043-Crd-kafkatopic.yaml.

Built once, under a lock, into a cache directory named after the versions. Only that
first run needs Maven Central, Maven and Java >= 21; nothing is written outside it.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import yaml

from .binaries import cache_lock
from .paths import cache_root

FLINK_OPERATOR_VERSION = "1.10.0"
STRIMZI_VERSION = "1.2.0"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
JAVA_MIN = 21  # crd-generator's classes are Java 21 bytecode
_DEPENDENCY_PLUGIN = "3.8.1"

FLINK_CRD = "flinkdeployments.flink.apache.org-v1.yml"
STRIMZI_CRD = "043-Crd-kafkatopic.yaml"
_FLINK_JAR = (f"org/apache/flink/flink-kubernetes-operator-api/{FLINK_OPERATOR_VERSION}/"
              f"flink-kubernetes-operator-api-{FLINK_OPERATOR_VERSION}.jar")
# As Strimzi's api/pom.xml (execution generate-crd-co-install-v1) runs it.
_STRIMZI_ARGS = [
    "io.strimzi.crdgenerator.CrdGenerator",
    "--label", "app:strimzi", "--label", "strimzi.io/crd-install:true",
    "--target-kube", "1.16+", "--crd-api-version", "v1",
    "--api-versions", "v1", "--storage-version", "v1", "--yaml",
]
_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tda.dev</groupId><artifactId>strimzi-crds</artifactId><version>0</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId>
      <version>{STRIMZI_VERSION}</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId>
      <version>{STRIMZI_VERSION}</version></dependency>
  </dependencies>
  <build><plugins><plugin><artifactId>maven-dependency-plugin</artifactId>
    <version>{_DEPENDENCY_PLUGIN}</version></plugin></plugins></build>
</project>
"""


class ThirdPartyCrdsError(RuntimeError):
    pass


def key() -> str:
    return f"crds-flink-{FLINK_OPERATOR_VERSION}_strimzi-{STRIMZI_VERSION}"


def crd_dir() -> Path:
    return cache_root() / key()


def _files() -> list[Path]:
    return [crd_dir() / FLINK_CRD, crd_dir() / STRIMZI_CRD]


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-XX:-UsePerfData", "-version"], capture_output=True,
                             text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major  # "1.8.0_392" is Java 8


def find_java() -> str:
    """A `java` >= 21: $JAVA_HOME's, else the newest in /usr/lib/jvm, else the one on PATH."""
    tried: list[str] = []

    def version(java: Path) -> int:
        v = _java_major(str(java)) if os.access(java, os.X_OK) else None
        if (seen := f"{java} ({f'Java {v}' if v else 'unusable'})") not in tried:
            tried.append(seen)
        return v or 0

    if (home := os.environ.get("JAVA_HOME")) and version(java := Path(home) / "bin" / "java") >= JAVA_MIN:
        return str(java)
    jvms = {p.resolve() for p in Path("/usr/lib/jvm").glob("*/bin/java")}
    newest = max(((version(p), str(p)) for p in sorted(jvms)), default=(0, ""))
    if newest[0] >= JAVA_MIN:
        return newest[1]
    if (on_path := shutil.which("java")) and version(Path(on_path)) >= JAVA_MIN:
        return on_path
    raise ThirdPartyCrdsError(
        f"finding Java failed: Strimzi's crd-generator {STRIMZI_VERSION} needs Java >= {JAVA_MIN}; "
        f"tried {', '.join(tried) or 'nothing ($JAVA_HOME unset, no /usr/lib/jvm/*, no java on PATH)'}.\n"
        f"Install a JDK {JAVA_MIN} or newer (e.g. `apt-get install openjdk-{JAVA_MIN}-jdk-headless`, or Temurin) "
        "and/or point JAVA_HOME at it."
    )


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            data: bytes = r.read()
            return data
    except (OSError, http.client.HTTPException) as e:
        raise ThirdPartyCrdsError(
            f"downloading {url} failed: {e}.\nThe first run needs HTTPS access to Maven Central "
            "(repo1.maven.org), directly or through https_proxy."
        ) from e


def _flink_crd(out: Path) -> None:
    url = f"{MAVEN_CENTRAL}/{_FLINK_JAR}"
    jar = _download(url)
    sha1 = _download(url + ".sha1").decode().split()[0]
    if hashlib.sha1(jar).hexdigest() != sha1:
        raise ThirdPartyCrdsError(f"downloading {url} failed: its SHA-1 is not the published {sha1}")
    try:
        with zipfile.ZipFile(io.BytesIO(jar)) as z:
            out.write_bytes(z.read(f"META-INF/fabric8/{FLINK_CRD}"))
    except (KeyError, zipfile.BadZipFile) as e:
        raise ThirdPartyCrdsError(f"extracting the FlinkDeployment CRD from {url} failed: {e}") from e


def _run(cmd: list[str], step: str, log: Path, env: dict[str, str], hint: str) -> None:
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        result = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise ThirdPartyCrdsError(f"{step} failed (exit {result.returncode}; full log: {log}):\n{tail}\n{hint}")


def _strimzi_crd(out: Path, tmp: Path, java: str, log: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ThirdPartyCrdsError(
            f"resolving io.strimzi:crd-generator:{STRIMZI_VERSION} failed: Maven (mvn) is not installed.\n"
            "Install Maven 3.6 or newer (e.g. `apt-get install maven`)."
        )
    (tmp / "pom.xml").write_text(_POM)
    # Maven's local repository and every JVM's temp files stay in tmp, not in ~/.m2 or /tmp.
    jvm_opts = f"-XX:-UsePerfData -Djava.io.tmpdir={tmp}"
    env = dict(os.environ, MAVEN_OPTS=f"{os.environ.get('MAVEN_OPTS', '')} {jvm_opts}".strip())
    if "JAVA_HOME" not in env and shutil.which("java") is None:
        env["JAVA_HOME"] = str(Path(java).parents[1])  # Maven needs some Java: this one will do
    _run([mvn, "-q", "-B", "-f", str(tmp / "pom.xml"), f"-Dmaven.repo.local={tmp / 'm2'}",
          "dependency:copy-dependencies", f"-DoutputDirectory={tmp / 'lib'}"],
         f"resolving io.strimzi:api and io.strimzi:crd-generator {STRIMZI_VERSION} with Maven", log, env,
         "The first run needs Maven Central (repo1.maven.org), or a mirror in ~/.m2/settings.xml.")
    _run([java, *jvm_opts.split(), "-cp", str(tmp / "lib" / "*"), *_STRIMZI_ARGS,
          f"io.strimzi.api.kafka.model.topic.KafkaTopic={out}"],
         f"generating the KafkaTopic CRD with {java}", log, env, f"It needs Java >= {JAVA_MIN}.")


def load(path: Path) -> object:
    """A CRD file parsed (with libyaml when there is one: the Flink CRD is half a megabyte)."""
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _check(path: Path, name: str) -> None:
    doc = load(path)
    if not (isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
            and doc.get("metadata", {}).get("name") == name):
        raise ThirdPartyCrdsError(f"{path} is not the CustomResourceDefinition {name}")


def _build(target: Path) -> None:
    java = find_java()  # before any download: fail fast
    for stale in target.glob(".build-*"):  # left by a killed build (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    log = target / "build.log"
    log.write_text("")
    print(f"tda-dev: building the Flink {FLINK_OPERATOR_VERSION} and Strimzi {STRIMZI_VERSION} CRDs ...",
          file=sys.stderr, flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as t:
        tmp = Path(t)
        _flink_crd(tmp / FLINK_CRD)
        _strimzi_crd(tmp / STRIMZI_CRD, tmp, java, log)
        _check(tmp / FLINK_CRD, "flinkdeployments.flink.apache.org")
        _check(tmp / STRIMZI_CRD, "kafkatopics.kafka.strimzi.io")
        # Renamed into place one by one: a reader sees whole files or none.
        for name in (STRIMZI_CRD, FLINK_CRD):
            os.replace(tmp / name, target / name)
    print(f"tda-dev: built in {time.monotonic() - started:.0f}s into {target}", file=sys.stderr, flush=True)


def ensure() -> list[Path]:
    """The FlinkDeployment and KafkaTopic CRD files, built (once, under a lock) if missing."""
    files = _files()
    if not all(f.is_file() for f in files):
        target = crd_dir()
        with cache_lock(target / ".lock"):
            # Another process may have built them while we waited.
            if not all(f.is_file() for f in files):
                _build(target)
    return files


def main() -> None:
    try:
        paths = ensure()
    except ThirdPartyCrdsError as e:
        sys.exit(f"tda-dev: {e}")
    for p in paths:
        print(p)


if __name__ == "__main__":
    main()
