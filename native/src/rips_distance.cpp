// Distances of point clouds and the two storage forms of the Rips core.
#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "tda/rips/distance.hpp"

namespace tda::rips {
namespace {

// Distance between two rows under a metric; cosine uses precomputed norms.
class PointMetric {
 public:
  PointMetric(const double* points, VertexIndex n, std::size_t dim, Metric metric)
      : x_(points), dim_(dim), metric_(metric) {
    if (metric == Metric::cosine) {
      norm_.resize(n);
      for (VertexIndex i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t k = 0; k < dim; ++k) s += x_[i * dim + k] * x_[i * dim + k];
        norm_[i] = std::sqrt(s);
      }
    }
  }

  // NaN (from overflowing coordinates) is read as "no edge".
  Value operator()(VertexIndex i, VertexIndex j) const noexcept {
    const Value r = compute(i, j);
    return std::isnan(r) ? kInfinity : r;
  }

 private:
  Value compute(VertexIndex i, VertexIndex j) const noexcept {
    const double* a = x_ + std::size_t(i) * dim_;
    const double* b = x_ + std::size_t(j) * dim_;
    double r = 0;
    switch (metric_) {
      case Metric::euclidean:
        for (std::size_t k = 0; k < dim_; ++k) r += (a[k] - b[k]) * (a[k] - b[k]);
        return to_value(std::sqrt(r));
      case Metric::manhattan:
        for (std::size_t k = 0; k < dim_; ++k) r += std::abs(a[k] - b[k]);
        return to_value(r);
      case Metric::chebyshev:
        for (std::size_t k = 0; k < dim_; ++k) r = std::max(r, std::abs(a[k] - b[k]));
        return to_value(r);
      case Metric::cosine: {
        // 1 - cos(angle); a zero vector has similarity 0 with everything.
        if (norm_[i] == 0 || norm_[j] == 0) return Value(1);
        for (std::size_t k = 0; k < dim_; ++k) r += a[k] * b[k];
        return Value(std::clamp(1.0 - r / (norm_[i] * norm_[j]), 0.0, 2.0));
      }
    }
    return 0;
  }

  const double* x_;
  std::size_t dim_;
  Metric metric_;
  std::vector<double> norm_;
};

// Buckets points by their first (up to three) coordinates into cells at least
// `threshold` wide. Under the euclidean, manhattan and chebyshev metrics no
// coordinate differs by more than the distance, so the neighbours of a point
// within the threshold lie in its own or an adjacent cell: finding them costs
// about the number of edges, not n^2.
class CellGrid {
 public:
  CellGrid(const double* x, VertexIndex n, std::size_t dim, double threshold) : x_(x), dim_(dim) {
    axes_ = int(std::min<std::size_t>(dim, 3));
    const double budget = std::max(1.0, 2.0 * n);  // cells in total, at most
    const auto cap = std::size_t(std::max(1.0, std::floor(std::pow(budget, 1.0 / axes_))));
    std::size_t total = 1;
    for (int k = 0; k < axes_; ++k) {
      double lo = x[k], hi = x[k];
      for (VertexIndex i = 1; i < n; ++i) lo = std::min(lo, x[i * dim + k]), hi = std::max(hi, x[i * dim + k]);
      const double extent = hi - lo;
      lo_[k] = lo;
      if (!std::isfinite(extent) || extent == 0) {
        count_[k] = 1, width_[k] = 1;
      } else {
        const double wanted = threshold > 0 ? std::floor(extent / threshold) + 1 : double(cap);
        count_[k] = std::size_t(std::clamp(wanted, 1.0, double(cap)));
        width_[k] = std::max(threshold, extent / double(count_[k]));
      }
      total *= count_[k];
    }
    start_.assign(total + 1, 0);
    cell_.resize(n);
    for (VertexIndex i = 0; i < n; ++i) ++start_[(cell_[i] = cell_of(i)) + 1];
    for (std::size_t c = 0; c < total; ++c) start_[c + 1] += start_[c];
    order_.resize(n);
    std::vector<std::size_t> fill(start_.begin(), start_.end() - 1);
    for (VertexIndex i = 0; i < n; ++i) order_[fill[cell_[i]]++] = i;
  }

  // Calls f(j) for every point in the cells around point i (i itself included).
  template <class F>
  void for_each_nearby(VertexIndex i, F&& f) const {
    std::size_t coord[3] = {0, 0, 0};
    std::size_t rest = cell_[i];
    for (int k = axes_ - 1; k >= 0; --k) coord[k] = rest % count_[k], rest /= count_[k];
    visit(0, coord, 0, f);
  }

 private:
  std::size_t cell_of(VertexIndex i) const {
    std::size_t key = 0;
    for (int k = 0; k < axes_; ++k) {
      double q = (x_[i * dim_ + k] - lo_[k]) / width_[k];
      if (!(q >= 0)) q = 0;  // also catches NaN from overflowing extents
      key = key * count_[k] + std::min(count_[k] - 1, std::size_t(std::min(q, double(count_[k] - 1))));
    }
    return key;
  }
  template <class F>
  void visit(int k, const std::size_t* coord, std::size_t key, F& f) const {
    if (k >= axes_ || k >= 3) {
      for (std::size_t p = start_[key]; p < start_[key + 1]; ++p) f(order_[p]);
      return;
    }
    const std::size_t lo = coord[k] == 0 ? 0 : coord[k] - 1, hi = std::min(count_[k] - 1, coord[k] + 1);
    for (std::size_t c = lo; c <= hi; ++c) visit(k + 1, coord, key * count_[k] + c, f);
  }

  const double* x_;
  std::size_t dim_;
  int axes_ = 0;
  double lo_[3] = {0, 0, 0}, width_[3] = {1, 1, 1};
  std::size_t count_[3] = {1, 1, 1};
  std::vector<std::size_t> start_, cell_;
  std::vector<VertexIndex> order_;
};

// Rows [0, n) split into interleaved stripes so that triangular rows balance.
template <class RowFn>
void for_rows_parallel(VertexIndex n, int n_threads, RowFn&& fn) {
  n_threads = std::max(1, std::min(n_threads, int(n / 64) + 1));
  if (n_threads == 1) {
    fn(0, 0, 1);
    return;
  }
  std::vector<std::jthread> workers;
  std::exception_ptr error;
  std::mutex error_mutex;
  for (int t = 0; t < n_threads; ++t)
    workers.emplace_back([&, t] {
      try {
        fn(t, t, n_threads);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        error = std::current_exception();
      }
    });
  workers.clear();
  if (error) std::rethrow_exception(error);
}

}  // namespace

DistanceMatrix pairwise_distances(const double* points, VertexIndex n, std::size_t dim, Metric metric,
                                   const std::atomic<bool>* cancel, int n_threads) {
  DistanceMatrix d(n);
  const PointMetric dist(points, n, dim, metric);
  for_rows_parallel(n, n_threads, [&](int, VertexIndex first, VertexIndex step) {
    for (VertexIndex i = first; i < n; i += step) {
      if ((i & 255) == 0) check_cancel(cancel);
      Value* row = d.row(i);
      for (VertexIndex j = 0; j < i; ++j) row[j] = dist(i, j);
    }
  });
  d.symmetrize();
  return d;
}

NeighbourGraph neighbourhood_graph(const double* points, VertexIndex n, std::size_t dim, Metric metric,
                                   Value threshold, const std::atomic<bool>* cancel, int n_threads) {
  const PointMetric dist(points, n, dim, metric);
  const int workers = std::max(1, std::min(n_threads, int(n / 64) + 1));
  std::vector<std::vector<NeighbourGraph::Edge>> parts(workers);
  std::optional<CellGrid> grid;
  if (metric != Metric::cosine && n > 64) grid.emplace(points, n, dim, double(threshold));
  for_rows_parallel(n, workers, [&](int t, VertexIndex first, VertexIndex step) {
    auto& out = parts[t];
    for (VertexIndex i = first; i < n; i += step) {
      if ((i & 255) == 0) check_cancel(cancel);
      auto consider = [&](VertexIndex j) {
        if (j >= i) return;  // each pair once
        const Value v = dist(i, j);
        if (v <= threshold) out.push_back({i, j, v});
      };
      if (grid) {
        grid->for_each_nearby(i, consider);
      } else {
        for (VertexIndex j = 0; j < i; ++j) consider(j);
      }
    }
  });
  if (workers == 1) return NeighbourGraph(n, parts[0]);
  std::size_t total = 0;
  for (auto& p : parts) total += p.size();
  std::vector<NeighbourGraph::Edge> edges;
  edges.reserve(total);
  for (auto& p : parts) {
    edges.insert(edges.end(), p.begin(), p.end());
    std::vector<NeighbourGraph::Edge>().swap(p);
  }
  return NeighbourGraph(n, edges);
}

NeighbourGraph::NeighbourGraph(VertexIndex n, const std::vector<Edge>& edges, std::vector<Value> vertex_births)
    : n_(n), offsets_(std::size_t(n) + 1, 0), births_(std::move(vertex_births)) {
  for (const Edge& e : edges) ++offsets_[e.u + 1], ++offsets_[e.v + 1];
  for (VertexIndex v = 0; v < n; ++v) offsets_[v + 1] += offsets_[v];
  entries_.resize(offsets_[n]);
  std::vector<std::size_t> fill(offsets_.begin(), offsets_.end() - 1);
  for (const Edge& e : edges) {
    entries_[fill[e.u]++] = {e.v, e.distance};
    entries_[fill[e.v]++] = {e.u, e.distance};
  }
  for (VertexIndex v = 0; v < n; ++v)
    std::sort(entries_.begin() + offsets_[v], entries_.begin() + offsets_[v + 1],
              [](const Neighbour& a, const Neighbour& b) { return a.vertex < b.vertex; });
}

Value enclosing_radius(const DistanceMatrix& d) noexcept {
  const VertexIndex n = d.size();
  if (n <= 1) return 0;
  std::vector<Value> eccentricity(n, 0);
  for (VertexIndex i = 1; i < n; ++i) {
    const Value* row = d.row(i);
    for (VertexIndex j = 0; j < i; ++j) {
      const Value dist = row[j] <= kInfinity ? row[j] : kInfinity;  // NaN: no edge, as in the engine
      eccentricity[i] = std::max(eccentricity[i], dist);
      eccentricity[j] = std::max(eccentricity[j], dist);
    }
  }
  return *std::min_element(eccentricity.begin(), eccentricity.end());
}

Value enclosing_radius(const NeighbourGraph& g) noexcept {
  Value radius = kInfinity;
  for (VertexIndex v = 0; v < g.size(); ++v) {
    const auto row = g.neighbours(v);
    if (VertexIndex(row.size()) + 1 < g.size()) continue;  // some pair is absent: infinite eccentricity
    Value e = 0;
    for (const Neighbour& nb : row) e = std::max(e, nb.distance);
    radius = std::min(radius, e);
  }
  return g.size() <= 1 ? Value(0) : radius;
}

}  // namespace tda::rips
