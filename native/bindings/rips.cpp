// Python binding of the Rips core: convert, check shapes, release the GIL.
// User-facing validation with parameter names lives in tda_core/rips.py; the
// checks here keep direct calls of the private functions from crashing.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "bindings.hpp"
#include "diagram_array.hpp"
#include "interruptible.hpp"
#include "tda/rips.hpp"
#include "tda/rips/field.hpp"

namespace py = pybind11;
namespace rips = tda::rips;

namespace tda::py {
namespace {

using DoubleArray = ::py::array_t<double, ::py::array::c_style | ::py::array::forcecast>;
using IndexArray = ::py::array_t<std::int64_t, ::py::array::c_style | ::py::array::forcecast>;

rips::Metric parse_metric(const std::string& name) {
  if (name == "euclidean") return rips::Metric::euclidean;
  if (name == "manhattan" || name == "cityblock" || name == "l1") return rips::Metric::manhattan;
  if (name == "chebyshev") return rips::Metric::chebyshev;
  if (name == "cosine") return rips::Metric::cosine;
  throw std::invalid_argument("metric: unknown metric '" + name + "'");
}

// What a call asks for beside the diagrams.
struct Wanted {
  bool generators = false;
  bool cocycles = false;
  bool collapse_edges = false;
  bool any() const { return generators || cocycles; }
};

rips::Options make_options(int max_dim, double threshold, std::uint64_t coeff, int n_threads) {
  if (max_dim < 0) throw std::invalid_argument("max_dim must be >= 0");
  if (!(threshold >= 0)) throw std::invalid_argument("threshold must be >= 0");
  if (coeff > 0x7fffffffULL || !rips::is_prime(coeff)) throw std::invalid_argument("coeff must be a prime");
  if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
  rips::Options o;
  o.max_dim = max_dim;
  o.threshold = rips::to_value(threshold);
  o.modulus = rips::Coefficient(coeff);
  o.n_threads = n_threads;
  return o;
}

// Runs a Rips computation interruptibly with the cancel flag in its options.
template <class Compute>
rips::Diagrams run_rips(rips::Options options, Compute&& compute) {
  return run_interruptible([&](const CancelFlag* cancel) {
    options.cancel = cancel;
    return compute(options);
  });
}

::py::list to_python(const rips::Diagrams& diagrams) {
  ::py::list out;
  for (const rips::Diagram& d : diagrams)
    out.append(two_columns<double>(d, &rips::PersistencePair::birth, &rips::PersistencePair::death));
  return out;
}

// Per dimension, int64 arrays parallel to the diagrams: critical edges (k x 3 in
// dimension 0, k x 4 above) and, when asked for, each pair's cocycle (m x (d + 2)).
::py::tuple to_python(const rips::Diagrams& diagrams, const rips::Representatives& r, const Wanted& wanted) {
  ::py::object generators = ::py::none(), cocycles = ::py::none();
  if (wanted.generators) {
    ::py::list per_dim;
    for (std::size_t dim = 0; dim < r.critical_edges.size(); ++dim) {
      const auto& rows = r.critical_edges[dim];
      const ::py::ssize_t width = dim == 0 ? 3 : 4;
      ::py::array_t<std::int64_t> a({::py::ssize_t(rows.size()), width});
      auto m = a.mutable_unchecked<2>();
      for (std::size_t i = 0; i < rows.size(); ++i)
        for (::py::ssize_t k = 0; k < width; ++k) m(i, k) = rows[i][std::size_t(dim == 0 && k > 0 ? k + 1 : k)];
      per_dim.append(a);
    }
    generators = per_dim;
  }
  if (wanted.cocycles) {
    ::py::list per_dim;
    for (std::size_t dim = 0; dim < r.cocycle.size(); ++dim) {
      ::py::list of_pairs;
      const auto width = ::py::ssize_t(dim + 2);
      for (const rips::Cocycle& c : r.cocycle[dim]) {
        ::py::array_t<std::int64_t> a({::py::ssize_t(c.size()) / width, width});
        std::copy(c.begin(), c.end(), a.mutable_data());
        of_pairs.append(a);
      }
      per_dim.append(of_pairs);
    }
    cocycles = per_dim;
  }
  return ::py::make_tuple(to_python(diagrams), generators, cocycles);
}

// Runs one Rips computation, with the representatives asked for.
template <class Compute>
::py::object compute_rips(rips::Options options, const Wanted& wanted, Compute&& compute) {
  rips::Representatives representatives;
  representatives.cocycles = wanted.cocycles;
  options.collapse_edges = wanted.collapse_edges;
  if (wanted.any()) options.representatives = &representatives;
  const auto diagrams = run_rips(options, compute);
  if (!wanted.any()) return to_python(diagrams);
  return to_python(diagrams, representatives, wanted);
}

::py::object rips_points(const DoubleArray& points, const std::string& metric, int max_dim, double threshold,
                         std::uint64_t coeff, int n_threads, bool generators, bool cocycles,
                         bool collapse_edges) {
  if (points.ndim() != 2) throw std::invalid_argument("X must be a 2-D array");
  if (points.shape(0) < 1 || points.shape(1) < 1) throw std::invalid_argument("X must not be empty");
  if (points.shape(0) > 0x7fffffff) throw std::invalid_argument("X has too many points");
  const auto m = parse_metric(metric);
  const auto n = std::size_t(points.shape(0)), d = std::size_t(points.shape(1));
  const double* data = points.data();
  for (std::size_t i = 0; i < n * d; ++i)
    if (!std::isfinite(data[i])) throw std::invalid_argument("X must contain only finite values");
  return compute_rips(make_options(max_dim, threshold, coeff, n_threads), {generators, cocycles, collapse_edges},
                      [&](const rips::Options& o) { return rips::persistence_from_points(data, n, d, m, o); });
}

::py::object rips_dense(const DoubleArray& matrix, int max_dim, double threshold, std::uint64_t coeff, int n_threads,
                        bool generators, bool cocycles, bool collapse_edges) {
  if (matrix.ndim() != 2 || matrix.shape(0) != matrix.shape(1))
    throw std::invalid_argument("X must be a square distance matrix");
  if (matrix.shape(0) < 1) throw std::invalid_argument("X must not be empty");
  if (matrix.shape(0) > 0x7fffffff) throw std::invalid_argument("X has too many points");
  const auto n = std::size_t(matrix.shape(0));
  const double* data = matrix.data();
  for (std::size_t i = 0; i < n * n; ++i)
    if (std::isnan(data[i])) throw std::invalid_argument("X must not hold NaN distances");
  return compute_rips(make_options(max_dim, threshold, coeff, n_threads), {generators, cocycles, collapse_edges},
                      [&](const rips::Options& o) { return rips::persistence_from_dense(data, n, o); });
}

::py::object rips_sparse(const IndexArray& rows, const IndexArray& cols, const DoubleArray& values, std::int64_t n,
                         int max_dim, double threshold, std::uint64_t coeff, int n_threads, bool generators,
                         bool cocycles, bool collapse_edges) {
  if (rows.ndim() != 1 || cols.ndim() != 1 || values.ndim() != 1 || rows.shape(0) != cols.shape(0) ||
      rows.shape(0) != values.shape(0))
    throw std::invalid_argument("X: row, column and value arrays must be 1-D of equal length");
  if (n < 1 || n > 0x7fffffff) throw std::invalid_argument("X must not be empty");
  const auto nnz = std::size_t(rows.shape(0));
  for (std::size_t k = 0; k < nnz; ++k) {
    if (rows.data()[k] < 0 || rows.data()[k] >= n || cols.data()[k] < 0 || cols.data()[k] >= n)
      throw std::invalid_argument("X: index out of range");
    if (std::isnan(values.data()[k])) throw std::invalid_argument("X must not hold NaN distances");
  }
  return compute_rips(make_options(max_dim, threshold, coeff, n_threads), {generators, cocycles, collapse_edges},
                      [&](const rips::Options& o) {
                        return rips::persistence_from_sparse(rows.data(), cols.data(), values.data(), nnz,
                                                             std::size_t(n), o);
                      });
}

::py::dict to_python(const rips::Estimate& e) {
  ::py::dict out;
  ::py::list simplices;
  for (double s : e.simplices) simplices.append(s);
  out["simplices"] = simplices;
  out["edges"] = e.edges;
  out["bytes"] = e.bytes;
  out["dense"] = e.dense;
  return out;
}

}  // namespace

void bind_rips(::py::module_& m) {
  m.attr("_RIPS_MAX_DIM") = tda::rips::max_dimension();
  m.def("_rips_points", &rips_points, ::py::arg("points"), ::py::arg("metric"), ::py::arg("max_dim"),
        ::py::arg("threshold"), ::py::arg("coeff"), ::py::arg("n_threads"), ::py::arg("generators") = false,
        ::py::arg("cocycles") = false, ::py::arg("collapse_edges") = false,
        "Rips persistence of a point cloud (float64, n x d); with generators or cocycles, "
        "(diagrams, generators, cocycles).");
  m.def("_rips_dense", &rips_dense, ::py::arg("matrix"), ::py::arg("max_dim"), ::py::arg("threshold"),
        ::py::arg("coeff"), ::py::arg("n_threads"), ::py::arg("generators") = false, ::py::arg("cocycles") = false, ::py::arg("collapse_edges") = false,
        "Rips persistence of a full distance matrix.");
  m.def("_rips_sparse", &rips_sparse, ::py::arg("rows"), ::py::arg("cols"), ::py::arg("values"), ::py::arg("n"),
        ::py::arg("max_dim"), ::py::arg("threshold"), ::py::arg("coeff"), ::py::arg("n_threads"),
        ::py::arg("generators") = false, ::py::arg("cocycles") = false, ::py::arg("collapse_edges") = false,
        "Rips persistence of a sparse distance matrix in coordinate form (absent = +inf).");
  m.def(
      "_rips_degrees",
      [](const DoubleArray& points, const std::string& metric, double threshold) {
        if (points.ndim() != 2 || points.shape(0) < 1 || points.shape(1) < 1)
          throw std::invalid_argument("X must be a non-empty 2-D array");
        const auto m = parse_metric(metric);
        const auto n = rips::VertexIndex(points.shape(0));
        const double* data = points.data();
        std::vector<std::int64_t> degrees(std::size_t(n), 0);
        {
          ::py::gil_scoped_release release;
          const auto g = rips::neighbourhood_graph(data, n, std::size_t(points.shape(1)), m, rips::to_value(threshold));
          for (rips::VertexIndex v = 0; v < n; ++v) degrees[std::size_t(v)] = std::int64_t(g.neighbours(v).size());
        }
        return ::py::array_t<std::int64_t>(::py::ssize_t(degrees.size()), degrees.data());
      },
      ::py::arg("points"), ::py::arg("metric"), ::py::arg("threshold"),
      "Number of neighbours within the threshold, per point.");
  m.def(
      "_estimate_rips_complete",
      [](std::int64_t n, int max_dim) {
        if (n < 0 || max_dim < 0) throw std::invalid_argument("n and max_dim must be >= 0");
        return to_python(rips::estimate(std::size_t(n), max_dim));
      },
      ::py::arg("n"), ::py::arg("max_dim"));
  m.def(
      "_estimate_rips_degrees",
      [](const IndexArray& degrees, int max_dim) {
        if (degrees.ndim() != 1 || max_dim < 0) throw std::invalid_argument("degrees must be 1-D, max_dim >= 0");
        std::vector<std::size_t> d(std::size_t(degrees.shape(0)));
        for (std::size_t i = 0; i < d.size(); ++i) d[i] = std::size_t(std::max<std::int64_t>(0, degrees.data()[i]));
        return to_python(rips::estimate(d.size(), max_dim, d));
      },
      ::py::arg("degrees"), ::py::arg("max_dim"));
}

}  // namespace tda::py
