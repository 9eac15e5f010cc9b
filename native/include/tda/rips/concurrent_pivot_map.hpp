// Pivot ownership shared by reduction threads, lock-free.
//
// Keys are claimed once by compare-and-swap and never removed; the owner of a
// key changes by compare-and-swap only (Morozov & Nigmetov's scheme: a column
// earlier in the reduction order may take a pivot from a later one).
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "tda/rips/types.hpp"

namespace tda::rips {

class ConcurrentPivotMap {
 public:
  static constexpr std::uint64_t kUnowned = ~std::uint64_t(0);

  struct Slot {
    std::atomic<SimplexIndex> key{kNoSimplex};
    std::atomic<std::uint64_t> owner{kUnowned};  // (column << 32) | pivot coefficient
  };

  static std::uint64_t pack(std::uint32_t column, Coefficient coefficient) noexcept {
    return (std::uint64_t(column) << 32) | coefficient;
  }
  static std::uint32_t column_of(std::uint64_t owner) noexcept { return std::uint32_t(owner >> 32); }
  static Coefficient coefficient_of(std::uint64_t owner) noexcept { return Coefficient(owner & 0xffffffffu); }

  // Room for `max_keys` distinct keys at load <= 1/2; there is no resizing.
  explicit ConcurrentPivotMap(std::size_t max_keys) {
    std::size_t c = 16;
    while (c < 2 * max_keys + 2) c *= 2;
    slots_ = std::vector<Slot>(c);
    mask_ = c - 1;
  }

  Slot* find(SimplexIndex key) noexcept {
    for (std::size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const SimplexIndex k = slots_[i].key.load(std::memory_order_acquire);
      if (k == key) return &slots_[i];
      if (k == kNoSimplex) return nullptr;
    }
  }

  std::uint64_t owner(SimplexIndex key) noexcept {
    const Slot* s = find(key);
    return s ? s->owner.load(std::memory_order_acquire) : kUnowned;
  }

  Slot& find_or_claim(SimplexIndex key) noexcept {
    for (std::size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      SimplexIndex k = slots_[i].key.load(std::memory_order_acquire);
      if (k == kNoSimplex &&
          slots_[i].key.compare_exchange_strong(k, key, std::memory_order_acq_rel, std::memory_order_acquire))
        return slots_[i];
      if (k == key) return slots_[i];
    }
  }

 private:
  static std::size_t hash(SimplexIndex key) noexcept {
    std::uint64_t x = std::uint64_t(key);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return std::size_t(x);
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

}  // namespace tda::rips
