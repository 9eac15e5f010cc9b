// Disjoint sets with a birth value per component (dimension 0 by the elder rule) and
// the vertex born first in it (ties: the smallest), so that each component that dies
// is named by a vertex no other pair names.
#pragma once
#include <numeric>
#include <vector>

#include "tda/rips/types.hpp"

namespace tda::rips {

class UnionFind {
 public:
  explicit UnionFind(VertexIndex n) : parent_(n), rank_(n, 0), birth_(n, Value(0)), eldest_(n) {
    std::iota(parent_.begin(), parent_.end(), VertexIndex(0));
    std::iota(eldest_.begin(), eldest_.end(), VertexIndex(0));
  }

  void set_birth(VertexIndex v, Value b) { birth_[v] = b; }
  Value birth(VertexIndex root) const { return birth_[root]; }
  VertexIndex eldest(VertexIndex root) const { return eldest_[root]; }
  // Whether root a's component is older than root b's (birth, then eldest vertex).
  bool older(VertexIndex a, VertexIndex b) const {
    return birth_[a] < birth_[b] || (birth_[a] == birth_[b] && eldest_[a] < eldest_[b]);
  }

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
    if (older(b, a)) birth_[a] = birth_[b], eldest_[a] = eldest_[b];
    if (rank_[a] == rank_[b]) ++rank_[a];
  }

 private:
  std::vector<VertexIndex> parent_;
  std::vector<std::uint8_t> rank_;
  std::vector<Value> birth_;
  std::vector<VertexIndex> eldest_;
};

}  // namespace tda::rips
