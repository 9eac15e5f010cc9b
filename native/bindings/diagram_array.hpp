// Conversion of a C++ list of intervals to an (n, 2) float64 numpy array.
#pragma once
#include <pybind11/numpy.h>

#include <cstring>
#include <vector>

namespace tda::py {

template <class IntervalT>
pybind11::array_t<double> intervals_to_array(const std::vector<IntervalT>& intervals) {
  static_assert(sizeof(IntervalT) == 2 * sizeof(double));
  pybind11::array_t<double> out({static_cast<pybind11::ssize_t>(intervals.size()), pybind11::ssize_t{2}});
  if (!intervals.empty()) std::memcpy(out.mutable_data(), intervals.data(), intervals.size() * sizeof(IntervalT));
  return out;
}

}  // namespace tda::py
