// Vocabulary types of the Vietoris–Rips core.
#pragma once
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "tda/cancel.hpp"

namespace tda::rips {

// Filtration values are single precision, as in the reference implementations:
// diagrams agree with them bit for bit when the input distances agree.
using Value = float;
using VertexIndex = std::int32_t;
// Rank of a simplex in the combinatorial number system (colexicographic order).
using SimplexIndex = std::int64_t;
using Coefficient = std::uint32_t;
using Dimension = std::int32_t;

inline constexpr Value kInfinity = std::numeric_limits<Value>::infinity();
inline constexpr SimplexIndex kNoSimplex = -1;

// double -> Value without undefined behaviour: a finite double beyond the float
// range becomes the largest finite float of its sign (finite stays finite, so a
// huge threshold still excludes absent, infinite, edges); infinities and NaN
// carry over.
constexpr Value to_value(double x) noexcept {
  constexpr double kMax = std::numeric_limits<Value>::max();
  if (x > kMax) return x == std::numeric_limits<double>::infinity() ? kInfinity : Value(kMax);
  if (x < -kMax) return x == -std::numeric_limits<double>::infinity() ? -kInfinity : -Value(kMax);
  return Value(x);
}

enum class Metric { euclidean, manhattan, chebyshev, cosine };

struct PersistencePair {
  Value birth;
  Value death;  // kInfinity for essential classes
  // The pair's simplices (ranks in their dimension; in dimension 0 the birth is a
  // vertex): birth is the column's simplex, death its pivot, kNoSimplex when essential.
  SimplexIndex birth_simplex = kNoSimplex;
  SimplexIndex death_simplex = kNoSimplex;
};
using Diagram = std::vector<PersistencePair>;

// Raised from the computation when the caller's cancel flag is set.
using tda::Cancelled;
using tda::CancelFlag;

// A simplex (or cofacet) with its filtration value and field coefficient.
struct Entry {
  SimplexIndex index;
  Value diameter;
  Coefficient coefficient;
};

// Total order of same-dimensional simplices in the filtration: by diameter,
// ties broken by decreasing colexicographic rank (the convention that makes
// apparent pairs of the reference implementations coincide with ours).
constexpr bool earlier(const Entry& a, const Entry& b) noexcept {
  return a.diameter < b.diameter || (a.diameter == b.diameter && a.index > b.index);
}

}  // namespace tda::rips
