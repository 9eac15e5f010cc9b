// Persistent homology of cubical complexes built on 1-D .. 4-D grids.
//
// Two filtrations of the same grid are supported:
//   * Vertex ("V", lower-star): array entries are the vertices of the complex and
//     every cube takes the maximum of its vertices.
//   * Top   ("T"): array entries are the top-dimensional cubes and every face
//     takes the minimum of the top cubes containing it.
// Coefficients are in Z/p (default Z/2); only the reduction of the middle dimensions
// depends on p (dimension 0 and, by Alexander duality, dimension d-1 do not). The diagram of dimension k lists (birth, death) pairs
// with death > birth; essential classes die at +inf: one in dimension 0 for a box, and the
// classes of a torus (C(m, k) in dimension k for m periodic axes) when axes are periodic.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tda/cancel.hpp"

namespace tda::cubical {

enum class Construction { Vertex, Top };

struct Interval {
  double birth;
  double death;
};

using Diagram = std::vector<Interval>;
using Diagrams = std::vector<Diagram>;  // index = homology dimension

// Where a pair's values come from: the flat (C-order) index of an input entry that gives
// the birth / death cell its value (V: one of its vertices, T: one of the top cubes
// containing it) -- GUDHI's vertices / cofaces of persistence pairs; death -1 for an
// essential class. Parallel to a Diagram.
struct Location {
  std::int64_t birth_entry;
  std::int64_t death_entry;
};
using Locations = std::vector<std::vector<Location>>;

inline constexpr std::size_t kMaxGridDim = 4;

using Coefficient = std::uint32_t;  // a prime p: homology with coefficients in Z/p

// values: row-major (C order) array of the given shape (1 <= shape.size() <= 4,
// every extent >= 1, no NaN). periodic: empty (no periodic axis) or one flag per axis of
// shape; along a periodic axis the last cell is adjacent to the first (GUDHI's
// PeriodicCubicalComplex: an axis of n entries has 2n cells, the grid is a torus along it).
// Returns max_dim + 1 diagrams (dimension 0 first); dimensions above the grid dimension
// are empty, and so is the grid dimension itself unless every axis is periodic. With
// n_threads >= 2, dimension 0 runs concurrently with the higher dimensions. Throws
// std::invalid_argument on bad input, tda::Cancelled once *cancel is set. With locations,
// *locations receives the pairs' Locations, parallel to the diagrams.
Diagrams persistence(std::span<const double> values, std::span<const std::size_t> shape,
                     Construction construction, int max_dim, int n_threads = 1,
                     const CancelFlag* cancel = nullptr, Coefficient modulus = 2,
                     std::span<const bool> periodic = {}, Locations* locations = nullptr);

namespace detail {
// The same computation with 64-bit cell indices whatever the size (persistence()
// switches to them from 2^32 - 1 cells on): lets tests check the wide engine on
// arrays that fit in memory.
Diagrams persistence_wide(std::span<const double> values, std::span<const std::size_t> shape,
                          Construction construction, int max_dim, int n_threads = 1,
                          const CancelFlag* cancel = nullptr, Coefficient modulus = 2,
                          std::span<const bool> periodic = {}, Locations* locations = nullptr);
}  // namespace detail

}  // namespace tda::cubical
