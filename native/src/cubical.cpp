// Cubical persistence on an implicit grid.
//
// Cells live in the Khalimsky grid: a cube of the complex has one coordinate per
// axis, odd where the cube extends along that axis and even where it is
// degenerate, so its dimension is the number of odd coordinates and its facets
// are the cells one step away along an odd axis. Nothing but per-cell filtration
// ranks and one link array is stored. A periodic axis of n entries has 2n cells and
// its steps wrap around (GUDHI's periodic cubical complex); that is all the engine
// knows of periodicity, except that a torus has essential classes in every dimension
// (zero columns, loops of the union-find, the last top cube), which it reports.
//
// The filtration is totally ordered by key = (rank of value, linear index), with
// faces before cofaces on ties (a face never has a larger value and has a smaller
// dimension). The diagram is computed as in Kaji, Sudo, Ahara (CubicalRipser):
//   * dimension 0: union-find over the edges in increasing order (elder rule);
//   * dimension d-1: union-find over the top cubes in decreasing order, with the
//     outside of the grid as an extra node (Alexander duality): merging two dual
//     components at a (d-1)-cell kills the younger one, the class born at that
//     cell dies at the component's latest cube;
//   * dimensions 1 .. d-2: reduction of the boundary matrix in increasing order,
//     top-down with clearing (Chen, Kerber: a cell that is the birth of a pair one
//     dimension up has a zero column and is skipped).
#include "tda/cubical.hpp"

#include "tda/rips/field.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <optional>
#include <queue>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

namespace tda::cubical {
namespace {

using rips::PrimeField;

// Bit a (a < kAxes): the cell extends along axis a. Bit kAxes + a: it also closes the
// loop of periodic axis a (last coordinate), so its upper facet along a is at coordinate 0.
using AxisMask = std::uint8_t;
constexpr int kAxes = static_cast<int>(kMaxGridDim);
constexpr AxisMask kExtentBits = (1u << kAxes) - 1;

// Integer widths of the engine. Grids with fewer than 2^32 - 1 cells use 32-bit cell
// indices and value ranks (8 bytes of working memory per cell); larger ones 64-bit
// (16 bytes per cell). A key (rank << bits) | index orders the cells of one dimension.
// Grids with periodic axes get their own instantiation (Periodic), so that the others
// run the plain steps, without a test for the seam.
template <class IndexT, bool Periodic = false>
struct Width {
  static constexpr bool kPeriodic = Periodic;
  using Index = IndexT;  // linear index of a cell in the Khalimsky grid
  using Rank = IndexT;   // position of a cell's value among the distinct input values
  using Key = std::conditional_t<sizeof(IndexT) == 4, std::uint64_t, unsigned __int128>;
  static constexpr int kIndexBits = 8 * sizeof(IndexT);
  static constexpr Index kNone = std::numeric_limits<Index>::max();
  static constexpr Key kInfiniteKey = ~Key(0);
};
using Narrow = Width<std::uint32_t>;
using Wide = Width<std::uint64_t>;

// Cells along an axis of n entries: vertices and edges alternate, ending with an edge
// back to the first vertex (periodic) or with a vertex at both ends (V: the first and
// last entries, T: the outer faces of the end cubes).
std::uint64_t axis_cells(std::uint64_t n, Construction construction, bool periodic) {
  if (periodic) return 2 * n;
  return construction == Construction::Vertex ? 2 * n - 1 : 2 * n + 1;
}

// The grid is padded with leading axes of extent 1 so loops are always 4-deep.
template <class W>
class CellGrid {
 public:
  using Index = typename W::Index;
  static constexpr Index kNone = W::kNone;

  CellGrid(std::span<const std::size_t> shape, Construction construction, std::span<const bool> periodic_axes)
      : construction_(construction) {
    dim_ = static_cast<int>(shape.size());
    const int pad = kAxes - dim_;
    unsigned __int128 total = 1;
    for (int a = 0; a < kAxes; ++a) {
      const std::uint64_t n = a < pad ? 1 : shape[a - pad];
      const bool wraps = a >= pad && !periodic_axes.empty() && periodic_axes[a - pad];
      if (wraps) periodic_ |= AxisMask(1u << a);
      const std::uint64_t ext = a < pad ? 1 : axis_cells(n, construction, wraps);
      extent_[a] = static_cast<Index>(ext);
      total *= ext;
      if (total >= kNone) throw std::invalid_argument("array: too many cells for the cubical engine");
    }
    size_ = static_cast<Index>(total);
    stride_[kAxes - 1] = 1;
    for (int a = kAxes - 2; a >= 0; --a) stride_[a] = stride_[a + 1] * extent_[a + 1];
    for (int a = 0; a < kAxes; ++a) {
      span_[a] = stride_[a] * extent_[a];
      // One entry along a periodic axis: the cell along it is a loop on one face, whose two
      // facets cancel (upper - lower = 0 in any field).
      if ((periodic_ >> a & 1) && extent_[a] == 2) loops_ |= AxisMask(1u << a);
    }
  }

  int dim() const { return dim_; }
  Index size() const { return size_; }
  Index extent(int a) const { return extent_[a]; }
  Index stride(int a) const { return stride_[a]; }
  bool vertex_construction() const { return construction_ == Construction::Vertex; }
  bool periodic(int a) const { return W::kPeriodic && (periodic_ >> a & 1); }
  bool all_periodic() const {
    return W::kPeriodic && periodic_ == AxisMask(kExtentBits & ~((1u << (kAxes - dim_)) - 1));
  }

  // The cell one step above / below idx along axis a; seam: the step crosses the seam of
  // a periodic axis (from its last coordinate to its first, or back).
  Index above(Index idx, int a, bool seam) const { return idx + stride_[a] - (seam ? span_[a] : 0); }
  Index below(Index idx, int a, bool seam) const { return idx - stride_[a] + (seam ? span_[a] : 0); }
  bool seam_above(int a, Index ca) const { return periodic(a) && ca + 1 == extent_[a]; }  // ca: coordinate along a

  // The axes along which a cell with this AxisMask has two distinct facets, f - stride
  // and the upper one: all it extends along but loops (a periodic axis of one entry,
  // whose two facets coincide and cancel: upper - lower = 0 in any field).
  AxisMask facet_axes(AxisMask axes) const { return W::kPeriodic ? axes & kExtentBits & ~loops_ : axes; }
  Index upper_facet(Index cell, int a, AxisMask axes) const {
    return above(cell, a, W::kPeriodic && (axes >> (kAxes + a) & 1));
  }

  // Visits the cells of dimension k in increasing linear index: f(index, coords).
  template <class F>
  void for_each_cell(int k, F&& f) const {
    std::array<Index, kAxes> c{};
    for (c[0] = 0; c[0] < extent_[0]; ++c[0]) {
      const int o0 = c[0] & 1;
      for (c[1] = 0; c[1] < extent_[1]; ++c[1]) {
        const int o1 = o0 + (c[1] & 1);
        for (c[2] = 0; c[2] < extent_[2]; ++c[2]) {
          const int need = k - o1 - static_cast<int>(c[2] & 1);
          if (need != 0 && need != 1) continue;
          const Index base = c[0] * stride_[0] + c[1] * stride_[1] + c[2] * stride_[2];
          for (c[3] = static_cast<Index>(need); c[3] < extent_[3]; c[3] += 2) f(base + c[3], c);
        }
      }
    }
  }

  // The AxisMask of the cell at coordinates c.
  AxisMask cell_axes(const std::array<Index, kAxes>& c) const {
    AxisMask m = 0;
    for (int a = 0; a < kAxes; ++a)
      if (c[a] & 1) m |= AxisMask(1u << a);
    if constexpr (W::kPeriodic)
      for (int a = 0; a < kAxes; ++a)
        if (seam_above(a, c[a])) m |= AxisMask(1u << (kAxes + a));
    return m;
  }

  // The same from the linear index. Slow path only.
  AxisMask cell_axes(Index idx) const {
    std::array<Index, kAxes> c{};
    for (int a = 0; a < kAxes; ++a) c[a] = (idx / stride_[a]) % extent_[a];
    return cell_axes(c);
  }

 private:
  Construction construction_;
  int dim_ = 0;
  std::array<Index, kAxes> extent_{};
  std::array<Index, kAxes> stride_{};
  std::array<Index, kAxes> span_{};  // stride * extent: one turn around an axis
  AxisMask periodic_ = 0;
  AxisMask loops_ = 0;
  Index size_ = 0;
};

// Cells of one dimension in filtration order, with their odd-axis masks.
template <class W>
struct SortedCells {
  using Index = typename W::Index;
  std::vector<Index> index;
  std::vector<AxisMask> axes;
};

// A boundary column to reduce and its largest facet (its pivot unless reduced).
template <class W>
struct ColumnHead {
  using Index = typename W::Index;
  Index cell;
  Index largest_facet;
};

template <class W>
class CubicalPersistence {
  using Index = typename W::Index;
  // One dimension's intervals and, when locations are asked for, their (birth, death) cells.
  struct Pairs {
    Diagram intervals;
    std::vector<std::array<Index, 2>> cells;
    bool keep_cells = false;
  };
  using Rank = typename W::Rank;
  using Key = typename W::Key;
  static constexpr Index kNone = W::kNone;
  static constexpr Key kInfiniteKey = W::kInfiniteKey;
  using Grid = CellGrid<W>;
  using Sorted = SortedCells<W>;
  using Head = ColumnHead<W>;

 public:
  CubicalPersistence(std::span<const double> values, std::span<const std::size_t> shape,
                     Construction construction, std::span<const bool> periodic, const CancelFlag* cancel)
      : grid_(shape, construction, periodic), values_(values), cancel_(cancel) {
    const int pad = kAxes - grid_.dim();
    for (int a = kAxes - 1, stride = 1; a >= 0; --a) {
      input_stride_[a] = stride;
      if (a >= pad) stride *= std::int64_t(shape[a - pad]);
    }
    rank_values(values);
    fill_cell_ranks(shape);
  }

  // Dimension 0 touches only vertices and edges' ranks, the others never a vertex's
  // link, so the two parts may run on two threads. Every dimension up to d is computed
  // (clearing needs the one above); those above max_dim are dropped at the end.
  Diagrams run(int max_dim, int n_threads, Coefficient modulus, Locations* locations) {
    const int d = grid_.dim();
    std::vector<Pairs> out(static_cast<std::size_t>(std::max(max_dim, d)) + 1);
    for (Pairs& pairs : out) pairs.keep_cells = locations != nullptr;
    link_.assign(static_cast<std::size_t>(grid_.size()) + 1, kNone);
    const bool higher = max_dim >= 1 && d >= 2;
    // Edges closing a loop in dimension 0 give birth to 1-classes; on a torus some are
    // never killed, which only shows once the higher dimensions have paired the others.
    std::vector<Index> loops;
    std::vector<Index>* keep_loops = W::kPeriodic && max_dim >= 1 ? &loops : nullptr;
    std::exception_ptr worker_error;
    std::jthread worker;  // joins on every exit path
    if (higher && n_threads >= 2) {
      worker = std::jthread([&] {
        try {
          dimension_zero(out[0], keep_loops);
        } catch (...) {
          worker_error = std::current_exception();
        }
      });
    } else {
      dimension_zero(out[0], keep_loops);
    }
    if (higher) {
      dual_top(out[d - 1], out[d]);
      std::optional<PrimeField> field;
      if (modulus != 2) field.emplace(modulus);
      for (int k = d - 2; k >= 1; --k) {
        if (field)
          reduce_field(k, out[k], out[k + 1], *field);
        else
          reduce(k, out[k], out[k + 1]);
      }
    }
    if (worker.joinable()) worker.join();
    if (worker_error) std::rethrow_exception(worker_error);
    for (Index e : loops)
      if (link_[e] == kNone) essential(out[1], e);  // no 2-cell made it a pivot
    out.resize(static_cast<std::size_t>(max_dim) + 1);
    Diagrams diagrams;
    if (locations) locations->clear();
    for (Pairs& pairs : out) {
      diagrams.push_back(std::move(pairs.intervals));
      if (!locations) continue;
      auto& located = locations->emplace_back();
      for (const auto& [birth, death] : pairs.cells)
        located.push_back({source_entry(birth), death == kNone ? -1 : source_entry(death)});
    }
    return diagrams;
  }

 private:
  Key key(Index idx) const { return (Key(rank_[idx]) << W::kIndexBits) | idx; }
  double level(Rank r) const { return values_[level_source_[r]] + 0.0; }  // -0.0 -> +0.0
  double value(Index idx) const { return level(rank_[idx]); }

  // Inlined by hand: called once per pair in the hot loops, where a call costs ~5% of dimension 0.
  [[gnu::always_inline]] void emit(Pairs& dgm, Index birth_cell, Index death_cell) const {
    if (rank_[birth_cell] == rank_[death_cell]) return;
    dgm.intervals.push_back({value(birth_cell), value(death_cell)});
    if (dgm.keep_cells) dgm.cells.push_back({birth_cell, death_cell});
  }
  void essential(Pairs& dgm, Index birth_cell) const {
    dgm.intervals.push_back({value(birth_cell), std::numeric_limits<double>::infinity()});
    if (dgm.keep_cells) dgm.cells.push_back({birth_cell, kNone});
  }

  // The input entry a cell takes its value from: among those it is built from (V: its
  // vertices, T: the top cubes containing it), the first with the cell's value.
  std::int64_t source_entry(Index cell) const {
    const bool vc = grid_.vertex_construction();
    const int pad = kAxes - grid_.dim();
    std::array<Index, kAxes> lower{}, upper{};  // the candidates' grid coordinates per axis
    for (int a = 0; a < kAxes; ++a) {
      const Index extent = grid_.extent(a), c = (cell / grid_.stride(a)) % extent;
      if (a < pad || (c % 2 == 0) == vc) {  // the cell lies on input positions along a
        lower[a] = upper[a] = c;
        continue;
      }
      const bool wraps = grid_.periodic(a), has_lower = c > 0 || wraps, has_upper = c + 1 < extent || wraps;
      lower[a] = has_lower ? (c > 0 ? c - 1 : extent - 1) : c + 1;
      upper[a] = has_upper ? (c + 1 < extent ? c + 1 : 0) : c - 1;
    }
    for (unsigned pick = 0; pick < (1u << kAxes); ++pick) {
      Index at = 0;
      std::int64_t entry = 0;
      for (int a = 0; a < kAxes; ++a) {
        const Index g = (pick >> a & 1) ? upper[a] : lower[a];
        at += g * grid_.stride(a);
        if (a >= pad) entry += std::int64_t(vc ? g / 2 : (g - 1) / 2) * input_stride_[a];
      }
      if (rank_[at] == rank_[cell]) return entry;
    }
    return std::int64_t(level_source_[rank_[cell]]);  // unreachable: a cell's value is one of its sources'
  }

  // Distinct input values in increasing order, and the rank of every input entry.
  // LSD radix sort on the order-preserving integer image of the doubles.
  void rank_values(std::span<const double> values) {
    const std::size_t n = values.size();
    std::vector<std::uint64_t> bits(n), bits_tmp(n);
    std::vector<Index> order(n), order_tmp(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t b = std::bit_cast<std::uint64_t>(values[i] + 0.0);  // -0.0 -> +0.0
      bits[i] = (b >> 63) ? ~b : b | (std::uint64_t{1} << 63);
      order[i] = static_cast<Index>(i);
    }
    constexpr int kDigitBits = 16;
    std::vector<std::size_t> count(std::size_t{1} << kDigitBits);
    for (int shift = 0; shift < 64; shift += kDigitBits) {
      check_cancel(cancel_);
      std::fill(count.begin(), count.end(), 0);
      for (std::uint64_t b : bits) ++count[(b >> shift) & 0xffff];
      if (count[(bits[0] >> shift) & 0xffff] == n) continue;  // digit constant: pass is a no-op
      std::size_t sum = 0;
      for (auto& c : count) sum += std::exchange(c, sum);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t pos = count[(bits[i] >> shift) & 0xffff]++;
        bits_tmp[pos] = bits[i];
        order_tmp[pos] = order[i];
      }
      bits.swap(bits_tmp);
      order.swap(order_tmp);
    }
    bits_tmp = {};
    input_rank_.resize(n);
    level_source_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      if (i == 0 || bits[i] != bits[i - 1]) level_source_.push_back(order[i]);
      input_rank_[order[i]] = static_cast<Rank>(level_source_.size() - 1);
    }
  }

  // Ranks of all cells: the input sits on the vertices (even coordinates) or the
  // top cubes (odd coordinates); one pass per axis propagates max (V) or min (T),
  // which gives every cell the max over its vertices / min over its top cofaces.
  void fill_cell_ranks(std::span<const std::size_t> shape) {
    const bool vc = grid_.vertex_construction();
    rank_.assign(grid_.size(), 0);
    {
      const int pad = kAxes - grid_.dim();
      std::array<std::size_t, kAxes> n{};
      for (int a = 0; a < kAxes; ++a) n[a] = a < pad ? 1 : shape[a - pad];
      const Index off = vc ? 0 : 1;
      std::size_t p = 0;
      for (std::size_t i0 = 0; i0 < n[0]; ++i0)
        for (std::size_t i1 = 0; i1 < n[1]; ++i1)
          for (std::size_t i2 = 0; i2 < n[2]; ++i2) {
            auto at = [&](std::size_t i, int a) {
              return (a < pad ? 0 : static_cast<Index>(2 * i + off)) * grid_.stride(a);
            };
            const Index base = at(i0, 0) + at(i1, 1) + at(i2, 2);
            const Index s3 = 2 * grid_.stride(3);
            const Index first = base + (3 < pad ? 0 : off);
            for (std::size_t i3 = 0; i3 < n[3]; ++i3) rank_[first + static_cast<Index>(i3) * s3] = input_rank_[p++];
          }
    }
    input_rank_ = {};
    const int pad = kAxes - grid_.dim();
    for (int a = pad; a < kAxes; ++a) {
      check_cancel(cancel_);
      std::array<Index, kAxes> start{}, step{};
      for (int b = 0; b < kAxes; ++b) {
        if (b < a) {
          start[b] = 0;
          step[b] = 1;
        } else if (b == a) {
          start[b] = vc ? 1 : 0;
          step[b] = 2;
        } else {
          start[b] = vc ? 0 : 1;
          step[b] = 2;
        }
      }
      const Index s = grid_.stride(a), ext = grid_.extent(a);
      std::array<Index, kAxes> c{};
      for (c[0] = start[0]; c[0] < grid_.extent(0); c[0] += step[0])
        for (c[1] = start[1]; c[1] < grid_.extent(1); c[1] += step[1])
          for (c[2] = start[2]; c[2] < grid_.extent(2); c[2] += step[2])
            for (c[3] = start[3]; c[3] < grid_.extent(3); c[3] += step[3]) {
              const Index idx = c[0] * grid_.stride(0) + c[1] * grid_.stride(1) + c[2] * grid_.stride(2) + c[3];
              const Index ca = c[a];
              if (vc) {  // an odd coordinate: only the step above may cross a seam
                rank_[idx] = std::max(rank_[idx - s], rank_[grid_.above(idx, a, grid_.seam_above(a, ca))]);
              } else {  // an even one: only the step below may (extents of periodic axes are even)
                Rank r = std::numeric_limits<Rank>::max();
                if (ca > 0 || grid_.periodic(a)) r = std::min(r, rank_[grid_.below(idx, a, ca == 0)]);
                if (ca + 1 < ext) r = std::min(r, rank_[idx + s]);
                rank_[idx] = r;
              }
            }
    }
  }

  // Counting sort by rank of the cells of dimension k, visited in increasing index:
  // stable, hence ordered by key.
  Sorted sorted_cells(int k) const {
    check_cancel(cancel_);
    std::vector<Index> start(level_source_.size() + 1, 0);
    grid_.for_each_cell(k, [&](Index idx, const auto&) { ++start[rank_[idx] + 1]; });
    std::partial_sum(start.begin(), start.end(), start.begin());
    Sorted out;
    out.index.resize(start.back());
    out.axes.resize(start.back());
    grid_.for_each_cell(k, [&](Index idx, const auto& c) {
      const Index pos = start[rank_[idx]]++;
      out.index[pos] = idx;
      out.axes[pos] = grid_.cell_axes(c);
    });
    return out;
  }

  // The k-cells that are not cleared, by key, with their largest facets. Both are
  // computed while visiting the grid in index order (streaming memory access), so
  // the reduction loop touches one link per column in the common case.
  std::vector<Head> sorted_columns(int k) const {
    check_cancel(cancel_);
    std::vector<Index> start(level_source_.size() + 1, 0);
    grid_.for_each_cell(k, [&](Index idx, const auto&) {
      if (link_[idx] == kNone) ++start[rank_[idx] + 1];
    });
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<Head> out(start.back());
    grid_.for_each_cell(k, [&](Index idx, const auto& c) {
      if (link_[idx] != kNone) return;
      Key largest = 0;
      const AxisMask axes = grid_.cell_axes(c);
      for_each_facet(idx, axes, [&](Index f) { largest = std::max(largest, key(f)); });
      out[start[rank_[idx]]++] = {idx, grid_.facet_axes(axes) ? static_cast<Index>(largest) : kNone};
    });
    return out;
  }

  Index find(Index x) {
    while (link_[x] != x) {
      link_[x] = link_[link_[x]];
      x = link_[x];
    }
    return x;
  }

  // Dimension 0: a component is represented by its oldest vertex; an edge joining
  // two components kills the younger one (elder rule). The others close loops; they
  // are appended to *loops if asked.
  void dimension_zero(Pairs& dgm, std::vector<Index>* loops) {
    grid_.for_each_cell(0, [&](Index idx, const auto&) { link_[idx] = idx; });
    const Sorted edges = sorted_cells(1);
    CancelPoll poll(cancel_, kPollPeriod);
    for (std::size_t i = 0; i < edges.index.size(); ++i) {
      poll();
      const Index e = edges.index[i];
      const int a = std::countr_zero(unsigned(edges.axes[i]));
      Index u = find(e - grid_.stride(a)), v = find(grid_.upper_facet(e, a, edges.axes[i]));
      if (u == v) {
        if constexpr (W::kPeriodic)
          if (loops) loops->push_back(e);
        continue;
      }
      if (key(u) < key(v)) std::swap(u, v);  // u is the younger root
      emit(dgm, u, e);
      link_[u] = v;
    }
    essential(dgm, find(0));  // cell 0 is a vertex; its component holds the minimum
  }

  // Dimension d-1 by duality: union-find over top cubes in decreasing order; the
  // outside of the grid is node `size` with an infinite key. A component is
  // represented by its latest cube; a (d-1)-cell merging two components is the
  // birth of a class that dies at the younger (smaller-key) representative.
  // The argument only needs every (d-1)-cell to have two cofaces (one may be the
  // outside), so it holds across periodic axes too. A torus (every axis periodic) has
  // no outside: its last top cube is the birth of the essential d-class (in top_essential).
  void dual_top(Pairs& dgm, Pairs& top_essential) {
    const int d = grid_.dim();
    const Index outside = grid_.size();
    link_[outside] = outside;
    grid_.for_each_cell(d, [&](Index idx, const auto&) { link_[idx] = idx; });
    auto top_key = [&](Index idx) { return idx == outside ? kInfiniteKey : key(idx); };
    const Sorted faces = sorted_cells(d - 1);
    const int pad = kAxes - d;
    const AxisMask real_axes = AxisMask(((1u << kAxes) - 1) & ~((1u << pad) - 1));
    CancelPoll poll(cancel_, kPollPeriod);
    for (std::size_t i = faces.index.size(); i-- > 0;) {
      poll();
      const Index f = faces.index[i];
      const int a = std::countr_zero(unsigned(real_axes & ~faces.axes[i] & kExtentBits));
      const Index s = grid_.stride(a);
      const Index ca = (f / s) % grid_.extent(a);
      // Past the end of an open axis is the outside; a periodic one has no end above f
      // (its extent is even, f's coordinate along it too).
      Index u = find(ca > 0 || grid_.periodic(a) ? grid_.below(f, a, ca == 0) : outside);
      Index v = find(ca + 1 < grid_.extent(a) ? f + s : outside);
      if (u == v) continue;
      if (top_key(u) > top_key(v)) std::swap(u, v);  // u is the younger root
      emit(dgm, f, u);
      link_[u] = v;
      link_[f] = u;  // f is the birth of a pair: its column is cleared one dimension down
    }
    if (grid_.all_periodic()) {
      Index cube = 0;  // the top cube at (1, .., 1); they are all connected
      for (int b = pad; b < kAxes; ++b) cube += grid_.stride(b);
      essential(top_essential, find(cube));
    }
  }

  // A column whose largest facet p is not yet a pivot is reduced as it stands; p is kNone
  // for a cell without facets (its axes all loops), a zero column.
  bool reduced_as_is(Index p) const { return (!W::kPeriodic || p != kNone) && link_[p] == kNone; }

  // Z/2 column as a max-heap of facet keys; equal keys cancel in pairs.
  using Column = std::priority_queue<Key>;

  [[gnu::always_inline]] static Key pop_pivot(Column& col) {  // in the reduction's inner loop
    while (!col.empty()) {
      const Key top = col.top();
      col.pop();
      if (!col.empty() && col.top() == top) {
        col.pop();
        continue;
      }
      return top;
    }
    return kInfiniteKey;
  }

  template <class F>
  void for_each_facet(Index cell, AxisMask axes, F&& f) const {
    for (unsigned m = grid_.facet_axes(axes); m; m &= m - 1) {
      const int a = std::countr_zero(m);
      f(cell - grid_.stride(a));
      f(grid_.upper_facet(cell, a, axes));
    }
  }

  // Dimension k (1 <= k <= d-2): reduce the boundary columns of the (k+1)-cells
  // that are not births of a (k+1)-pair, in filtration order. A column whose
  // largest facet is not yet a pivot is already reduced (the common case); the
  // others are reduced against stored columns (tails without their pivot). A column
  // that reduces to zero is a (k+1)-cycle that nothing kills: an essential class of
  // a torus, appended to `essentials` (never happens without periodic axes).
  void reduce(int k, Pairs& dgm, Pairs& essentials) {
    const std::vector<Head> cols = sorted_columns(k + 1);
    std::unordered_map<Index, std::vector<Key>> tails;
    Column col;
    std::vector<Key> tail;
    CancelPoll poll(cancel_, kPollPeriod);
    for (const Head& head : cols) {
      poll();
      const Index sigma = head.cell;
      Index p = head.largest_facet;
      if (reduced_as_is(p)) {
        emit(dgm, p, sigma);
        link_[p] = sigma;  // only pivots are looked up later; sigma's own link is not
        continue;
      }
      const AxisMask axes = grid_.cell_axes(sigma);
      Key pivot = 0;
      col = Column();
      for_each_facet(sigma, axes, [&](Index f) { col.push(key(f)); });
      for (;;) {
        pivot = pop_pivot(col);
        if (pivot == kInfiniteKey) break;  // zero column: a cycle
        p = static_cast<Index>(pivot);
        const Index owner = link_[p];
        if (owner == kNone) break;
        if (auto it = tails.find(owner); it != tails.end()) {
          for (Key t : it->second) col.push(t);
        } else {
          for_each_facet(owner, grid_.cell_axes(owner), [&](Index f) {
            if (f != p) col.push(key(f));
          });
        }
      }
      if (pivot == kInfiniteKey) {
        essential(essentials, sigma);
        continue;
      }
      emit(dgm, p, sigma);
      link_[p] = sigma;
      tail.clear();
      for (Key t = pop_pivot(col); t != kInfiniteKey; t = pop_pivot(col)) tail.push_back(t);
      tails.emplace(sigma, tail);
    }
  }

  // Z/p (p odd): the same reduction with signed boundaries. With the odd axes of a
  // cell a_1 < .. < a_k, d(cell) = sum_i (-1)^(i-1) (upper face_i - lower face_i), the
  // usual cubical boundary (dd = 0 for any fixed order of the axes).
  struct Term {
    Key key;
    Coefficient coefficient;
  };
  // Max-heap of terms by key; equal keys are summed when they reach the top.
  class SignedColumn {
   public:
    explicit SignedColumn(const PrimeField& field) : field_(field) {}
    void clear() { heap_.clear(); }
    void push(Key key, Coefficient c) {
      heap_.push_back({key, c});
      std::push_heap(heap_.begin(), heap_.end(), below);
    }
    // The largest key with nonzero total coefficient, removed; key kInfiniteKey if none.
    Term pop_pivot() {
      while (!heap_.empty()) {
        Term top = pop();
        while (!heap_.empty() && heap_.front().key == top.key) top.coefficient = field_.add(top.coefficient, pop().coefficient);
        if (top.coefficient != 0) return top;
      }
      return {kInfiniteKey, 0};
    }

   private:
    static bool below(const Term& a, const Term& b) { return a.key < b.key; }
    Term pop() {
      std::pop_heap(heap_.begin(), heap_.end(), below);
      const Term t = heap_.back();
      heap_.pop_back();
      return t;
    }
    const PrimeField& field_;
    std::vector<Term> heap_;
  };

  template <class F>
  void for_each_signed_facet(Index cell, AxisMask axes, const PrimeField& field, F&& f) const {
    int position = 0;  // counts loop axes too: the signs of the other axes depend on them
    const AxisMask with_facets = grid_.facet_axes(axes);
    for (unsigned m = axes & kExtentBits; m; m &= m - 1, ++position) {
      const int a = std::countr_zero(m);
      if (!(with_facets >> a & 1)) continue;
      const Coefficient sign = field.sign(position);
      f(cell - grid_.stride(a), field.neg(sign));
      f(grid_.upper_facet(cell, a, axes), sign);
    }
  }

  void reduce_field(int k, Pairs& dgm, Pairs& essentials, const PrimeField& field) {
    const std::vector<Head> cols = sorted_columns(k + 1);
    struct Reduced {
      Coefficient pivot;        // coefficient of the pivot in the reduced column
      std::vector<Term> tail;   // the other terms
    };
    std::unordered_map<Index, Reduced> reduced;
    SignedColumn col(field);
    CancelPoll poll(cancel_, kPollPeriod);
    for (const Head& head : cols) {
      poll();
      const Index sigma = head.cell;
      const AxisMask axes = grid_.cell_axes(sigma);
      if (reduced_as_is(head.largest_facet)) {
        emit(dgm, head.largest_facet, sigma);
        link_[head.largest_facet] = sigma;
        continue;
      }
      col.clear();
      for_each_signed_facet(sigma, axes, field, [&](Index f, Coefficient c) { col.push(key(f), c); });
      Term pivot{};
      for (;;) {
        pivot = col.pop_pivot();
        if (pivot.key == kInfiniteKey) break;
        const Index p = static_cast<Index>(pivot.key);
        const Index owner = link_[p];
        if (owner == kNone) break;
        // col -= (c / c_owner) * column(owner): the pivot terms cancel exactly.
        auto add = [&](Coefficient owner_pivot, auto&& for_each_tail_term) {
          const Coefficient factor = field.neg(field.mul(pivot.coefficient, field.inverse(owner_pivot)));
          for_each_tail_term([&](Key key, Coefficient c) { col.push(key, field.mul(factor, c)); });
        };
        if (auto it = reduced.find(owner); it != reduced.end()) {
          add(it->second.pivot, [&](auto&& push) {
            for (const Term& t : it->second.tail) push(t.key, t.coefficient);
          });
        } else {  // reduced as it stood: its boundary, pivot = its largest facet p
          Coefficient owner_pivot = 0;
          const AxisMask owner_axes = grid_.cell_axes(owner);
          for_each_signed_facet(owner, owner_axes, field, [&](Index f, Coefficient c) {
            if (f == p) owner_pivot = c;
          });
          add(owner_pivot, [&](auto&& push) {
            for_each_signed_facet(owner, owner_axes, field, [&](Index f, Coefficient c) {
              if (f != p) push(key(f), c);
            });
          });
        }
      }
      if (pivot.key == kInfiniteKey) {
        essential(essentials, sigma);
        continue;
      }
      const Index p = static_cast<Index>(pivot.key);
      emit(dgm, p, sigma);
      link_[p] = sigma;
      Reduced r{pivot.coefficient, {}};
      for (Term t = col.pop_pivot(); t.key != kInfiniteKey; t = col.pop_pivot()) r.tail.push_back(t);
      reduced.emplace(sigma, std::move(r));
    }
  }

  Grid grid_;
  std::array<std::int64_t, kAxes> input_stride_{};  // of the input array, padded like the grid
  std::span<const double> values_;  // the input, alive for the whole computation
  std::vector<Index> level_source_;  // rank -> an input entry holding that value
  std::vector<Rank> input_rank_;
  std::vector<Rank> rank_;
  std::vector<Index> link_;  // union-find parents (vertices, top cubes) and pair partners (other cells)
  const CancelFlag* cancel_;
  static constexpr std::size_t kPollPeriod = 1 << 14;
};

}  // namespace

namespace {

// Validates the input and returns the number of cells of the complex (saturated).
unsigned __int128 checked_cell_count(std::span<const double> values, std::span<const std::size_t> shape,
                                     Construction construction, int max_dim, Coefficient modulus,
                                     std::span<const bool> periodic) {
  if (shape.empty() || shape.size() > kMaxGridDim)
    throw std::invalid_argument("array: must have 1 to 4 dimensions, got " + std::to_string(shape.size()));
  if (!periodic.empty() && periodic.size() != shape.size())
    throw std::invalid_argument("periodic: give one flag per axis of the array, or none");
  std::size_t n = 1;
  unsigned __int128 cells = 1;
  for (std::size_t a = 0; a < shape.size(); ++a) {
    if (shape[a] == 0) throw std::invalid_argument("array: must not be empty");
    n *= shape[a];
    cells *= axis_cells(shape[a], construction, !periodic.empty() && periodic[a]);
  }
  if (n != values.size()) throw std::invalid_argument("array: shape does not match the number of values");
  if (max_dim < 0) throw std::invalid_argument("max_dim: must be >= 0");
  if (!rips::is_prime(modulus)) throw std::invalid_argument("coeff: must be a prime, got " + std::to_string(modulus));
  for (double v : values)
    if (std::isnan(v)) throw std::invalid_argument("array: contains NaN");
  if (cells >= Wide::kNone) throw std::invalid_argument("array: more than 2^64 - 2 cubical cells");
  return cells;
}

template <class W>
Diagrams run(std::span<const double> values, std::span<const std::size_t> shape, Construction construction,
             int max_dim, int n_threads, const CancelFlag* cancel, Coefficient modulus, std::span<const bool> periodic,
             Locations* locations) {
  if (std::find(periodic.begin(), periodic.end(), true) != periodic.end()) {
    CubicalPersistence<Width<typename W::Index, true>> engine(values, shape, construction, periodic, cancel);
    return engine.run(max_dim, n_threads, modulus, locations);
  }
  CubicalPersistence<W> engine(values, shape, construction, {}, cancel);
  return engine.run(max_dim, n_threads, modulus, locations);
}

}  // namespace

Diagrams persistence(std::span<const double> values, std::span<const std::size_t> shape,
                     Construction construction, int max_dim, int n_threads, const CancelFlag* cancel,
                     Coefficient modulus, std::span<const bool> periodic, Locations* locations) {
  if (checked_cell_count(values, shape, construction, max_dim, modulus, periodic) < Narrow::kNone)
    return run<Narrow>(values, shape, construction, max_dim, n_threads, cancel, modulus, periodic, locations);
  return run<Wide>(values, shape, construction, max_dim, n_threads, cancel, modulus, periodic, locations);
}

namespace detail {
Diagrams persistence_wide(std::span<const double> values, std::span<const std::size_t> shape,
                          Construction construction, int max_dim, int n_threads, const CancelFlag* cancel,
                          Coefficient modulus, std::span<const bool> periodic, Locations* locations) {
  checked_cell_count(values, shape, construction, max_dim, modulus, periodic);
  return run<Wide>(values, shape, construction, max_dim, n_threads, cancel, modulus, periodic, locations);
}
}  // namespace detail

}  // namespace tda::cubical
