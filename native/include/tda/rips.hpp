// Vietoris–Rips persistent homology: public entry points of the core.
//
// Persistent cohomology with clearing, implicit coboundaries through the
// combinatorial number system, apparent and emergent pairs, union–find in
// dimension 0. Diagrams follow the reference conventions: pairs with
// death == birth are omitted, essential classes die at +infinity.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tda/rips/distance.hpp"
#include "tda/rips/types.hpp"

namespace tda::rips {

// A representative cocycle of a pair of dimension d >= 1: its simplices, each as d + 1
// vertices (descending) followed by its coefficient, normalised into (-p/2, p/2].
using Cocycle = std::vector<std::int64_t>;

// What the pairs come from, parallel to the diagrams (row k describes pair k).
struct Representatives {
  bool cocycles = false;  // in: also collect the cocycles of dimensions >= 1
  // The vertices of the edge that gave each simplex its diameter: {birth u, v, death u, v},
  // -1 where there is none (an essential class's death). In dimension 0 the birth is
  // a vertex: {vertex, -1, death u, v}.
  std::vector<std::vector<std::array<VertexIndex, 4>>> critical_edges;
  std::vector<std::vector<Cocycle>> cocycle;  // dimension 0: empty
};

// Every entry point first checks the options against n (max_dim bound, simplex
// indices that must fit in 64 bits: std::overflow_error saying the limit) before
// doing any work.
struct Options {
  Dimension max_dim = 1;
  // Simplices with diameter above the threshold are left out. Infinity means
  // "no threshold": the enclosing radius is used instead, which leaves the
  // diagrams unchanged (the complex above it is a cone).
  Value threshold = kInfinity;
  Coefficient modulus = 2;
  int n_threads = 1;
  const CancelFlag* cancel = nullptr;  // polled; raises Cancelled when set
  Representatives* representatives = nullptr;  // filled when given
  // Collapse dominated edges first (collapse_edges): the same diagrams from a smaller complex.
  bool collapse_edges = false;
};

using Diagrams = std::vector<Diagram>;  // index = homological dimension

// Point cloud, row-major n x dim.
Diagrams persistence_from_points(const double* points, std::size_t n, std::size_t dim, Metric metric,
                                 const Options& options);
// Full square matrix, row-major; the upper triangle is read. A nonzero diagonal
// gives vertex births and, as in the reference, turns zero off-diagonal entries
// into absent edges.
Diagrams persistence_from_dense(const double* matrix, std::size_t n, const Options& options);
// Coordinate list of a symmetric matrix: (i, j) and (j, i) name the same edge and
// an edge given several times takes the smallest of its values; row == col gives
// vertex births (the smallest such entry). Absent = +infinity.
Diagrams persistence_from_sparse(const std::int64_t* rows, const std::int64_t* cols, const double* values,
                                 std::size_t nnz, std::size_t n, const Options& options);

// The edges at or under the threshold, without those a vertex dominates at every scale from
// their own value on (Boissonnat & Pritam's edge collapse, one removal at a time, latest
// edge first): the flag filtration of the result has the input's persistence diagrams.
NeighbourGraph collapse_edges(const NeighbourGraph& graph, Value threshold, const CancelFlag* cancel = nullptr);

// The largest max_dim the engine computes (its stack buffers bound the simplex size).
Dimension max_dimension();

Diagrams persistence(const DistanceMatrix& distances, const Options& options);
Diagrams persistence(const NeighbourGraph& graph, const Options& options);

// Upper bounds for planning: simplices per dimension 0..max_dim+1 and bytes.
struct Estimate {
  std::vector<double> simplices;  // per dimension, 0..max_dim+1
  double edges = 0;
  double bytes = 0;
  bool dense = true;  // whether the dense representation would be used
};
// Without point coordinates: every pair is assumed to be an edge.
Estimate estimate(std::size_t n, Dimension max_dim);
// With the number of edges and the vertex degrees under the threshold known.
Estimate estimate(std::size_t n, Dimension max_dim, const std::vector<std::size_t>& degrees);

}  // namespace tda::rips
