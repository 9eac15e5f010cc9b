// Arithmetic in the prime field Z/p.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "tda/rips/types.hpp"

namespace tda::rips {

constexpr bool is_prime(std::uint64_t p) noexcept {
  if (p < 2) return false;
  for (std::uint64_t d = 2; d * d <= p; ++d)
    if (p % d == 0) return false;
  return true;
}

class PrimeField {
 public:
  // Inverses are tabulated for small p (the common case, and the hot loop);
  // larger p fall back to Fermat's little theorem.
  static constexpr Coefficient kTableLimit = 1u << 16;

  explicit PrimeField(Coefficient p) : p_(p) {
    if (!is_prime(p)) throw std::invalid_argument("coefficient modulus must be prime");
    if (p < kTableLimit) {
      inverse_.assign(p, 0);
      if (p > 1) inverse_[1] = 1;
      // a^{-1} = -(p / a) * (p mod a)^{-1}  (mod p), from p = (p/a)*a + p mod a.
      for (Coefficient a = 2; a < p; ++a)
        inverse_[a] = Coefficient((p - std::uint64_t(p / a) * inverse_[p % a] % p) % p);
    }
  }

  Coefficient modulus() const noexcept { return p_; }
  Coefficient add(Coefficient a, Coefficient b) const noexcept { return Coefficient((std::uint64_t(a) + b) % p_); }
  Coefficient mul(Coefficient a, Coefficient b) const noexcept { return Coefficient(std::uint64_t(a) * b % p_); }
  Coefficient neg(Coefficient a) const noexcept { return a == 0 ? 0 : p_ - a; }
  Coefficient inverse(Coefficient a) const noexcept {
    if (!inverse_.empty()) return inverse_[a];
    return power(a, p_ - 2);
  }
  // (-1)^k as a field element.
  Coefficient sign(int k) const noexcept { return (k & 1) ? p_ - 1 : 1 % p_; }

 private:
  Coefficient power(Coefficient a, Coefficient e) const noexcept {
    std::uint64_t result = 1, base = a;
    while (e) {
      if (e & 1) result = result * base % p_;
      base = base * base % p_;
      e >>= 1;
    }
    return Coefficient(result);
  }
  Coefficient p_;
  std::vector<Coefficient> inverse_;
};

}  // namespace tda::rips
