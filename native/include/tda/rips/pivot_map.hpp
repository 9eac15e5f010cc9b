// Map from pivot simplex to the column that owns it (open addressing).
//
// Pivots of a coboundary matrix are sparse in the huge index space of
// (d+1)-simplices, so a flat array is out of the question; linear probing over
// 16-byte slots keeps a lookup at about one cache line.
#pragma once
#include <cstdint>
#include <vector>

#include "tda/rips/types.hpp"

namespace tda::rips {

class PivotMap {
 public:
  struct Slot {
    SimplexIndex key = kNoSimplex;
    std::uint32_t column = 0;      // position of the owning column in its reduction order
    Coefficient coefficient = 0;   // the pivot's coefficient in that reduced column
  };

  explicit PivotMap(std::size_t expected = 0) { rehash(capacity_for(expected)); }

  const Slot* find(SimplexIndex key) const noexcept {
    for (std::size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s;
      if (s.key == kNoSimplex) return nullptr;
    }
  }
  bool contains(SimplexIndex key) const noexcept { return find(key) != nullptr; }

  // Keys are inserted once (a pivot has a single owner in a reduction).
  void insert(SimplexIndex key, std::uint32_t column, Coefficient coefficient) {
    if (2 * (size_ + 1) > slots_.size()) rehash(slots_.size() * 2);
    place({key, column, coefficient});
    ++size_;
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t bytes() const noexcept { return slots_.size() * sizeof(Slot); }

 private:
  static std::size_t capacity_for(std::size_t n) {
    std::size_t c = 16;
    while (c < 2 * n) c *= 2;
    return c;
  }
  static std::size_t hash(SimplexIndex key) noexcept {
    std::uint64_t x = std::uint64_t(key);  // a 64-bit finaliser mixes the structured ranks
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return std::size_t(x);
  }
  void place(const Slot& slot) noexcept {
    std::size_t i = hash(slot.key) & mask_;
    while (slots_[i].key != kNoSimplex) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
  void rehash(std::size_t capacity) {
    std::vector<Slot> old(capacity);
    old.swap(slots_);
    mask_ = capacity - 1;
    for (const Slot& s : old)
      if (s.key != kNoSimplex) place(s);
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace tda::rips
