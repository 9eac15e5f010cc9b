// Binding of the diagram distances: (n, 2) float64 arrays in, a float out; GIL released.
#include <pybind11/numpy.h>

#include <span>
#include <string>

#include "bindings.hpp"
#include "tda/distances.hpp"

namespace tda::py {
namespace {

using DiagramArray = pybind11::array_t<double, pybind11::array::c_style | pybind11::array::forcecast>;

std::span<const distances::Point> as_points(const DiagramArray& dgm, const char* name) {
  if (dgm.ndim() != 2 || dgm.shape(1) != 2)
    throw pybind11::value_error(std::string(name) + ": must have shape (n, 2)");
  static_assert(sizeof(distances::Point) == 2 * sizeof(double));
  return {reinterpret_cast<const distances::Point*>(dgm.data()), static_cast<std::size_t>(dgm.shape(0))};
}

double bottleneck(const DiagramArray& d1, const DiagramArray& d2, double delta) {
  const auto a = as_points(d1, "d1");
  const auto b = as_points(d2, "d2");
  pybind11::gil_scoped_release release;
  return distances::bottleneck(a, b, delta);
}

double wasserstein(const DiagramArray& d1, const DiagramArray& d2, double p, double delta) {
  const auto a = as_points(d1, "d1");
  const auto b = as_points(d2, "d2");
  pybind11::gil_scoped_release release;
  return distances::wasserstein(a, b, p, delta);
}

}  // namespace

void bind_distances(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("bottleneck", &bottleneck, py::arg("d1"), py::arg("d2"), py::arg("delta") = 0.0,
        "Bottleneck distance (L-infinity ground metric) between two (n, 2) diagrams.");
  m.def("wasserstein", &wasserstein, py::arg("d1"), py::arg("d2"), py::arg("p") = 1.0, py::arg("delta") = 0.01,
        "p-Wasserstein distance (L-infinity ground metric) between two (n, 2) diagrams.");
  m.def(
      "wasserstein_stats",
      []() {
        const auto s = distances::last_wasserstein_stats();
        py::dict d;
        d["bids"] = s.bids;
        d["phases"] = s.phases;
        d["exact"] = s.exact;
        return d;
      },
      "Counters of the last wasserstein call on this thread.");
}

}  // namespace tda::py
