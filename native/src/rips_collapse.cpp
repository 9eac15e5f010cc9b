// Edge collapse of a flag filtration before the reduction.
//
// An edge uv of value t is dominated by a vertex w at scale s when w is a common
// neighbour of u and v and every other common neighbour of u and v is a neighbour of w,
// all in the graph G_s of the edges of value <= s. Removing a dominated edge from a flag
// complex is a strong collapse, a homotopy equivalence (Boissonnat & Pritam, SoCG 2020).
// An edge dominated by one w at every scale s >= t -- d(w, u), d(w, v) <= t, and
// d(x, w) <= max(t, d(x, u), d(x, v)) for every common neighbour x -- can be removed
// from the whole filtration: the inclusions G_s - uv -> G_s are equivalences that commute
// with the filtration maps, so the persistence diagrams do not change. Edges are tried
// latest first, each in the graph the earlier removals left, so the result of every
// step is again a filtration with the input's diagrams.
#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "tda/rips.hpp"

namespace tda::rips {

namespace {

// The graph under the threshold, with edges removable in place (their value becomes +inf).
class WorkingGraph {
 public:
  WorkingGraph(const NeighbourGraph& graph, Value threshold) : offsets_(std::size_t(graph.size()) + 1, 0) {
    for (VertexIndex v = 0; v < graph.size(); ++v) {
      for (const Neighbour& nb : graph.neighbours(v))
        if (nb.distance <= threshold) entries_.push_back(nb);
      offsets_[std::size_t(v) + 1] = entries_.size();
    }
  }
  std::span<const Neighbour> row(VertexIndex v) const noexcept {
    return {entries_.data() + offsets_[v], entries_.data() + offsets_[v + 1]};
  }
  Value operator()(VertexIndex x, VertexIndex y) const noexcept {
    const std::size_t at = position(x, y);
    return at == kAbsent ? kInfinity : entries_[at].distance;
  }
  void remove(VertexIndex u, VertexIndex v) noexcept {
    entries_[position(u, v)].distance = kInfinity;
    entries_[position(v, u)].distance = kInfinity;
  }

 private:
  static constexpr std::size_t kAbsent = ~std::size_t(0);
  // Where y sits in x's row (sorted by vertex), or kAbsent.
  std::size_t position(VertexIndex x, VertexIndex y) const noexcept {
    const auto first = entries_.begin() + std::ptrdiff_t(offsets_[x]), last = entries_.begin() + std::ptrdiff_t(offsets_[x + 1]);
    const auto it = std::lower_bound(first, last, y, [](const Neighbour& a, VertexIndex b) { return a.vertex < b; });
    return it != last && it->vertex == y ? std::size_t(it - entries_.begin()) : kAbsent;
  }
  std::vector<std::size_t> offsets_;
  std::vector<Neighbour> entries_;
};

}  // namespace

NeighbourGraph collapse_edges(const NeighbourGraph& graph, Value threshold, const CancelFlag* cancel) {
  const VertexIndex n = graph.size();
  WorkingGraph current(graph, threshold);
  std::vector<NeighbourGraph::Edge> edges;
  for (VertexIndex u = 1; u < n; ++u)
    for (const Neighbour& nb : current.row(u)) {
      if (nb.vertex >= u) break;
      edges.push_back({u, nb.vertex, nb.distance});
    }
  std::sort(edges.begin(), edges.end(), [](const auto& a, const auto& b) {
    return a.distance != b.distance ? a.distance > b.distance : a.u != b.u ? a.u > b.u : a.v > b.v;
  });
  std::vector<std::pair<VertexIndex, Value>> common;  // vertex, max of its distances to u and v
  std::vector<NeighbourGraph::Edge> kept;
  for (std::size_t k = 0; k < edges.size(); ++k) {
    if (k % 1024 == 0) check_cancel(cancel);
    const auto [u, v, t] = edges[k];
    common.clear();
    const auto nu = current.row(u), nv = current.row(v);
    for (auto a = nu.begin(), b = nv.begin(); a != nu.end() && b != nv.end();) {
      if (a->vertex < b->vertex) {
        ++a;
      } else if (b->vertex < a->vertex) {
        ++b;
      } else {
        const Value reach = std::max(a->distance, b->distance);
        if (reach < kInfinity) common.emplace_back(a->vertex, reach);
        ++a, ++b;
      }
    }
    bool dominated = false;
    for (const auto& [w, w_reach] : common) {
      if (w_reach > t) continue;  // w must be a common neighbour from t on
      dominated = std::all_of(common.begin(), common.end(), [&](const auto& x) {
        return x.first == w || current(x.first, w) <= std::max(t, x.second);
      });
      if (dominated) break;
    }
    if (dominated)
      current.remove(u, v);
    else
      kept.push_back(edges[k]);
  }
  std::vector<Value> births;
  if (graph.has_vertex_births())
    for (VertexIndex v = 0; v < n; ++v) births.push_back(graph.vertex_birth(v));
  return NeighbourGraph(n, kept, std::move(births));
}

}  // namespace tda::rips
