// Binomial coefficients for the combinatorial number system.
//
// A k-subset {v_{k-1} > ... > v_0} of {0..n-1} has rank sum_i C(v_i, i+1); ranks of
// k-subsets are a bijection onto [0, C(n,k)) and order the subsets colexicographically.
#pragma once
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include "tda/rips/types.hpp"

namespace tda::rips {

class BinomialTable {
 public:
  // Table of C(v, k) for v in [0, n] and k in [0, max_k].
  BinomialTable(VertexIndex n, int max_k) : n_(n + 1), max_k_(max_k), table_((max_k + 1) * std::size_t(n + 1)) {
    for (VertexIndex v = 0; v <= n; ++v) {
      at(v, 0) = 1;
      for (int k = 1; k <= max_k; ++k) {
        const SimplexIndex above = v == 0 ? 0 : at(v - 1, k - 1);
        const SimplexIndex left = v == 0 ? 0 : at(v - 1, k);
        // Pascal's rule; saturate instead of overflowing so that too-large inputs are detectable.
        at(v, k) = (above > kMax - left) ? kMax : above + left;
      }
    }
  }

  SimplexIndex operator()(VertexIndex v, int k) const noexcept { return table_[std::size_t(k) * n_ + v]; }

  // True when every rank of a k-subset of n vertices is representable.
  bool representable(VertexIndex n, int k) const noexcept { return (*this)(n, k) < kMax; }

  VertexIndex n() const noexcept { return n_ - 1; }

  // The largest n for which every rank of a k-subset of n vertices is
  // representable (C(n, k) below the saturation bound), capped at the largest
  // VertexIndex. Needs no table: C(n, k) is built by exact 128-bit products.
  static VertexIndex max_vertices(int k) noexcept {
    using Wide = unsigned __int128;
    auto fits = [k](std::int64_t n) {
      Wide c = 1;  // C(n, i) after step i; exact while below the bound
      for (int i = 0; i < k; ++i) {
        if (n - i <= 0) return true;  // C(n, k) = 0
        c = c * Wide(n - i) / Wide(i + 1);
        if (c >= Wide(kMax)) return false;
      }
      return true;
    };
    std::int64_t lo = 0, hi = std::numeric_limits<VertexIndex>::max();  // fits(lo) holds
    if (fits(hi)) return VertexIndex(hi);
    while (hi - lo > 1) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      (fits(mid) ? lo : hi) = mid;
    }
    return VertexIndex(lo);
  }
  int max_k() const noexcept { return max_k_; }

 private:
  static constexpr SimplexIndex kMax = std::numeric_limits<SimplexIndex>::max() / 2;
  SimplexIndex& at(VertexIndex v, int k) { return table_[std::size_t(k) * n_ + v]; }
  std::size_t n_;
  int max_k_;
  std::vector<SimplexIndex> table_;
};

// Rank <-> vertices of a simplex of a given dimension (dim+1 vertices).
class SimplexCoder {
 public:
  explicit SimplexCoder(const BinomialTable& binomial) : b_(binomial) {}

  // vertices_descending[0] is the largest vertex.
  SimplexIndex encode(const VertexIndex* vertices_descending, Dimension dim) const noexcept {
    SimplexIndex rank = 0;
    for (Dimension i = 0; i <= dim; ++i) rank += b_(vertices_descending[i], dim + 1 - i);
    return rank;
  }

  // Greedy decoding: the largest vertex v with C(v, k) <= rank, then recurse on the rest.
  void decode(SimplexIndex rank, Dimension dim, VertexIndex* out_descending) const noexcept {
    VertexIndex upper = b_.n();  // exclusive search bound for the next vertex
    for (int k = dim + 1; k >= 1; --k) {
      VertexIndex lo = k - 1, hi = upper;  // C(k-1, k) = 0 <= rank, answer in [lo, hi)
      while (hi - lo > 1) {
        const VertexIndex mid = lo + (hi - lo) / 2;
        if (b_(mid, k) <= rank) lo = mid; else hi = mid;
      }
      out_descending[dim + 1 - k] = lo;
      rank -= b_(lo, k);
      upper = lo;
    }
  }

 private:
  const BinomialTable& b_;
};

}  // namespace tda::rips
