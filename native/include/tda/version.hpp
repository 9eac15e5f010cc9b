#pragma once
#include <string_view>

namespace tda {
std::string_view core_name() noexcept;
}  // namespace tda
