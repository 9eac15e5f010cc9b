// Distances between persistence diagrams.
//
// A matching pairs points of one diagram with points of the other or with the
// diagonal; the cost of a pair is the L_q distance between the points and the cost
// of sending (b, d) to the diagonal the L_q distance to its orthogonal projection,
// |d - b| / 2 * 2^(1/q) (|d - b| / 2 for the default q = inf).
//   bottleneck:  min over matchings of the largest cost (q = inf);
//   wasserstein: min over matchings of (sum of cost^p)^(1/p), q = internal_p.
// Points with an infinite coordinate are matched only among themselves, by kind
// ((b, +inf), (-inf, d), ...) and along their finite coordinate; if two diagrams
// hold a different number of points of one kind the distance is +inf. Points on
// the diagonal (b == d) do not contribute.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "tda/cancel.hpp"

namespace tda::distances {

struct Point {
  double birth;
  double death;
};

using Diagram = std::span<const Point>;

// Both distances throw tda::Cancelled once *cancel is set.

// A matched pair by position in the input diagrams; -1 stands for the diagonal.
struct MatchedPair {
  std::int64_t first;   // index in a, or -1
  std::int64_t second;  // index in b, or -1
};
// With a `matching` argument, both distances are exact and store an optimal
// matching there: every input point appears in exactly one pair (points on the
// diagonal are paired with it); left empty when the distance is inf.
using Matching = std::vector<MatchedPair>;

// Exact when delta == 0 or with `matching` (whose largest cost is the distance);
// otherwise a value in [d, (1 + delta) d].
double bottleneck(Diagram a, Diagram b, double delta = 0.0, const CancelFlag* cancel = nullptr,
                  Matching* matching = nullptr);

// order >= 1, internal_p in [1, inf]. Exact (Hungarian method) when delta == 0,
// with `matching` or when the diagrams are small; otherwise an auction with
// epsilon-scaling stopped once its dual bound certifies a value in [d, (1 + delta) d].
double wasserstein(Diagram a, Diagram b, double order = 1.0, double delta = 0.01,
                   const CancelFlag* cancel = nullptr, Matching* matching = nullptr,
                   double internal_p = std::numeric_limits<double>::infinity());

// Statistics of the last wasserstein call on this thread (for tests and tuning).
struct AuctionStats {
  std::uint64_t bids = 0;
  int phases = 0;
  bool exact = false;
};
AuctionStats last_wasserstein_stats();

}  // namespace tda::distances
