"""The layout keeps the standard library reachable and the console scripts runnable."""

import importlib
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_operator_directory_does_not_shadow_stdlib_operator():
    assert not (ROOT / "operator" / "__init__.py").exists()
    import operator

    assert Path(operator.__file__).parent == Path(sysconfig.get_paths()["stdlib"])
    assert operator.itemgetter(1)([0, 7]) == 7


def test_native_module_reports_version():
    tda_core = importlib.import_module("tda_core")
    assert tda_core.__version__ == "0.1.0"


@pytest.mark.parametrize("script", ["tda-operator", "tda-server", "tda-compute", "tda-dev"])
def test_console_scripts_print_help(script):
    exe = Path(sys.executable).parent / script
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout.lower()
