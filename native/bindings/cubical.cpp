#include "bindings.hpp"

namespace tda::py {
void bind_cubical(pybind11::module_& /*m*/) {}
}  // namespace tda::py
