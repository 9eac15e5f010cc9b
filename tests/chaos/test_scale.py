"""1,000 TDAJobs on the local platform: all Succeeded, none lost; the operator's peak RSS and
API-server writes per TDAJob lifecycle are reported (`make bench-operator` is the measurement,
run here in its own process with the count and rate of this suite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chaos_report import record

pytestmark = pytest.mark.chaos
BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_operator.py"


def test_a_thousand_tdajobs_all_succeed(platform):
    if platform.state_dir is None:
        pytest.skip("the operator's own figures are read from the local platform")
    n = int(os.environ.get("TDA_CHAOS_TDAJOBS", "1000"))
    run = subprocess.run([sys.executable, str(BENCH), "--n", str(n), "--unrelated", "0", "--keep-platform"],
                         capture_output=True, text=True, timeout=7200)
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, f"not every TDAJob succeeded:\n{run.stderr[-3000:]}"
    record("tdajobs", figures["tdajobs"])
    record("lost", 0)
    record("operator_rss_mb", figures["operator_rss_mb"])
    record("writes_per_job", figures["writes_per_tdajob"])
    record("scale_wall_s", figures["wall_s"])
