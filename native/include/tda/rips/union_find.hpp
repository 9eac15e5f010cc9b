// Disjoint sets with a birth value per component (dimension 0 by the elder rule).
#pragma once
#include <numeric>
#include <vector>

#include "tda/rips/types.hpp"

namespace tda::rips {

class UnionFind {
 public:
  explicit UnionFind(VertexIndex n) : parent_(n), rank_(n, 0), birth_(n, Value(0)) {
    std::iota(parent_.begin(), parent_.end(), VertexIndex(0));
  }

  void set_birth(VertexIndex v, Value b) { birth_[v] = b; }
  Value birth(VertexIndex root) const { return birth_[root]; }

  VertexIndex find(VertexIndex x) {
    VertexIndex root = x;
    while (parent_[root] != root) root = parent_[root];
    while (parent_[x] != root) {  // path compression
      const VertexIndex next = parent_[x];
      parent_[x] = root;
      x = next;
    }
    return root;
  }

  // Union by rank; the merged component is born when its older part was.
  void link(VertexIndex a, VertexIndex b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    if (rank_[a] < rank_[b]) std::swap(a, b);
    parent_[b] = a;
    birth_[a] = std::min(birth_[a], birth_[b]);
    if (rank_[a] == rank_[b]) ++rank_[a];
  }

 private:
  std::vector<VertexIndex> parent_;
  std::vector<std::uint8_t> rank_;
  std::vector<Value> birth_;
};

}  // namespace tda::rips
