// Binding of the cubical persistence engine: converts the array, releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "diagram_array.hpp"
#include "interruptible.hpp"
#include "tda/cubical.hpp"

namespace py = pybind11;

namespace tda::py {
namespace {

// Arrays this small take well under a millisecond: no worker thread for them.
constexpr std::size_t kInlineValues = 4096;

cubical::Construction parse_construction(const std::string& name) {
  if (name == "V") return cubical::Construction::Vertex;
  if (name == "T") return cubical::Construction::Top;
  throw pybind11::value_error("construction: must be \"V\" (pixels as vertices) or \"T\" (pixels as top cells), got \"" +
                              name + "\"");
}

pybind11::object cubical_persistence(const pybind11::array_t<double, pybind11::array::c_style | pybind11::array::forcecast>& array,
                                     int max_dim, const std::string& construction, int n_threads,
                                     std::uint32_t coeff, const std::vector<bool>& periodic, bool locations) {
  const auto kind = parse_construction(construction);
  std::vector<std::size_t> shape(array.shape(), array.shape() + array.ndim());
  std::span<const double> values(array.data(), static_cast<std::size_t>(array.size()));
  if (periodic.size() > cubical::kMaxGridDim)
    throw pybind11::value_error("periodic: give one flag per axis of the array (at most 4)");
  std::array<bool, cubical::kMaxGridDim> flags{};  // std::vector<bool> has no contiguous storage
  std::copy(periodic.begin(), periodic.end(), flags.begin());
  const std::span<const bool> wraps(flags.data(), periodic.size());
  cubical::Locations located;
  const cubical::Diagrams diagrams = run_interruptible(
      [&](const CancelFlag* cancel) {
        return cubical::persistence(values, shape, kind, max_dim, n_threads, cancel, coeff, wraps,
                                    locations ? &located : nullptr);
      },
      values.size() <= kInlineValues);
  pybind11::list out, entries;
  for (const auto& dgm : diagrams) out.append(two_columns<double>(dgm, &cubical::Interval::birth, &cubical::Interval::death));
  if (!locations) return out;
  for (const auto& where : located)
    entries.append(two_columns<std::int64_t>(where, &cubical::Location::birth_entry, &cubical::Location::death_entry));
  return pybind11::make_tuple(out, entries);
}

}  // namespace

void bind_cubical(pybind11::module_& m) {
  m.def("cubical_persistence", &cubical_persistence, pybind11::arg("array"), pybind11::arg("max_dim"),
        pybind11::arg("construction") = "V", pybind11::arg("n_threads") = 1, pybind11::arg("coeff") = 2,
        pybind11::arg("periodic") = std::vector<bool>{}, pybind11::arg("locations") = false,
        "Persistence diagrams of the cubical filtration of a 1-D..4-D float64 array (no validation "
        "beyond the engine's; use tda_core.cubical_persistence); with locations, (diagrams, entries).");
}

}  // namespace tda::py
