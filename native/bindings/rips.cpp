#include "bindings.hpp"

namespace tda::py {
void bind_rips(pybind11::module_& /*m*/) {}
}  // namespace tda::py
