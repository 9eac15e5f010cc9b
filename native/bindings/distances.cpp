// Binding of the diagram distances: (n, 2) float64 arrays in, a float (and a matching) out;
// interruptible.
#include <pybind11/numpy.h>

#include <limits>
#include <span>
#include <string>

#include "bindings.hpp"
#include "interruptible.hpp"
#include "tda/distances.hpp"

namespace tda::py {
namespace {

using DiagramArray = pybind11::array_t<double, pybind11::array::c_style | pybind11::array::forcecast>;

// Diagrams this small are compared in well under a millisecond: no worker thread.
constexpr std::size_t kInlinePoints = 256;

// The counters of the last wasserstein call made from this Python thread. The
// core keeps them thread-local on the thread that computed, which for a large
// input is the interruptible worker, so they are copied here before it ends.
thread_local distances::AuctionStats t_last_stats;

std::span<const distances::Point> as_points(const DiagramArray& dgm, const char* name) {
  if (dgm.ndim() != 2 || dgm.shape(1) != 2)
    throw pybind11::value_error(std::string(name) + ": must have shape (n, 2)");
  static_assert(sizeof(distances::Point) == 2 * sizeof(double));
  return {reinterpret_cast<const distances::Point*>(dgm.data()), static_cast<std::size_t>(dgm.shape(0))};
}

bool small(std::span<const distances::Point> a, std::span<const distances::Point> b) {
  return a.size() + b.size() <= kInlinePoints;
}

double bottleneck(const DiagramArray& d1, const DiagramArray& d2, double delta) {
  const auto a = as_points(d1, "d1");
  const auto b = as_points(d2, "d2");
  return run_interruptible([&](const CancelFlag* cancel) { return distances::bottleneck(a, b, delta, cancel); },
                           small(a, b));
}

double wasserstein(const DiagramArray& d1, const DiagramArray& d2, double p, double delta, double internal_p) {
  const auto a = as_points(d1, "d1");
  const auto b = as_points(d2, "d2");
  distances::AuctionStats stats;
  const double value = run_interruptible(
      [&](const CancelFlag* cancel) {
        const double w = distances::wasserstein(a, b, p, delta, cancel, nullptr, internal_p);
        stats = distances::last_wasserstein_stats();
        return w;
      },
      small(a, b));
  t_last_stats = stats;
  return value;
}

// Runs distance(a, b, cancel, &matching); returns the distance and the matching as
// an (k, 2) int64 array (-1: the diagonal).
template <class Distance>
pybind11::tuple with_matching(const DiagramArray& d1, const DiagramArray& d2, Distance&& distance) {
  const auto a = as_points(d1, "d1");
  const auto b = as_points(d2, "d2");
  distances::Matching matching;
  const double value = run_interruptible(
      [&](const CancelFlag* cancel) { return distance(a, b, cancel, &matching); }, small(a, b));
  pybind11::array_t<std::int64_t> pairs({static_cast<pybind11::ssize_t>(matching.size()), pybind11::ssize_t{2}});
  auto m = pairs.mutable_unchecked<2>();
  for (std::size_t k = 0; k < matching.size(); ++k) {
    m(k, 0) = matching[k].first;
    m(k, 1) = matching[k].second;
  }
  return pybind11::make_tuple(value, pairs);
}

pybind11::tuple bottleneck_matching(const DiagramArray& d1, const DiagramArray& d2) {
  return with_matching(d1, d2, [](auto a, auto b, const CancelFlag* cancel, distances::Matching* matching) {
    return distances::bottleneck(a, b, 0.0, cancel, matching);
  });
}

pybind11::tuple wasserstein_matching(const DiagramArray& d1, const DiagramArray& d2, double p, double internal_p) {
  return with_matching(d1, d2, [&](auto a, auto b, const CancelFlag* cancel, distances::Matching* matching) {
    return distances::wasserstein(a, b, p, 0.0, cancel, matching, internal_p);
  });
}

}  // namespace

void bind_distances(pybind11::module_& m) {
  namespace py = pybind11;
  const double inf = std::numeric_limits<double>::infinity();
  m.def("bottleneck", &bottleneck, py::arg("d1"), py::arg("d2"), py::arg("delta") = 0.0,
        "Bottleneck distance (L-infinity ground metric) between two (n, 2) diagrams.");
  m.def("bottleneck_matching", &bottleneck_matching, py::arg("d1"), py::arg("d2"),
        "Exact bottleneck distance and an optimal matching ((k, 2) indices, -1 = diagonal).");
  m.def("wasserstein", &wasserstein, py::arg("d1"), py::arg("d2"), py::arg("p") = 1.0, py::arg("delta") = 0.01,
        py::arg("internal_p") = inf,
        "p-Wasserstein distance (L_internal_p ground metric) between two (n, 2) diagrams.");
  m.def("wasserstein_matching", &wasserstein_matching, py::arg("d1"), py::arg("d2"), py::arg("p") = 1.0,
        py::arg("internal_p") = inf,
        "Exact p-Wasserstein distance and an optimal matching ((k, 2) indices, -1 = diagonal).");
  m.def(
      "wasserstein_stats",
      []() {
        const auto s = t_last_stats;
        py::dict d;
        d["bids"] = s.bids;
        d["phases"] = s.phases;
        d["exact"] = s.exact;
        return d;
      },
      "Counters of the last wasserstein call made from this thread.");
}

}  // namespace tda::py
