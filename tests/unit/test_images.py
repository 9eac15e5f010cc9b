"""The Dockerfiles under images/ cannot be built here (no Docker engine), so this checks what
they rely on: every command they run is a console script or module the wheel ships and the image
keeps, the worker image runs what the operator puts in pod specs, the Helm chart runs what the
images ship, and each image's requirements cover what its packages import (and no more: the
worker carries no kopf, FastAPI or plotting)."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS: dict[str, str] = PYPROJECT["project"]["scripts"]
#: Package name -> its directory in the repository, from the wheel's package list.
PACKAGES = {Path(p).name: ROOT / p for p in PYPROJECT["tool"]["scikit-build"]["wheel"]["packages"]}
#: Import name -> distribution name, where they differ.
DISTRIBUTIONS = {"yaml": "pyyaml", "jwt": "pyjwt", "kafka": "kafka-python", "botocore": "boto3", "starlette": "fastapi",
                 "pydantic_settings": "pydantic-settings", "pyflink": "apache-flink", "prometheus_client": "prometheus-client",
                 "urllib3": "kubernetes"}  # urllib3: the Kubernetes client's transport
IMAGE_NAMES = ("worker", "operator", "api", "flink")


def dockerfile(image: str) -> str:
    return (IMAGES / f"{image}.Dockerfile").read_text()


def final_stage(text: str) -> str:
    return re.split(r"^FROM ", text, flags=re.M)[-1]


def command(image: str) -> list[str]:
    found = re.findall(r"^CMD (\[.*\])$", final_stage(dockerfile(image)), flags=re.M)
    return json.loads(found[-1]) if found else []


def removed_packages(image: str) -> set[str]:
    return set(re.findall(r'"\$site"/(\w+)', final_stage(dockerfile(image))))


def removed_scripts(image: str) -> set[str]:
    stage = final_stage(dockerfile(image))
    removed = set(re.findall(r"/bin/(tda-[\w-]+)", stage))
    return set(SCRIPTS) if "/bin/tda-*" in stage else removed


def kept_packages(image: str) -> set[str]:
    return set(PACKAGES) - removed_packages(image)


def requirements(image: str) -> set[str]:
    lines = (IMAGES / "requirements" / f"{image}.txt").read_text().splitlines()
    names = {re.split(r"[=<>\[ ]", line.strip(), maxsplit=1)[0].lower() for line in lines
             if line.strip() and not line.startswith("#")}
    return {n.replace("_", "-") for n in names}


def module_file(module: str) -> Path | None:
    package, _, rest = module.partition(".")
    if package not in PACKAGES:
        return None
    base = PACKAGES[package].joinpath(*rest.split(".")) if rest else PACKAGES[package]
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reachable(entry: str) -> tuple[set[str], set[str]]:
    """(our modules, third-party top-level names) imported, transitively, from module `entry`."""
    ours, third, todo = set(), set(), [entry]
    while todo:
        module = todo.pop()
        path = module_file(module)
        if module in ours or path is None:
            continue
        ours.add(module)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        # Importing a submodule runs its package's __init__ first.
        todo += [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES:
                    todo.append(name)
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    third.add(top)
    return ours, third


def entry_module(image: str) -> str:
    if image == "flink":
        from tda_operator.streams import JOB_MODULE

        return JOB_MODULE
    return SCRIPTS[command(image)[0]].split(":")[0]


def test_one_dockerfile_per_image_and_no_other():
    assert sorted(p.name for p in IMAGES.glob("*Dockerfile*")) == sorted(f"{i}.Dockerfile" for i in IMAGE_NAMES)
    assert sorted(p.stem for p in (IMAGES / "requirements").glob("*.txt")) == sorted(IMAGE_NAMES)


@pytest.mark.parametrize("image", IMAGE_NAMES)
def test_images_are_multi_stage_pinned_and_not_root(image):
    text = dockerfile(image)
    assert len(re.findall(r"^FROM ", text, flags=re.M)) >= 2, "the wheel is built in its own stage"
    assert "pip wheel" in text and "--from=wheel" in text
    for base in re.findall(r"^ARG \w+_IMAGE=(\S+)$", text, flags=re.M):
        assert re.search(r":\d+\.\d+\.\d+", base) or "@sha256:" in base, f"{base} is not pinned"
    user = re.findall(r"^USER (\S+)$", final_stage(text), flags=re.M)
    assert user and user[-1] not in ("root", "0", "0:0")
    for line in (IMAGES / "requirements" / f"{image}.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line, f"{image}: {line} is not pinned"


@pytest.mark.parametrize("image", ["worker", "operator", "api"])
def test_each_images_command_is_a_console_script_the_image_keeps(image):
    cmd = command(image)
    assert cmd and cmd[0] in SCRIPTS, cmd
    module = SCRIPTS[cmd[0]].split(":")[0]
    assert module.split(".")[0] in kept_packages(image)
    assert cmd[0] not in removed_scripts(image)
    assert (PACKAGES[module.split(".")[0]] / (module.split(".", 1)[1].replace(".", "/") + ".py")).is_file()


def test_the_worker_image_runs_what_the_operator_puts_in_pod_specs():
    import tda_contract
    from tda_operator.builders import build_job
    from tda_operator.settings import Settings
    from tda_operator_fixtures import tdajob

    pod = build_job(tdajob(), Settings())["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"] == list(tda_contract.WORKER_COMMAND) == command("worker")
    assert pod["containers"][0]["image"] == Settings().worker_image


def test_the_worker_image_carries_the_core_and_the_worker_only():
    assert kept_packages("worker") == {"tda_core", "tda_contract", "tda_worker"}
    assert not {"kopf", "fastapi", "uvicorn", "matplotlib", "apache-flink"} & requirements("worker")


def test_the_charts_commands_are_the_images():
    values = yaml.safe_load((ROOT / "charts" / "tda-platform" / "values.yaml").read_text())
    assert values["operator"]["command"] == command("operator")[:1]
    assert values["api"]["command"] == command("api")[:1]


def test_the_flink_image_is_the_pinned_flink_with_the_job_module():
    from tda_dev import flink
    from tda_operator.settings import Settings
    from tda_operator.streams import JOB_MODULE

    text = dockerfile("flink")
    makefile_version = re.search(r"^FLINK_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), flags=re.M)
    assert makefile_version and makefile_version.group(1) == flink.FLINK_VERSION
    assert f"ARG FLINK_IMAGE=flink:{flink.FLINK_VERSION}-" in text
    assert f"apache-flink=={flink.FLINK_VERSION}" in (IMAGES / "requirements" / "flink.txt").read_text()
    assert f"ARG KAFKA_CONNECTOR={flink.KAFKA_CONNECTOR_VERSION}" in text
    assert Settings().flink_python_jar == f"local:///opt/flink/opt/flink-python-{flink.FLINK_VERSION}.jar"
    package, module = JOB_MODULE.split(".", 1)
    assert package in kept_packages("flink") and (PACKAGES[package] / f"{module}.py").is_file()
    assert "tda_core" in kept_packages("flink")
    assert "ENV PATH=/opt/tda/venv/bin:$PATH" in text  # PythonDriver runs `python` from PATH


@pytest.mark.parametrize("image", IMAGE_NAMES)
def test_each_images_requirements_cover_what_its_command_imports(image):
    ours, third = reachable(entry_module(image))
    assert {m.split(".")[0] for m in ours} <= kept_packages(image), "the image removed a package its command needs"
    wanted = {DISTRIBUTIONS.get(n, n).replace("_", "-").lower() for n in third}
    if image == "flink":
        # PyFlink pins the numpy the job and the core run on; scipy is imported by the core's
        # persistence images only, which a stream never computes (its features: streaming/tda_stream).
        wanted -= {"numpy", "scipy"}
    have = requirements(image)
    assert wanted <= have, f"{image}: imports {sorted(wanted - have)}, not in its requirements"
