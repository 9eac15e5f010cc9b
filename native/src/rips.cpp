// Entry points of the Rips core: choose storage and field, run the engine.
#include "tda/rips.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "rips_engine.hpp"

namespace tda::rips {
namespace {

// Below this fraction of all pairs, neighbour lists beat the dense matrix.
constexpr double kSparseDensity = 0.25;
// The engine's stack buffers hold detail::kMaxVertices vertices: cofacets of
// max_dim-simplices (max_dim + 2 vertices) with one to spare.
constexpr Dimension kMaxDim = detail::kMaxVertices - 3;

template <class Access>
Diagrams run_engine(Access access, Value threshold, const Options& options) {
  const PrimeField field(options.modulus);
  if (options.modulus == 2)
    return detail::Engine<Access, true>(access, threshold, options, field).run();
  return detail::Engine<Access, false>(access, threshold, options, field).run();
}

}  // namespace

Dimension max_dimension() { return kMaxDim; }

namespace {

// Every limit of the engine, checked before any work (the distance matrix of a
// large input alone can take minutes), each message stating the limit.
void validate(const Options& options, std::size_t n) {
  if (options.max_dim < 0) throw std::invalid_argument("max_dim must be >= 0");
  if (options.max_dim > kMaxDim)
    throw std::invalid_argument("max_dim must be at most " + std::to_string(kMaxDim) + ", got " +
                                std::to_string(options.max_dim));
  if (!(options.threshold >= 0)) throw std::invalid_argument("threshold must be >= 0");
  if (!is_prime(options.modulus)) throw std::invalid_argument("coeff must be a prime");
  // Ranks of (max_dim + 1)-simplices (the cofacets of the last dimension) must fit in 64 bits.
  const VertexIndex limit = BinomialTable::max_vertices(options.max_dim + 2);
  if (n > std::size_t(limit))
    throw std::overflow_error("too many points for max_dim=" + std::to_string(options.max_dim) + ": at most " +
                              std::to_string(limit) + " (simplex indices are 64-bit), got " + std::to_string(n) +
                              "; lower max_dim or subsample");
}

// The graph's filtration up to the threshold, collapsed first when asked.
Diagrams persistence_under(const NeighbourGraph& graph, Value threshold, const Options& options) {
  if (!options.collapse_edges) return run_engine(detail::SparseAccess{graph}, threshold, options);
  const NeighbourGraph collapsed = collapse_edges(graph, threshold, options.cancel);
  return run_engine(detail::SparseAccess{collapsed}, threshold, options);
}

// Largest finite entry: stands in for an infinite threshold so that infinite
// distances never become edges.
Value max_finite(const DistanceMatrix& d) {
  Value m = 0;
  for (VertexIndex i = 1; i < d.size(); ++i)
    for (VertexIndex j = 0; j < i; ++j)
      if (std::isfinite(d.row(i)[j])) m = std::max(m, d.row(i)[j]);
  return m;
}

}  // namespace

Diagrams persistence(const DistanceMatrix& distances, const Options& options) {
  validate(options, std::size_t(distances.size()));
  Value threshold = std::min(options.threshold, enclosing_radius(distances));
  if (!std::isfinite(threshold)) threshold = max_finite(distances);
  const VertexIndex n = distances.size();
  const double pairs = double(n) * (n - 1) / 2;
  if (pairs > 0 && threshold < kInfinity) {
    std::size_t edges = 0;
    for (VertexIndex i = 1; i < n; ++i)
      for (VertexIndex j = 0; j < i; ++j) edges += distances.row(i)[j] <= threshold;
    if (double(edges) < kSparseDensity * pairs || options.collapse_edges) {
      std::vector<NeighbourGraph::Edge> list;
      list.reserve(edges);
      for (VertexIndex i = 1; i < n; ++i)
        for (VertexIndex j = 0; j < i; ++j)
          if (distances.row(i)[j] <= threshold) list.push_back({i, j, distances.row(i)[j]});
      return persistence_under(NeighbourGraph(n, list), threshold, options);
    }
  }
  return run_engine(detail::DenseAccess{distances}, threshold, options);
}

Diagrams persistence(const NeighbourGraph& graph, const Options& options) {
  validate(options, std::size_t(graph.size()));
  return persistence_under(graph, std::min(options.threshold, enclosing_radius(graph)), options);
}

Diagrams persistence_from_points(const double* points, std::size_t n, std::size_t dim, Metric metric,
                                 const Options& options) {
  validate(options, n);
  const auto count = VertexIndex(n);
  if (std::isfinite(options.threshold)) {
    // Only pairs under the threshold are ever stored.
    const NeighbourGraph graph =
        neighbourhood_graph(points, count, dim, metric, options.threshold, options.cancel, options.n_threads);
    if (double(graph.edge_count()) < kSparseDensity * double(n) * double(n - 1) / 2 || n < 2)
      return persistence(graph, options);
  }
  const DistanceMatrix d = pairwise_distances(points, count, dim, metric, options.cancel, options.n_threads);
  return persistence(d, options);
}

Diagrams persistence_from_dense(const double* matrix, std::size_t n, const Options& options) {
  validate(options, n);
  bool births = false;
  for (std::size_t i = 0; i < n; ++i) births |= matrix[i * n + i] != 0;
  if (births) {
    // Vertex births: the reference reads the matrix as a sparse one, where
    // zero off-diagonal entries are absent edges.
    std::vector<std::int64_t> rows, cols;
    std::vector<double> values;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i; j < n; ++j)
        if (matrix[i * n + j] != 0) rows.push_back(std::int64_t(i)), cols.push_back(std::int64_t(j)), values.push_back(matrix[i * n + j]);
    return persistence_from_sparse(rows.data(), cols.data(), values.data(), values.size(), n, options);
  }
  DistanceMatrix d{VertexIndex(n)};
  for (std::size_t i = 1; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j) d.row(VertexIndex(i))[j] = to_value(matrix[j * n + i]);  // upper triangle
  d.symmetrize();
  return persistence(d, options);
}

Diagrams persistence_from_sparse(const std::int64_t* rows, const std::int64_t* cols, const double* values,
                                 std::size_t nnz, std::size_t n, const Options& options) {
  validate(options, n);
  // The matrix is read as a symmetric one: (i, j) and (j, i) are the same edge, and
  // repeated coordinates (which scipy keeps until sum_duplicates) are alternative
  // values of it. A distance is the length of the shortest link, so every edge takes
  // the minimum of all its entries and every vertex the minimum of its diagonal
  // entries (vertices without one are born at 0).
  std::vector<NeighbourGraph::Edge> edges;
  std::vector<Value> births;
  std::vector<bool> born;
  for (std::size_t k = 0; k < nnz; ++k) {
    if (k % 65536 == 0) check_cancel(options.cancel);
    const Value value = to_value(values[k]);
    const auto i = VertexIndex(rows[k]), j = VertexIndex(cols[k]);
    if (i == j) {
      if (births.empty()) births.assign(n, 0), born.assign(n, false);
      births[std::size_t(i)] = born[std::size_t(i)] ? std::min(births[std::size_t(i)], value) : value;
      born[std::size_t(i)] = true;
    } else if (value <= options.threshold) {
      edges.push_back({std::max(i, j), std::min(i, j), value});
    }
  }
  // One edge per pair: the smallest value comes first after sorting and is kept.
  std::sort(edges.begin(), edges.end(), [](const auto& a, const auto& b) {
    return a.u != b.u ? a.u < b.u : a.v != b.v ? a.v < b.v : a.distance < b.distance;
  });
  edges.erase(std::unique(edges.begin(), edges.end(), [](const auto& a, const auto& b) { return a.u == b.u && a.v == b.v; }),
              edges.end());
  const NeighbourGraph graph(VertexIndex(n), edges, std::move(births));
  return persistence(graph, options);
}

}  // namespace tda::rips
