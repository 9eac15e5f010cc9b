// The reduction engine: persistent cohomology of a Vietoris–Rips filtration.
//
// For each dimension d >= 1 the coboundary matrix (columns: d-simplices in
// reverse filtration order; rows: (d+1)-simplices) is reduced column by
// column. The pivot of a column is its earliest cofacet with nonzero
// coefficient; a column paired with pivot tau gives the interval
// [diam sigma, diam tau), a column that reduces to zero an essential class.
//
// Work savers, all from the literature on Ripser-style reduction:
// * clearing: a d-simplex that is a pivot in dimension d-1 is a death there
//   and its column would reduce to zero; it is skipped;
// * implicit matrix: coboundaries are enumerated on the fly from the
//   combinatorial number system, only the reduction matrix V is stored;
// * apparent pairs: sigma, tau with tau the earliest cofacet of sigma and
//   sigma the latest facet of tau, at equal diameter, pair without any
//   column operation. Both members are dropped while the columns are
//   assembled (a test independent of the reduction, so threads share it);
//   they are never stored, and recognised again when a reduction meets tau;
// * emergent pairs: if the earliest cofacet of a column has the column's
//   diameter and no owner yet, it is the pivot; no enumeration beyond it.
// With several threads the reduction itself is the lock-free scheme of
// Morozov & Nigmetov (see reduce_parallel); the pairs are the same.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

#include "tda/rips.hpp"
#include "tda/rips/binomial.hpp"
#include "tda/rips/concurrent_pivot_map.hpp"
#include "tda/rips/field.hpp"
#include "tda/rips/pivot_map.hpp"
#include "tda/rips/union_find.hpp"

namespace tda::rips::detail {

inline constexpr int kMaxVertices = 12;  // dimension bound of the stack buffers below
inline constexpr std::size_t kMaxColumns = std::numeric_limits<std::uint32_t>::max();

// Heap of coboundary entries whose top is the earliest in the filtration;
// equal simplices are summed lazily when they reach the top.
template <bool kBinary>
class WorkingColumn {
 public:
  explicit WorkingColumn(const PrimeField& field) : field_(field) {}

  void clear() noexcept { heap_.clear(); }
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  void push(const Entry& e) {
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), later);
  }


  // Bulk insertion followed by one heapify.
  void assign(const std::vector<Entry>& entries) {
    heap_.assign(entries.begin(), entries.end());
    std::make_heap(heap_.begin(), heap_.end(), later);
  }

  // Removes and returns the earliest entry with nonzero total coefficient.
  std::optional<Entry> pop_pivot() {
    while (!heap_.empty()) {
      Entry pivot = pop();
      if constexpr (kBinary) {
        if (heap_.empty() || heap_.front().index != pivot.index) return pivot;
        pop();  // 1 + 1 = 0 over Z/2
      } else {
        while (!heap_.empty() && heap_.front().index == pivot.index)
          pivot.coefficient = field_.add(pivot.coefficient, pop().coefficient);
        if (pivot.coefficient != 0) return pivot;
      }
    }
    return std::nullopt;
  }
  std::optional<Entry> pivot() {
    auto p = pop_pivot();
    if (p) push(*p);
    return p;
  }

 private:
  // Heap comparator: the top is the element no other is earlier than. A closure, not a
  // function, so the heap operations inline it instead of calling through a pointer.
  static constexpr auto later = [](const Entry& a, const Entry& b) noexcept { return earlier(b, a); };
  Entry pop() {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    Entry e = heap_.back();
    heap_.pop_back();
    return e;
  }
  const PrimeField& field_;
  std::vector<Entry> heap_;
};

// Columns of the reduction matrix V, compressed: the entries beyond the
// column's own simplex (whose coefficient is 1) for each reduced column.
class ReductionMatrix {
 public:
  void reserve(std::size_t columns) { offsets_.reserve(columns + 1); }
  void start() { offsets_.assign(1, 0); entries_.clear(); }
  // Close column number offsets_.size()-1 with the entries appended since.
  void append(const Entry& e) { entries_.push_back(e); }
  void close_column() { offsets_.push_back(entries_.size()); }
  std::span<const Entry> column(std::size_t j) const noexcept {
    return {entries_.data() + offsets_[j], entries_.data() + offsets_[j + 1]};
  }
  // The entries of the column not closed yet.
  std::span<const Entry> open_column() const noexcept {
    return {entries_.data() + offsets_.back(), entries_.data() + entries_.size()};
  }

 private:
  std::vector<std::size_t> offsets_{0};
  std::vector<Entry> entries_;
};

// Dense storage: candidates for a cofacet are all vertices.
struct DenseAccess {
  const DistanceMatrix& d;
  VertexIndex n() const noexcept { return d.size(); }
  Value operator()(VertexIndex i, VertexIndex j) const noexcept { return d(i, j); }
};

// Runs fn(begin, end) over [0, count) split into contiguous chunks, one per thread.
template <class Fn>
void parallel_chunks(std::size_t count, int n_threads, Fn&& fn) {
  const std::size_t threads = std::max<std::size_t>(1, std::min<std::size_t>(n_threads, count / 1024 + 1));
  if (threads == 1) {
    fn(std::size_t(0), count, 0);
    return;
  }
  std::vector<std::exception_ptr> errors(threads);
  {
    std::vector<std::jthread> workers;
    for (std::size_t t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        try {
          fn(count * t / threads, count * (t + 1) / threads, int(t));
        } catch (...) {
          errors[t] = std::current_exception();
        }
      });
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// std::sort, on two threads when given and worth it: each sorts a half, then one merge.
template <class T, class Less>
void parallel_sort(std::vector<T>& v, Less less, int n_threads) {
  if (n_threads < 2 || v.size() < (std::size_t(1) << 15)) {
    std::sort(v.begin(), v.end(), less);
    return;
  }
  const auto middle = v.begin() + std::ptrdiff_t(v.size() / 2);
  {
    std::jthread lower([&] { std::sort(v.begin(), middle, less); });
    std::sort(middle, v.end(), less);
  }
  std::inplace_merge(v.begin(), middle, v.end(), less);
}

struct SparseAccess {
  const NeighbourGraph& g;
  VertexIndex n() const noexcept { return g.size(); }
  Value operator()(VertexIndex i, VertexIndex j) const noexcept { return g(i, j); }
};

template <class Access, bool kBinary>
class Engine {
  static constexpr bool kDense = std::is_same_v<Access, DenseAccess>;
  // Below this many columns a parallel reduction costs more than it saves.
  static constexpr std::size_t kParallelColumns = 256;

 public:
  Engine(Access access, Value threshold, const Options& options, const PrimeField& field)
      : n_threads_(std::max(1, options.n_threads)),
        dist_(access),
        n_(access.n()),
        threshold_(threshold),
        max_dim_(options.max_dim),
        binomial_(std::max<VertexIndex>(access.n(), 1), options.max_dim + 2),
        coder_(binomial_),
        field_(field),
        cancel_(options.cancel),
        representatives_(options.representatives) {
    if (!binomial_.representable(n_, max_dim_ + 2))
      throw std::overflow_error("too many points for this max_dim: simplex ranks exceed 64 bits");
  }

  Diagrams run() {
    Diagrams out(max_dim_ + 1);
    if (representatives_) representatives_->cocycle.assign(max_dim_ + 1, {});
    std::vector<Entry> simplices, columns;
    dimension_zero(out[0], simplices);
    PivotMap previous_pivots;
    for (Dimension dim = 1; dim <= max_dim_; ++dim) {
      if (dim > 1) {
        std::vector<Entry> next;
        assemble(dim, simplices, dim < max_dim_ ? &next : nullptr, columns, previous_pivots);
        simplices.swap(next);
      } else {
        edge_columns(simplices, columns);
        if (max_dim_ == 1) std::vector<Entry>().swap(simplices);
      }
      check_column_count(dim, columns.size());
      PivotMap pivots(columns.size() / 2);
      if (n_threads_ > 1 && columns.size() >= kParallelColumns)
        reduce_parallel(dim, columns, pivots, out[dim]);
      else
        reduce(dim, columns, pivots, out[dim]);
      previous_pivots = std::move(pivots);
    }
    if (representatives_) representatives_->critical_edges = critical_edges(out);
    return out;
  }

 private:
  // Pivot maps name a column by a 32-bit position (ConcurrentPivotMap packs it
  // with the coefficient into one atomic word): refuse rather than truncate.
  static void check_column_count(Dimension dim, std::size_t count) {
    if (count > kMaxColumns)
      throw std::overflow_error("dimension " + std::to_string(dim) + " has " + std::to_string(count) +
                                " columns to reduce, more than the engine's limit of " + std::to_string(kMaxColumns) +
                                " (32-bit column indices); lower threshold or max_dim");
  }

  // ---- enumeration of cofacets -------------------------------------------------

  // Vertices (descending) and pairwise distances of one simplex.
  struct Shape {
    Dimension dim;
    VertexIndex v[kMaxVertices];
    Value d[kMaxVertices][kMaxVertices];
  };

  Shape shape_of(SimplexIndex index, Dimension dim) const {
    Shape s;
    s.dim = dim;
    coder_.decode(index, dim, s.v);
    for (int a = 0; a <= dim; ++a) {
      s.d[a][a] = 0;
      for (int b = a + 1; b <= dim; ++b) s.d[a][b] = s.d[b][a] = dist_(s.v[a], s.v[b]);
    }
    return s;
  }

  // The shape of s + x, with dx[i] = d(x, s.v[i]).
  static void extend(const Shape& s, VertexIndex x, const Value* dx, Shape& out) noexcept {
    const int m = s.dim;
    int at = 0;
    while (at <= m && s.v[at] > x) ++at;
    auto src = [&](int i) { return i < at ? i : i - 1; };  // position in s of out's vertex i != at
    out.dim = m + 1;
    for (int i = 0; i <= m + 1; ++i) {
      out.v[i] = i == at ? x : s.v[src(i)];
      out.d[i][i] = 0;
      for (int k = i + 1; k <= m + 1; ++k) {
        const Value value = i == at ? dx[src(k)] : k == at ? dx[src(i)] : s.d[src(i)][src(k)];
        out.d[i][k] = out.d[k][i] = value;
      }
    }
  }

  // Calls f(x, dx) for every vertex x > lower outside the simplex whose
  // distances dx[i] = d(x, v[i]) are all <= bound, in decreasing order of x.
  // f returns false to stop.
  template <class F>
  void for_each_common_neighbour(const VertexIndex* v, Dimension dim, VertexIndex lower, Value bound, F&& f) const {
    Value dx[kMaxVertices];
    if constexpr (kDense) {
      const Value* rows[kMaxVertices];
      for (Dimension i = 0; i <= dim; ++i) rows[i] = dist_.d.row(v[i]);
      int k = 0;  // next vertex of the simplex to skip
      for (VertexIndex x = n_ - 1; x > lower; --x) {
        if (k <= dim && v[k] == x) {
          ++k;
          continue;
        }
        bool inside = true;
        for (Dimension i = 0; i <= dim; ++i) {
          dx[i] = rows[i][x];
          if (!(dx[i] <= bound)) {  // NaN is never an edge
            inside = false;
            break;
          }
        }
        if (inside && !f(x, static_cast<const Value*>(dx))) return;
      }
    } else {
      // Intersect the neighbour rows, walking down from the top; the shortest
      // row proposes candidates, the others are followed by a cursor each.
      const auto& g = dist_.g;
      int lead = 0;
      for (Dimension i = 1; i <= dim; ++i)
        if (g.neighbours(v[i]).size() < g.neighbours(v[lead]).size()) lead = i;
      const Neighbour* cursor[kMaxVertices];
      const Neighbour* first[kMaxVertices];
      for (Dimension i = 0; i <= dim; ++i) {
        const auto row = g.neighbours(v[i]);
        first[i] = row.data();
        cursor[i] = row.data() + row.size();  // one past the next candidate
      }
      const auto base = g.neighbours(v[lead]);
      for (auto it = base.rbegin(); it != base.rend(); ++it) {
        const VertexIndex x = it->vertex;
        if (x <= lower) return;
        if (!(it->distance <= bound)) continue;  // NaN is never an edge
        dx[lead] = it->distance;
        bool inside = true;
        for (Dimension i = 0; i <= dim; ++i) {
          if (i == lead) continue;
          const Neighbour*& c = cursor[i];
          while (c != first[i] && (c - 1)->vertex > x) --c;
          if (c == first[i] || (c - 1)->vertex != x || !((c - 1)->distance <= bound)) {
            inside = false;
            break;
          }
          dx[i] = (c - 1)->distance;
        }
        if (inside && !f(x, static_cast<const Value*>(dx))) return;
      }
    }
  }

  // Calls f(entry, x, dx) for the cofacets sigma + x of `simplex` (vertices v,
  // descending) with diameter <= threshold, in decreasing rank; only x > v[0]
  // when `only_above_top`. f returns false to stop.
  template <class F>
  void for_each_cofacet(const Entry& simplex, const VertexIndex* v, Dimension dim, bool only_above_top,
                        F&& f) const {
    SimplexIndex above = 0, below = simplex.index;
    int j = 0;  // v[0..j) are greater than the candidate x
    for_each_common_neighbour(v, dim, only_above_top ? v[0] : VertexIndex(-1), threshold_,
                              [&](VertexIndex x, const Value* dx) {
      while (j <= dim && v[j] > x) {  // v[j] moves one position up in the cofacet
        below -= binomial_(v[j], dim + 1 - j);
        above += binomial_(v[j], dim + 2 - j);
        ++j;
      }
      Value diameter = simplex.diameter;
      for (Dimension i = 0; i <= dim; ++i) diameter = std::max(diameter, dx[i]);
      // delta(sigma) contains sigma + x with sign (-1)^(number of vertices below x)
      Entry e{above + binomial_(x, dim + 2 - j) + below, diameter, simplex.coefficient};
      if constexpr (!kBinary)
        if ((dim + 1 - j) & 1) e.coefficient = field_.neg(e.coefficient);
      return f(e, x, dx);
    });
  }

  // Whether some vertex x > lower outside the simplex keeps its diameter: then a
  // cofacet of equal diameter ranks above every cofacet adding a vertex <= lower.
  bool has_equal_cofacet_above(const VertexIndex* v, Dimension dim, Value diameter, VertexIndex lower) const {
    bool found = false;
    for_each_common_neighbour(v, dim, lower, diameter, [&](VertexIndex, const Value*) {
      found = true;
      return false;
    });
    return found;
  }

  // The latest facet of tau at tau's diameter (largest diameter, then smallest
  // rank: remove the largest vertex that keeps the diameter), if any.
  struct Facet {
    Entry entry;
    VertexIndex removed;
    VertexIndex vertices[kMaxVertices];
  };
  std::optional<Facet> zero_pivot_facet(Value diameter_of_tau, const Shape& tau) const {
    const int m = tau.dim;
    for (int i = 0; i <= m; ++i) {
      Value diameter = -kInfinity;  // filtration values may be negative
      for (int a = 0; a <= m; ++a)
        for (int b = a + 1; b <= m; ++b)
          if (a != i && b != i) diameter = std::max(diameter, tau.d[a][b]);
      if (diameter != diameter_of_tau) continue;
      Facet f;
      f.removed = tau.v[i];
      SimplexIndex rank = 0;
      int p = 0;
      for (int t = 0; t <= m; ++t) {
        if (t == i) continue;
        f.vertices[p++] = tau.v[t];
        rank += t < i ? binomial_(tau.v[t], m - t) : binomial_(tau.v[t], m - t + 1);
      }
      // tau appears in delta(facet) with sign (-1)^(m - i): m - i vertices lie below the removed one
      f.entry = {rank, diameter, field_.sign(m - i)};
      return f;
    }
    return std::nullopt;
  }

  // The facet sigma of tau such that (sigma, tau) is a zero-persistence apparent pair.
  std::optional<Facet> apparent_facet(Value diameter_of_tau, const Shape& tau) const {
    auto f = zero_pivot_facet(diameter_of_tau, tau);
    if (f && !has_equal_cofacet_above(f->vertices, tau.dim - 1, f->entry.diameter, f->removed)) return f;
    return std::nullopt;
  }

  // Whether s and its earliest cofacet form an apparent pair: then s's column
  // is reduced as it stands and pairs with zero persistence.
  bool has_apparent_cofacet(const Entry& s, const Shape& shape) const {
    bool apparent = false;
    // the earliest cofacet: the largest x keeping the diameter
    for_each_common_neighbour(shape.v, shape.dim, -1, s.diameter, [&](VertexIndex x, const Value* dx) {
      Shape tau;
      extend(shape, x, dx, tau);
      const auto f = zero_pivot_facet(s.diameter, tau);
      apparent = f && f->entry.index == s.index;
      return false;
    });
    return apparent;
  }

  void check_cancel() const { tda::check_cancel(cancel_); }

  // ---- dimension 0 -----------------------------------------------------------

  // Kruskal on the sorted edges. Edges that merge components are deaths in
  // dimension 0 (marked with coefficient 0, as they are cleared from dimension
  // 1); the others close cycles (coefficient 1).
  void dimension_zero(Diagram& out, std::vector<Entry>& edges) {
    collect_edges(edges);
    parallel_sort(edges, [](const Entry& a, const Entry& b) { return earlier(a, b); }, n_threads_);
    UnionFind components(n_);
    if constexpr (!kDense)
      for (VertexIndex v = 0; v < n_; ++v) components.set_birth(v, dist_.g.vertex_birth(v));
    VertexIndex vertices[2];
    for (Entry& e : edges) {
      coder_.decode(e.index, 1, vertices);
      const VertexIndex a = components.find(vertices[0]), b = components.find(vertices[1]);
      e.coefficient = a == b;
      if (a != b) {
        // elder rule: the younger component dies
        const VertexIndex younger = components.older(a, b) ? b : a;
        const Value birth = components.birth(younger);
        if (e.diameter > birth) out.push_back({birth, e.diameter, components.eldest(younger), e.index});
        components.link(a, b);
      }
    }
    for (VertexIndex v = 0; v < n_; ++v)
      if (components.find(v) == v) out.push_back({components.birth(v), kInfinity, components.eldest(v), kNoSimplex});
  }

  // Dimension-1 columns: cycle-closing edges outside apparent pairs, latest first.
  void edge_columns(const std::vector<Entry>& edges, std::vector<Entry>& columns) const {
    std::vector<std::vector<Entry>> parts(n_threads_);
    parallel_chunks(edges.size(), n_threads_, [&](std::size_t begin, std::size_t end, int t) {
      for (std::size_t k = begin; k < end; ++k) {
        if ((k & 4095) == 0) check_cancel();
        const Entry& e = edges[k];
        if (e.coefficient == 1 && !has_apparent_cofacet(e, shape_of(e.index, 1)))
          parts[t].push_back(Entry{e.index, e.diameter, 1});
      }
    });
    concatenate(parts, columns);
    std::reverse(columns.begin(), columns.end());
  }

  void collect_edges(std::vector<Entry>& edges) const {
    edges.clear();
    if constexpr (kDense) {
      std::size_t count = 0;
      for (VertexIndex i = 1; i < n_; ++i) {
        const Value* row = dist_.d.row(i);
        for (VertexIndex j = 0; j < i; ++j) count += row[j] <= threshold_;
      }
      edges.reserve(count);
      for (VertexIndex i = 1; i < n_; ++i) {
        const Value* row = dist_.d.row(i);
        for (VertexIndex j = 0; j < i; ++j)
          if (row[j] <= threshold_) edges.push_back({binomial_(i, 2) + j, row[j], 1});
      }
    } else {
      edges.reserve(dist_.g.edge_count());
      for (VertexIndex i = 1; i < n_; ++i)
        for (const Neighbour& nb : dist_.g.neighbours(i)) {
          if (nb.vertex >= i) break;
          if (nb.distance <= threshold_) edges.push_back({binomial_(i, 2) + nb.vertex, nb.distance, 1});
        }
    }
  }

  // ---- columns of dimension >= 2 -----------------------------------------------

  // Every dim-simplex arises once as a (dim-1)-simplex plus a vertex above its top.
  // A simplex becomes a column unless it is cleared (a pivot one dimension
  // down) or in an apparent pair; these tests are independent, so threads
  // split the faces between them.
  void assemble(Dimension dim, const std::vector<Entry>& faces, std::vector<Entry>* simplices,
                std::vector<Entry>& columns, const PivotMap& cleared) {
    const int threads = n_threads_;
    std::vector<std::vector<Entry>> part_columns(threads), part_simplices(threads);
    parallel_chunks(faces.size(), threads, [&](std::size_t begin, std::size_t end, int t) {
      auto& my_columns = part_columns[t];
      auto& my_simplices = part_simplices[t];
      Shape simplex;
      for (std::size_t k = begin; k < end; ++k) {
        if ((k & 4095) == 0) check_cancel();
        const Entry& face = faces[k];
        const Shape face_shape = shape_of(face.index, dim - 1);
        for_each_cofacet(Entry{face.index, face.diameter, 1}, face_shape.v, dim - 1, true,
                         [&](const Entry& s, VertexIndex x, const Value* dx) {
          if (simplices) my_simplices.push_back(s);
          if (cleared.contains(s.index)) return true;
          extend(face_shape, x, dx, simplex);
          if (!apparent_facet(s.diameter, simplex) && !has_apparent_cofacet(s, simplex)) my_columns.push_back(s);
          return true;
        });
      }
    });
    concatenate(part_columns, columns);
    if (simplices) concatenate(part_simplices, *simplices);
    parallel_sort(columns, [](const Entry& a, const Entry& b) { return earlier(b, a); }, n_threads_);
  }

  static void concatenate(std::vector<std::vector<Entry>>& parts, std::vector<Entry>& out) {
    std::size_t total = 0;
    for (auto& p : parts) total += p.size();
    out.clear();
    out.reserve(total);
    for (auto& p : parts) {
      out.insert(out.end(), p.begin(), p.end());
      std::vector<Entry>().swap(p);
    }
  }

  // ---- reduction -----------------------------------------------------------------

  Coefficient elimination_factor(Coefficient pivot, Coefficient other) const noexcept {
    if constexpr (kBinary) return 1;
    else return field_.neg(field_.mul(pivot, field_.inverse(other)));
  }

  // Adds factor * delta(simplex) to the working coboundary and factor * simplex to V.
  void add_simplex(const Entry& simplex, Dimension dim, Coefficient factor, WorkingColumn<kBinary>& coboundary,
                   WorkingColumn<kBinary>& reduction) {
    Entry s = simplex;
    if constexpr (!kBinary) s.coefficient = field_.mul(s.coefficient, factor);
    reduction.push(s);
    VertexIndex v[kMaxVertices];
    coder_.decode(s.index, dim, v);
    for_each_cofacet(s, v, dim, false, [&](const Entry& c, VertexIndex, const Value*) {
      coboundary.push(c);
      return true;
    });
  }

  // When the pivot tau is the apparent cofacet of a facet other than sigma, that facet's
  // reduced column is its plain coboundary: eliminate tau with it. False if tau is not such.
  bool eliminate_with_apparent_facet(const Entry& pivot, SimplexIndex sigma, Dimension dim,
                                     WorkingColumn<kBinary>& coboundary, WorkingColumn<kBinary>& reduction) {
    const auto facet = apparent_facet(pivot.diameter, shape_of(pivot.index, dim + 1));
    if (!facet || facet->entry.index == sigma) return false;
    const Coefficient factor = elimination_factor(pivot.coefficient, facet->entry.coefficient);
    add_simplex(Entry{facet->entry.index, facet->entry.diameter, 1}, dim, factor, coboundary, reduction);
    return true;
  }

  // A column sigma whose earliest cofacet tau has sigma's diameter needs no reduction when
  // tau is unclaimed and either (apparent) sigma is tau's zero-pivot facet, or (emergent)
  // no other column can own tau; the emergent pivot then carries tau's coefficient in delta(sigma).
  struct Shortcut {
    enum Kind { kNone, kEmergent, kApparent } kind = kNone;
    Entry tau{};
  };

  template <class IsClaimed>
  Shortcut find_shortcut(const Entry& sigma, const Shape& shape, Dimension dim, IsClaimed&& is_claimed) const {
    Shortcut found;
    for_each_common_neighbour(shape.v, dim, -1, sigma.diameter, [&](VertexIndex x, const Value* dx) {
      Shape tau;
      extend(shape, x, dx, tau);
      const SimplexIndex tau_index = coder_.encode(tau.v, dim + 1);
      if (is_claimed(tau_index)) return false;
      const auto facet = zero_pivot_facet(sigma.diameter, tau);
      if (facet && facet->entry.index == sigma.index) {
        found.kind = Shortcut::kApparent;
      } else if (!(facet && !has_equal_cofacet_above(facet->vertices, dim, facet->entry.diameter, facet->removed))) {
        int below = 0;
        while (below <= dim && shape.v[dim - below] < x) ++below;
        found = {Shortcut::kEmergent, Entry{tau_index, sigma.diameter, field_.sign(below)}};
      }
      return false;
    });
    return found;
  }

  void reduce(Dimension dim, const std::vector<Entry>& columns, PivotMap& pivots, Diagram& out) {
    WorkingColumn<kBinary> coboundary(field_), reduction(field_);
    ReductionMatrix v_matrix;
    v_matrix.reserve(columns.size());
    v_matrix.start();
    std::vector<Entry> cofacets;
    for (std::size_t j = 0; j < columns.size(); ++j) {
      if ((j & 1023) == 0) check_cancel();
      const Entry sigma{columns[j].index, columns[j].diameter, 1};
      const Shape shape = shape_of(sigma.index, dim);
      const Shortcut shortcut =
          find_shortcut(sigma, shape, dim, [&](SimplexIndex tau) { return pivots.contains(tau); });
      if (shortcut.kind == Shortcut::kEmergent)
        pivots.insert(shortcut.tau.index, std::uint32_t(j), shortcut.tau.coefficient);
      if (shortcut.kind != Shortcut::kNone) {
        v_matrix.close_column();
        continue;
      }
      cofacets.clear();
      for_each_cofacet(sigma, shape.v, dim, false, [&](const Entry& c, VertexIndex, const Value*) {
        cofacets.push_back(c);
        return true;
      });
      coboundary.assign(cofacets);
      reduction.clear();
      while (true) {
        const auto pivot = coboundary.pivot();
        if (!pivot) {
          out.push_back({sigma.diameter, kInfinity, sigma.index, kNoSimplex});
          if (collect_cocycles()) {
            std::vector<Entry> chain;
            while (const auto e = reduction.pop_pivot()) chain.push_back(*e);
            record_cocycle(dim, sigma.index, chain);
          }
          break;
        }
        if (const auto* owner = pivots.find(pivot->index)) {
          const Coefficient factor = elimination_factor(pivot->coefficient, owner->coefficient);
          add_simplex(Entry{columns[owner->column].index, columns[owner->column].diameter, 1}, dim, factor,
                      coboundary, reduction);
          for (const Entry& e : v_matrix.column(owner->column)) add_simplex(e, dim, factor, coboundary, reduction);
          continue;
        }
        if (eliminate_with_apparent_facet(*pivot, sigma.index, dim, coboundary, reduction)) continue;
        pivots.insert(pivot->index, std::uint32_t(j), pivot->coefficient);
        while (const auto e = reduction.pop_pivot()) v_matrix.append(*e);
        if (pivot->diameter > sigma.diameter) {
          out.push_back({sigma.diameter, pivot->diameter, sigma.index, pivot->index});
          if (collect_cocycles()) record_cocycle(dim, sigma.index, v_matrix.open_column());
        }
        break;
      }
      v_matrix.close_column();
    }
  }

  // ---- parallel reduction ------------------------------------------------------
  //
  // Lock-free reduction after Morozov & Nigmetov: threads take columns in
  // order; pivot ownership lives in a concurrent map. A column meeting a pivot
  // owned by an earlier column (in reduction order) adds that column; meeting
  // one owned by a later column, it takes the pivot over by compare-and-swap and
  // the evicted column is reduced further by the same thread. Every column
  // operation adds an earlier column to a later one, so the final pairing is
  // the unique one the sequential reduction finds.
  //
  // A column's state is published as an immutable snapshot (its chain in V and
  // its pivot) before it claims a pivot, so readers that see the owner also
  // see a consistent column. Old snapshots are kept until the dimension ends.
  struct Snapshot {
    std::vector<Entry> chain;  // V column beyond the column's own simplex
    Entry pivot;               // index kNoSimplex: reduced to zero
  };

  struct ParallelState {
    ParallelState(std::size_t columns) : pivots(columns), state(columns) {}
    ConcurrentPivotMap pivots;
    std::vector<std::atomic<Snapshot*>> state;
  };

  struct ThreadScratch {
    explicit ThreadScratch(const PrimeField& f) : coboundary(f), reduction(f) {}
    WorkingColumn<kBinary> coboundary, reduction;
    std::vector<Entry> cofacets;
    std::vector<std::unique_ptr<Snapshot>> owned;
  };

  void reduce_parallel(Dimension dim, const std::vector<Entry>& columns, PivotMap& pivots, Diagram& out) {
    ParallelState shared(columns.size());
    std::atomic<std::size_t> next{0};
    std::vector<std::unique_ptr<ThreadScratch>> scratch;
    for (int t = 0; t < n_threads_; ++t) scratch.push_back(std::make_unique<ThreadScratch>(field_));
    std::vector<std::exception_ptr> errors(n_threads_);
    {
      std::vector<std::jthread> workers;
      for (int t = 0; t < n_threads_; ++t)
        workers.emplace_back([&, t] {
          try {
            for (std::size_t j; (j = next.fetch_add(1, std::memory_order_relaxed)) < columns.size();) {
              if ((j & 1023) == 0) check_cancel();
              std::optional<std::size_t> todo = j;
              while (todo) todo = reduce_column_shared(dim, columns, *todo, shared, *scratch[t]);
            }
          } catch (...) {
            errors[t] = std::current_exception();
            next.store(columns.size());
          }
        });
    }
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    // Report in column order, exactly as the sequential reduction does.
    for (std::size_t j = 0; j < columns.size(); ++j) {
      const Snapshot* snap = shared.state[j].load(std::memory_order_acquire);
      if (!snap) continue;  // apparent pair
      if (snap->pivot.index == kNoSimplex) {
        out.push_back({columns[j].diameter, kInfinity, columns[j].index, kNoSimplex});
        if (collect_cocycles()) record_cocycle(dim, columns[j].index, snap->chain);
        continue;
      }
      if (snap->pivot.diameter > columns[j].diameter) {
        out.push_back({columns[j].diameter, snap->pivot.diameter, columns[j].index, snap->pivot.index});
        if (collect_cocycles()) record_cocycle(dim, columns[j].index, snap->chain);
      }
      pivots.insert(snap->pivot.index, std::uint32_t(j), snap->pivot.coefficient);
    }
  }

  // Reduces column j; returns a column this one evicted from its pivot, if any.
  std::optional<std::size_t> reduce_column_shared(Dimension dim, const std::vector<Entry>& columns, std::size_t j,
                                                  ParallelState& shared, ThreadScratch& scratch) {
    auto& [coboundary, reduction, cofacets, owned] = scratch;
    const Entry sigma{columns[j].index, columns[j].diameter, 1};
    const Shape shape = shape_of(sigma.index, dim);
    auto publish = [&](const Entry& pivot) {
      auto snap = std::make_unique<Snapshot>();
      while (const auto e = reduction.pop_pivot()) snap->chain.push_back(*e);
      reduction.assign(snap->chain);
      snap->pivot = pivot;
      shared.state[j].store(snap.get(), std::memory_order_release);
      owned.push_back(std::move(snap));
    };
    auto claim = [&](ConcurrentPivotMap::Slot& slot, std::uint64_t expected, const Entry& pivot) {
      return slot.owner.compare_exchange_strong(expected, ConcurrentPivotMap::pack(std::uint32_t(j), pivot.coefficient),
                                                std::memory_order_acq_rel, std::memory_order_acquire);
    };
    const Snapshot* resume = shared.state[j].load(std::memory_order_acquire);
    reduction.clear();
    cofacets.clear();
    if (!resume) {
      const Shortcut shortcut = find_shortcut(sigma, shape, dim, [&](SimplexIndex tau) {
        return shared.pivots.owner(tau) != ConcurrentPivotMap::kUnowned;
      });
      if (shortcut.kind == Shortcut::kApparent) return std::nullopt;
      if (shortcut.kind == Shortcut::kEmergent) {
        publish(shortcut.tau);
        if (claim(shared.pivots.find_or_claim(shortcut.tau.index), ConcurrentPivotMap::kUnowned, shortcut.tau))
          return std::nullopt;
      }
    } else {
      reduction.assign(resume->chain);
      for (const Entry& e : resume->chain)
        for_each_cofacet_of(e, dim, [&](const Entry& c) { cofacets.push_back(c); });
    }
    for_each_cofacet(sigma, shape.v, dim, false, [&](const Entry& c, VertexIndex, const Value*) {
      cofacets.push_back(c);
      return true;
    });
    coboundary.assign(cofacets);
    while (true) {
      const auto pivot = coboundary.pivot();
      if (!pivot) {
        publish(Entry{kNoSimplex, 0, 0});
        return std::nullopt;
      }
      ConcurrentPivotMap::Slot* slot = shared.pivots.find(pivot->index);
      const std::uint64_t owner = slot ? slot->owner.load(std::memory_order_acquire) : ConcurrentPivotMap::kUnowned;
      if (owner != ConcurrentPivotMap::kUnowned) {
        const std::size_t k = ConcurrentPivotMap::column_of(owner);
        if (k < j) {
          const Snapshot* other = shared.state[k].load(std::memory_order_acquire);
          if (!other || other->pivot.index != pivot->index) continue;  // owner changing: look again
          const Coefficient factor = elimination_factor(pivot->coefficient, other->pivot.coefficient);
          add_simplex(Entry{columns[k].index, columns[k].diameter, 1}, dim, factor, coboundary, reduction);
          for (const Entry& e : other->chain) add_simplex(e, dim, factor, coboundary, reduction);
          continue;
        }
        if (k == j) return std::nullopt;
        publish(*pivot);
        if (claim(*slot, owner, *pivot)) return k;  // k must be reduced further
        continue;
      }
      if (eliminate_with_apparent_facet(*pivot, sigma.index, dim, coboundary, reduction)) continue;
      publish(*pivot);
      if (claim(shared.pivots.find_or_claim(pivot->index), ConcurrentPivotMap::kUnowned, *pivot)) return std::nullopt;
    }
  }

  // ---- representatives ----------------------------------------------------------

  bool collect_cocycles() const noexcept { return representatives_ && representatives_->cocycles; }

  // The cocycle of a reported pair: its column's simplex plus the chain V added to it.
  void record_cocycle(Dimension dim, SimplexIndex sigma, std::span<const Entry> chain) const {
    Cocycle cocycle;
    cocycle.reserve((chain.size() + 1) * std::size_t(dim + 2));
    const auto p = std::int64_t(field_.modulus());
    auto row = [&](SimplexIndex index, Coefficient coefficient) {
      VertexIndex v[kMaxVertices];
      coder_.decode(index, dim, v);
      cocycle.insert(cocycle.end(), v, v + dim + 1);
      const std::int64_t c = kBinary ? 1 : std::int64_t(coefficient);
      cocycle.push_back(2 * c > p ? c - p : c);
    };
    row(sigma, 1);
    for (const Entry& e : chain) row(e.index, e.coefficient);
    representatives_->cocycle[std::size_t(dim)].push_back(std::move(cocycle));
  }

  // The two vertices of a simplex's longest edge (its diameter), {-1, -1} for none.
  std::array<VertexIndex, 2> critical_edge(SimplexIndex index, Dimension dim) const {
    if (index == kNoSimplex) return {-1, -1};
    const Shape s = shape_of(index, dim);
    int a = 0, b = 1;
    for (int i = 0; i <= dim; ++i)
      for (int k = i + 1; k <= dim; ++k)
        if (s.d[i][k] > s.d[a][b]) a = i, b = k;
    return {s.v[a], s.v[b]};
  }

  std::vector<std::vector<std::array<VertexIndex, 4>>> critical_edges(const Diagrams& diagrams) const {
    std::vector<std::vector<std::array<VertexIndex, 4>>> out(diagrams.size());
    for (std::size_t dim = 0; dim < diagrams.size(); ++dim)
      for (const PersistencePair& pair : diagrams[dim]) {
        const auto birth = dim == 0 ? std::array<VertexIndex, 2>{VertexIndex(pair.birth_simplex), -1}
                                    : critical_edge(pair.birth_simplex, Dimension(dim));
        const auto death = critical_edge(pair.death_simplex, Dimension(dim + 1));
        out[dim].push_back({birth[0], birth[1], death[0], death[1]});
      }
    return out;
  }

  template <class F>
  void for_each_cofacet_of(const Entry& simplex, Dimension dim, F&& f) const {
    VertexIndex v[kMaxVertices];
    coder_.decode(simplex.index, dim, v);
    for_each_cofacet(simplex, v, dim, false, [&](const Entry& c, VertexIndex, const Value*) {
      f(c);
      return true;
    });
  }

  int n_threads_;
  Access dist_;
  VertexIndex n_;
  Value threshold_;
  Dimension max_dim_;
  BinomialTable binomial_;
  SimplexCoder coder_;
  const PrimeField& field_;
  const std::atomic<bool>* cancel_;
  Representatives* representatives_;
};

}  // namespace tda::rips::detail
