"""Figures the chaos suite reports: each test adds to counters in a JSON-lines file
(`TDA_CHAOS_REPORT`), and `python tests/chaos/chaos_report.py FILE` prints them as one JSON object."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: The figures `make test-chaos` prints; a figure no test measured is null.
FIGURES = ("tdajobs", "lost", "duplicates", "bad_inputs", "bad_inputs_refused", "recovery_s",
           "operator_rss_mb", "writes_per_job", "fuzz_inputs", "fuzz_crashes", "scale_wall_s")
#: Figures that are maxima over the tests (a recovery time, a peak), not sums.
MAXIMA = {"recovery_s", "operator_rss_mb", "writes_per_job", "scale_wall_s"}


def record(figure: str, value: float) -> None:
    path = os.environ.get("TDA_CHAOS_REPORT")
    if path and figure in FIGURES:
        with open(path, "a") as report:
            report.write(json.dumps({figure: value}) + "\n")


def summary(path: Path) -> dict[str, float | None]:
    totals: dict[str, float | None] = dict.fromkeys(FIGURES)
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        for figure, value in json.loads(line).items():
            previous = totals[figure]
            if previous is None:
                totals[figure] = value
            else:
                totals[figure] = max(previous, value) if figure in MAXIMA else previous + value
    return totals


if __name__ == "__main__":
    print(json.dumps(summary(Path(sys.argv[1]))))
