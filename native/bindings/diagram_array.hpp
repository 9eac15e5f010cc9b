// Conversion of a C++ list of intervals to an (n, 2) float64 numpy array.
#pragma once
#include <pybind11/numpy.h>

#include <vector>

namespace tda::py {

template <class IntervalT>
pybind11::array_t<double> intervals_to_array(const std::vector<IntervalT>& intervals) {
  pybind11::array_t<double> out({static_cast<pybind11::ssize_t>(intervals.size()), pybind11::ssize_t{2}});
  auto m = out.template mutable_unchecked<2>();
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    m(pybind11::ssize_t(i), 0) = intervals[i].birth;
    m(pybind11::ssize_t(i), 1) = intervals[i].death;
  }
  return out;
}

// The entries each interval's values come from, as an (n, 2) int64 array.
template <class LocationT>
pybind11::array_t<std::int64_t> interval_entries(const std::vector<LocationT>& intervals) {
  pybind11::array_t<std::int64_t> out({static_cast<pybind11::ssize_t>(intervals.size()), pybind11::ssize_t{2}});
  auto m = out.template mutable_unchecked<2>();
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    m(pybind11::ssize_t(i), 0) = intervals[i].birth_entry;
    m(pybind11::ssize_t(i), 1) = intervals[i].death_entry;
  }
  return out;
}

}  // namespace tda::py
