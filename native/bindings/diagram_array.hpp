// Conversion of a C++ list of pairs (intervals, their locations) to an (n, 2) numpy array.
#pragma once
#include <pybind11/numpy.h>

#include <vector>

namespace tda::py {

// Row i holds items[i].*first and items[i].*second, converted to Out.
template <class Out, class Item, class Field>
pybind11::array_t<Out> two_columns(const std::vector<Item>& items, Field Item::*first, Field Item::*second) {
  pybind11::array_t<Out> out({static_cast<pybind11::ssize_t>(items.size()), pybind11::ssize_t{2}});
  auto m = out.template mutable_unchecked<2>();
  for (std::size_t i = 0; i < items.size(); ++i) {
    m(pybind11::ssize_t(i), 0) = Out(items[i].*first);
    m(pybind11::ssize_t(i), 1) = Out(items[i].*second);
  }
  return out;
}

}  // namespace tda::py
