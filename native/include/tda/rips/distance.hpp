// Distance storage: a dense condensed matrix or a sparse neighbourhood graph.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <span>
#include <vector>

#include "tda/rips/types.hpp"

namespace tda::rips {

// Symmetric matrix stored in full, row-major: the rows a cofacet enumeration
// walks are contiguous (twice the memory of a triangle, far fewer cache misses).
class DistanceMatrix {
 public:
  DistanceMatrix() = default;
  explicit DistanceMatrix(VertexIndex n) : n_(n), values_(std::size_t(n) * n, Value(0)) {}

  VertexIndex size() const noexcept { return n_; }
  Value operator()(VertexIndex i, VertexIndex j) const noexcept { return values_[std::size_t(i) * n_ + j]; }
  Value* row(VertexIndex i) noexcept { return values_.data() + std::size_t(i) * n_; }
  const Value* row(VertexIndex i) const noexcept { return values_.data() + std::size_t(i) * n_; }
  // Mirrors the lower triangle (row(i)[j], j < i) into the upper one.
  void symmetrize() noexcept {
    for (VertexIndex i = 1; i < n_; ++i)
      for (VertexIndex j = 0; j < i; ++j) values_[std::size_t(j) * n_ + i] = values_[std::size_t(i) * n_ + j];
  }
  std::size_t bytes() const noexcept { return values_.size() * sizeof(Value); }

 private:
  VertexIndex n_ = 0;
  std::vector<Value> values_;
};

struct Neighbour {
  VertexIndex vertex;
  Value distance;
};

// Symmetric graph in compressed-row form; each row sorted by vertex.
// Absent pairs are at infinite distance. Vertices may carry a birth value.
class NeighbourGraph {
 public:
  NeighbourGraph() = default;

  // From undirected edges (u != v), each given once.
  struct Edge {
    VertexIndex u, v;
    Value distance;
  };
  NeighbourGraph(VertexIndex n, const std::vector<Edge>& edges, std::vector<Value> vertex_births = {});

  VertexIndex size() const noexcept { return n_; }
  std::span<const Neighbour> neighbours(VertexIndex v) const noexcept {
    return {entries_.data() + offsets_[v], entries_.data() + offsets_[v + 1]};
  }
  std::size_t edge_count() const noexcept { return entries_.size() / 2; }
  Value vertex_birth(VertexIndex v) const noexcept { return births_.empty() ? Value(0) : births_[v]; }
  bool has_vertex_births() const noexcept { return !births_.empty(); }

  // Distance lookup by binary search in the shorter row; kInfinity when absent.
  Value operator()(VertexIndex i, VertexIndex j) const noexcept {
    if (i == j) return 0;
    auto row = neighbours(i);
    auto other = neighbours(j);
    if (other.size() < row.size()) std::swap(row, other), std::swap(i, j);
    auto it = std::lower_bound(row.begin(), row.end(), j,
                               [](const Neighbour& a, VertexIndex v) { return a.vertex < v; });
    return (it != row.end() && it->vertex == j) ? it->distance : kInfinity;
  }
  std::size_t bytes() const noexcept {
    return entries_.size() * sizeof(Neighbour) + offsets_.size() * sizeof(std::size_t) + births_.size() * sizeof(Value);
  }

 private:
  VertexIndex n_ = 0;
  std::vector<std::size_t> offsets_;
  std::vector<Neighbour> entries_;
  std::vector<Value> births_;
};

// Pairwise distances of a point cloud (row-major n x d, double precision),
// computed in double and rounded once to Value.
DistanceMatrix pairwise_distances(const double* points, VertexIndex n, std::size_t dim, Metric metric,
                                   const std::atomic<bool>* cancel = nullptr, int n_threads = 1);

// Only the pairs at distance <= threshold, as a neighbourhood graph: memory grows
// with the number of edges, not with n^2.
NeighbourGraph neighbourhood_graph(const double* points, VertexIndex n, std::size_t dim, Metric metric,
                                   Value threshold, const std::atomic<bool>* cancel = nullptr, int n_threads = 1);

// min over vertices of the largest distance from it: above this radius the complex is a cone.
Value enclosing_radius(const DistanceMatrix& d) noexcept;
Value enclosing_radius(const NeighbourGraph& g) noexcept;

}  // namespace tda::rips
