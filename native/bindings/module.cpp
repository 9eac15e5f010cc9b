#include "bindings.hpp"

#ifndef TDA_VERSION
#define TDA_VERSION "0.0.0"
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "TDA Platform C++ core: persistent homology and diagram tools";
  m.attr("__version__") = TDA_VERSION;
  tda::py::bind_rips(m);
  tda::py::bind_cubical(m);
  tda::py::bind_distances(m);
}
