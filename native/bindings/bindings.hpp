// Registration functions, one per area of the core; module.cpp calls them all.
#pragma once
#include <pybind11/pybind11.h>

namespace tda::py {
void bind_rips(pybind11::module_& m);
void bind_cubical(pybind11::module_& m);
void bind_distances(pybind11::module_& m);
}  // namespace tda::py
