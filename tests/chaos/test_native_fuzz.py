"""Fuzzed input to every public tda_core function, in a separate process: no crash, only ValueErrors.

`make test` runs a short pass; `make test-chaos` (TDA_FUZZ_EXAMPLES, default 100,000) the full one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chaos_report import record

pytestmark = [pytest.mark.chaos, pytest.mark.native]
FUZZER = Path(__file__).with_name("fuzz_core.py")


def test_every_public_function_returns_or_refuses_with_a_value_error():
    examples = int(os.environ.get("TDA_FUZZ_EXAMPLES", "100000" if os.environ.get("TDA_CHAOS_REPORT") else "5000"))
    run = subprocess.run([sys.executable, str(FUZZER), "--examples", str(examples)],
                         capture_output=True, text=True, timeout=3600)
    assert run.returncode in (0, 1), f"the fuzzed process died (signal {-run.returncode}):\n{run.stderr[-3000:]}"
    tally = json.loads(run.stdout.strip().splitlines()[-1])
    record("fuzz_inputs", tally["inputs"])
    record("fuzz_crashes", tally["other_errors"])
    assert tally["inputs"] >= examples * 0.9
    assert tally["other_errors"] == 0, run.stderr[-5000:]
