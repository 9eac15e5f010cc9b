#include "tda/version.hpp"

namespace tda {
std::string_view core_name() noexcept { return "tda_core"; }
}  // namespace tda
