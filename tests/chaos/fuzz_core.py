"""Hostile input to every public tda_core function: it returns, or refuses with a ValueError.

Run as its own process (a crash in the core must not take the test runner with it):
`python tests/chaos/fuzz_core.py --examples 100000` prints one JSON line, e.g.
`{"inputs": 100000, "refused": 61234, "other_errors": 0}`, and exits non-zero on anything but
a result or a ValueError. Inputs are small (the point is every shape, dtype, value and
parameter a caller could pass, not big computations).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import tda_core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SPECIAL = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 3.4e38, 3.5e38]
floats = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True, width=64))
dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.uint8, np.bool_, np.complex128, np.float16])


def arrays(max_dims: int = 4, max_side: int = 7) -> st.SearchStrategy[Any]:
    shaped = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side)
    numeric = dtypes.flatmap(lambda dt: hnp.arrays(dt, shaped, elements=None if dt != np.float64 else floats))
    odd = st.one_of(
        st.lists(st.lists(floats, max_size=4), max_size=6),            # ragged or regular nested lists
        st.lists(st.one_of(floats, st.text(max_size=3), st.none()), max_size=5),
        st.just(np.array([["a", "b"], ["c", "d"]])),
        st.just(np.empty((0, 2))), st.just(np.empty((4, 0))), st.just(np.empty((2, 0, 3))),
        st.none(), st.text(max_size=4), floats, st.integers(-10, 10),
    )
    return st.one_of(numeric, numeric, odd)


def point_clouds() -> st.SearchStrategy[Any]:
    """Mostly well-formed (n, d) clouds and matrices, so the computation itself is fuzzed too."""
    mostly_finite = st.one_of(st.floats(-10, 10), st.floats(-10, 10), st.floats(-10, 10), floats)
    shaped = st.tuples(st.integers(0, 10), st.integers(1, 4))
    return shaped.flatmap(lambda shape: hnp.arrays(np.float64, shape, elements=mostly_finite))


def grids() -> st.SearchStrategy[Any]:
    mostly_finite = st.one_of(st.floats(-5, 5), st.floats(-5, 5), st.integers(-3, 3).map(float), floats)
    shaped = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)
    return hnp.arrays(np.float64, shaped, elements=mostly_finite)


def diagrams() -> st.SearchStrategy[Any]:
    pairs = st.lists(st.tuples(floats, floats), max_size=8).map(lambda rows: np.array(rows, dtype=float).reshape(-1, 2))
    return st.one_of(pairs, pairs, arrays(max_dims=3, max_side=5))


ints = st.one_of(st.integers(-3, 12), st.sampled_from([2**31, 2**63 - 1, -(2**63), 10**30]), st.booleans())
params = st.one_of(ints, floats, st.none(), st.text(max_size=6), st.tuples(floats, floats),
                   st.lists(ints, max_size=3))
small_ints = st.one_of(st.integers(-2, 6), params)


def sparse_matrices() -> st.SearchStrategy[Any]:
    from scipy import sparse

    def build(entries: list[tuple[int, int, float]], shape: tuple[int, int] | None) -> Any:
        rows = [r for r, _, _ in entries]
        cols = [c for _, c, _ in entries]
        values = [v for _, _, v in entries]
        return sparse.coo_matrix((values, (rows, cols)), shape=shape)

    entry = st.tuples(st.integers(0, 6), st.integers(0, 6), floats)
    shape = st.one_of(st.none(), st.tuples(st.integers(7, 9), st.integers(7, 9)))
    return st.builds(build, st.lists(entry, min_size=1, max_size=12), shape)


# Each target: a function and the keyword arguments a hostile caller could pass it.
TARGETS: dict[str, tuple[Callable[..., Any], st.SearchStrategy[dict[str, Any]]]] = {
    "rips_persistence": (tda_core.rips_persistence, st.fixed_dictionaries(
        {"X": st.one_of(point_clouds(), point_clouds(), arrays(max_dims=3, max_side=9), sparse_matrices())},
        optional={"max_dim": st.one_of(st.integers(0, 3), st.integers(0, 3), small_ints),
                  "threshold": st.one_of(st.floats(0.1, 20), st.just(math.inf), params),
                  "coeff": st.one_of(st.sampled_from([2, 3, 5, 97]), st.sampled_from([2, 3]), params),
                  "metric": st.one_of(st.sampled_from(["euclidean", "manhattan", "chebyshev", "cosine"]),
                                      st.just("euclidean"), params),
                  "distance_matrix": st.one_of(st.booleans(), st.booleans(), params),
                  "n_threads": st.one_of(st.integers(1, 3), st.integers(1, 3), small_ints),
                  "generators": st.one_of(st.booleans(), params),
                  "cocycles": st.one_of(st.booleans(), params),
                  "collapse_edges": st.one_of(st.booleans(), params)})),
    # Well-formed calls with hostile values (huge, tiny, infinite coordinates): the computation itself.
    "rips_persistence/well-formed": (tda_core.rips_persistence, st.fixed_dictionaries(
        {"X": point_clouds(), "max_dim": st.integers(0, 2), "coeff": st.sampled_from([2, 3, 7]),
         "metric": st.sampled_from(["euclidean", "manhattan", "chebyshev", "cosine"]),
         "threshold": st.one_of(st.none(), st.floats(0.01, 30)), "n_threads": st.integers(1, 2),
         "generators": st.booleans(), "cocycles": st.booleans(), "collapse_edges": st.booleans()})),
    "cubical_persistence/well-formed": (tda_core.cubical_persistence, st.fixed_dictionaries(
        {"array": grids().filter(lambda a: a.ndim >= 2), "construction": st.sampled_from(["V", "T"])})),
    "estimate_rips": (tda_core.estimate_rips, st.fixed_dictionaries(
        {"n_points_or_X": st.one_of(ints, arrays(max_dims=3, max_side=9)), "max_dim": small_ints},
        optional={"threshold": params, "metric": st.one_of(st.just("euclidean"), params)})),
    "cubical_persistence": (tda_core.cubical_persistence, st.fixed_dictionaries(
        {"array": st.one_of(grids(), grids(), arrays(max_dims=5, max_side=5))},
        optional={"max_dim": small_ints, "construction": st.one_of(st.sampled_from(["V", "T", "x"]), params),
                  "n_threads": small_ints})),
    "bottleneck": (tda_core.bottleneck, st.fixed_dictionaries(
        {"d1": diagrams(), "d2": diagrams()}, optional={"delta": params, "matching": st.one_of(st.booleans(), params)})),
    "wasserstein": (tda_core.wasserstein, st.fixed_dictionaries(
        {"d1": diagrams(), "d2": diagrams()},
        optional={"p": params, "delta": params, "matching": st.one_of(st.booleans(), params),
                  "internal_p": st.one_of(st.sampled_from([1.0, 2.0, 3.5, math.inf]), params)})),
    "delay_embedding": (tda_core.delay_embedding, st.fixed_dictionaries(
        {"series": arrays(max_dims=2, max_side=30), "dimension": small_ints},
        optional={"delay": small_ints, "stride": small_ints})),
    "betti_curve": (tda_core.betti_curve, st.fixed_dictionaries(
        {"diagram": diagrams()}, optional={"n_bins": small_ints, "sample_range": params})),
    "persistence_landscape": (tda_core.persistence_landscape, st.fixed_dictionaries(
        {"diagram": diagrams()}, optional={"n_layers": small_ints, "n_bins": small_ints, "sample_range": params})),
    "persistence_image": (tda_core.persistence_image, st.fixed_dictionaries(
        {"diagram": diagrams()},
        optional={"resolution": st.one_of(small_ints, st.tuples(small_ints, small_ints)), "bandwidth": params,
                  "weight": st.one_of(st.sampled_from(["persistence", "linear", "constant", "x"]), params),
                  "birth_range": params, "persistence_range": params})),
    "persistent_entropy": (tda_core.persistent_entropy, st.fixed_dictionaries(
        {"diagram": diagrams()}, optional={"normalize": st.one_of(st.booleans(), params)})),
    "total_persistence": (tda_core.total_persistence, st.fixed_dictionaries(
        {"diagram": diagrams()}, optional={"p": params})),
}


class Tally:
    def __init__(self) -> None:
        self.inputs = 0
        self.refused = 0
        self.other = 0
        self.examples: list[str] = []  # the first few, to read


def fuzz(name: str, examples: int, tally: Tally) -> None:
    function, arguments = TARGETS[name]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(arguments)
    def one(kwargs: dict[str, Any]) -> None:
        tally.inputs += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                function(**kwargs)
        except ValueError:
            tally.refused += 1
        except Exception as error:  # anything else is a defect: record it, keep fuzzing
            tally.other += 1
            if len(tally.examples) < 20:
                tally.examples.append(f"{name}({kwargs!r:.300}): {type(error).__name__}: {error!s:.200}\n"
                                      f"{traceback.format_exc(limit=4)}")

    one()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=100_000, help="inputs in all, split over the functions")
    args = parser.parse_args()
    tally = Tally()
    per_function = max(1, -(-args.examples // len(TARGETS)))  # rounded up: at least --examples in all
    for name in TARGETS:
        fuzz(name, per_function, tally)
    for example in tally.examples:
        print(example, file=sys.stderr)
    print(json.dumps({"inputs": tally.inputs, "refused": tally.refused, "other_errors": tally.other}))
    return 1 if tally.other else 0


if __name__ == "__main__":
    sys.exit(main())
