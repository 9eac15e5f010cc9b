// Bottleneck and Wasserstein distances between persistence diagrams.
//
// Reduction to bipartite matching (Kerber, Morozov, Nigmetov, "Geometry helps to
// compare persistence diagrams"): every point may also go to the diagonal, and the
// diagonal copies of the other diagram absorb whatever is left at zero cost.
//
// Bottleneck: for a radius e call a point "far" if it is more than e away from
// the diagonal. A matching of cost <= e exists iff the e-close pairs admit a
// matching covering the far points of both diagrams; by the Mendelsohn-Dulmage
// theorem this holds iff one matching covers the far points of the first diagram
// and another covers those of the second. Each test is Hopcroft-Karp on the
// e-close graph, whose edges are L-infinity range queries on a static kd-tree.
// Bisection on e narrows the answer to an interval; the answer is one of the
// pairwise distances or half-persistences in it, found by bisection over those.
// A matching of that cost is then assembled from the two covering matchings
// along the constructive proof of the theorem.
//
// Wasserstein (L_q ground metric, q = internal_p): small problems are solved
// exactly (Hungarian method); large ones by Bertsekas' auction with epsilon-scaling.
// Diagonal items are interchangeable, so a real bidder only looks at the two
// cheapest of them, and the diagonal bidders (identical) at the two cheapest items
// for them (heaps keyed by price); a real bidder's best real items come from a
// kd-tree pruned by lower bounds of prices (the L_q distance to a node's box).
// After each phase the prices give a dual lower bound
//   OPT >= sum_i min_j (c_ij + p_j) - sum_j p_j,
// and the auction stops once the assignment is within (1 + delta)^p of it: a
// bound that holds for any costs, so for every q.
#include "tda/distances.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace tda::distances {
namespace {

using Points = std::vector<Point>;
using Id = std::uint32_t;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr Id kNoId = std::numeric_limits<Id>::max();

thread_local AuctionStats g_stats;

// Norms of coordinate gaps dx, dy >= 0, and the factor 2^(1/q) by which the L_q
// distance of (b, d) to its orthogonal projection on the diagonal exceeds |d - b| / 2.
// Two types rather than one with a branch on q, so that the default L-infinity
// costs keep their inner loops free of it (same code and speed as before L_q).
struct MaxNorm {
  double operator()(double dx, double dy) const { return std::max(dx, dy); }
  static constexpr double diagonal_scale() { return 1.0; }
};

class LqNorm {  // 1 <= q < inf
 public:
  explicit LqNorm(double q) : q_(q), diagonal_scale_(std::exp2(1 / q)) {}
  // hi * (1 + (lo/hi)^q)^(1/q): no power overflows before the norm does; exact when
  // one gap is 0 (so on a common birth every L_q distance is the gap of deaths).
  double operator()(double dx, double dy) const {
    if (q_ == 1) return dx + dy;
    const double hi = std::max(dx, dy);
    if (hi == 0 || hi == kInf) return hi;
    const double r = std::min(dx, dy) / hi;
    return hi * (q_ == 2 ? std::sqrt(1 + r * r) : std::pow(1 + std::pow(r, q_), 1 / q_));
  }
  double diagonal_scale() const { return diagonal_scale_; }

 private:
  double q_, diagonal_scale_;
};

double linf(const Point& a, const Point& b) {
  return MaxNorm{}(std::abs(a.birth - b.birth), std::abs(a.death - b.death));
}
// Halving first: d - b overflows for huge opposite values, d/2 - b/2 cannot (and
// halving is exact above the subnormal range, so the result is the same otherwise).
double to_diagonal(const Point& p) { return std::abs(p.death / 2 - p.birth / 2); }

// ---------------------------------------------------------------------------
// Points with an infinite coordinate, grouped by kind and matched on the line.

int coordinate_kind(double x) { return x == -kInf ? 1 : (x == kInf ? 2 : 0); }

struct Parts {
  Points finite;
  std::vector<Id> finite_id;  // position of each finite point in the input
  std::array<std::vector<double>, 9> infinite;  // kind 3*kind(birth)+kind(death) -> finite coordinate
  std::array<std::vector<Id>, 9> infinite_id;
  std::vector<Id> on_diagonal;  // points with birth == death
};

Parts split(Diagram d) {
  Parts parts;
  for (Id id = 0; id < d.size(); ++id) {
    const Point& q = d[id];
    if (std::isnan(q.birth) || std::isnan(q.death)) throw std::invalid_argument("diagram: contains NaN");
    if (q.birth == q.death) {  // on the diagonal: contributes nothing
      parts.on_diagonal.push_back(id);
      continue;
    }
    const int kb = coordinate_kind(q.birth), kd = coordinate_kind(q.death);
    if (kb == 0 && kd == 0) {
      parts.finite.push_back(q);
      parts.finite_id.push_back(id);
    } else {
      parts.infinite[3 * kb + kd].push_back(kb == 0 ? q.birth : (kd == 0 ? q.death : 0.0));
      parts.infinite_id[3 * kb + kd].push_back(id);
    }
  }
  return parts;
}

// Appends (a's point i, b's point j) by input position; kNoId stands for the diagonal.
void add_pair(Matching* matching, const std::vector<Id>& a_id, Id i, const std::vector<Id>& b_id, Id j) {
  matching->push_back({i == kNoId ? -1 : std::int64_t(a_id[i]), j == kNoId ? -1 : std::int64_t(b_id[j])});
}

// Everything but the finite off-diagonal points: points on the diagonal stay there,
// infinite points are matched within their kind. On a line the sorted matching is
// optimal for every convex cost of the gap, and for the largest gap. Calls
// cost(gap) per matched pair and, with `matching`, records the pairs; false (and
// `matching` left empty) if some kind has different counts.
template <class F>
bool match_outside_finite(const Parts& a, const Parts& b, F&& cost, Matching* matching) {
  if (matching) {
    matching->clear();
    for (Id i = 0; i < a.on_diagonal.size(); ++i) add_pair(matching, a.on_diagonal, i, {}, kNoId);
    for (Id j = 0; j < b.on_diagonal.size(); ++j) add_pair(matching, {}, kNoId, b.on_diagonal, j);
  }
  for (std::size_t k = 1; k < a.infinite.size(); ++k) {
    auto &x = a.infinite[k], &y = b.infinite[k];
    if (x.size() != y.size()) {
      if (matching) matching->clear();
      return false;
    }
    auto sorted_order = [](const std::vector<double>& v) {
      std::vector<Id> order(v.size());
      for (Id i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](Id i, Id j) { return v[i] < v[j]; });
      return order;
    };
    const auto ox = sorted_order(x), oy = sorted_order(y);
    for (std::size_t i = 0; i < x.size(); ++i) {
      cost(std::abs(x[ox[i]] - y[oy[i]]));
      if (matching) add_pair(matching, a.infinite_id[k], ox[i], b.infinite_id[k], oy[i]);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// Bottleneck.

// Static kd-tree for L-infinity range queries (an axis-aligned square around q).
// Built once per diagram; the same tree serves every radius of the search.
class BoxTree {
 public:
  static constexpr Id kLeafSize = 8;

  explicit BoxTree(const Points& pts) : pts_(pts), order_(pts.size()) {
    for (Id i = 0; i < order_.size(); ++i) order_[i] = i;
    if (!pts.empty()) build(0, Id(pts.size()), 0);
  }

  std::size_t size() const { return pts_.size(); }
  const Point& point(Id id) const { return pts_[id]; }

  // Calls f(id) for every point within radius of q until f returns true.
  template <class F>
  bool find_within(const Point& q, double radius, F&& f) const {
    return !nodes_.empty() && visit(0, q, radius, f);
  }

 private:
  struct Node {
    double x0, x1, y0, y1;
    Id begin, end, left = kNoId, right = kNoId;  // leaf: no children
  };

  Id build(Id begin, Id end, int axis) {
    Node n{kInf, -kInf, kInf, -kInf, begin, end};
    for (Id k = begin; k < end; ++k) {
      const Point& p = pts_[order_[k]];
      n.x0 = std::min(n.x0, p.birth);
      n.x1 = std::max(n.x1, p.birth);
      n.y0 = std::min(n.y0, p.death);
      n.y1 = std::max(n.y1, p.death);
    }
    const Id v = Id(nodes_.size());
    nodes_.push_back(n);
    if (end - begin <= kLeafSize) return v;
    const Id mid = begin + (end - begin) / 2;
    std::nth_element(order_.begin() + begin, order_.begin() + mid, order_.begin() + end, [&](Id a, Id b) {
      return axis == 0 ? pts_[a].birth < pts_[b].birth : pts_[a].death < pts_[b].death;
    });
    const Id left = build(begin, mid, 1 - axis);
    const Id right = build(mid, end, 1 - axis);
    nodes_[v].left = left;
    nodes_[v].right = right;
    return v;
  }

  template <class F>
  bool visit(Id v, const Point& q, double r, F& f) const {
    const Node& n = nodes_[v];
    if (n.x0 > q.birth + r || n.x1 < q.birth - r || n.y0 > q.death + r || n.y1 < q.death - r) return false;
    if (n.left == kNoId) {
      for (Id k = n.begin; k < n.end; ++k) {
        const Id id = order_[k];
        if (linf(q, pts_[id]) <= r && f(id)) return true;
      }
      return false;
    }
    return visit(n.left, q, r, f) || visit(n.right, q, r, f);
  }

  const Points& pts_;
  std::vector<Id> order_;
  std::vector<Node> nodes_;
};

// Hopcroft-Karp: can every point of `left` farther than radius from the diagonal be
// matched to a distinct point of `right` within radius?
class FarPointCover {
 public:
  FarPointCover(const Points& left, const BoxTree& right, double radius, const CancelFlag* cancel)
      : radius_(radius), grid_(right), cancel_(cancel) {
    for (Id id = 0; id < left.size(); ++id)
      if (to_diagonal(left[id]) > radius) {
        far_.push_back(left[id]);
        far_id_.push_back(id);
      }
  }

  // After exists() returned true: the right point matched to each of the n_left left
  // points (kNoId: unmatched, not far).
  std::vector<Id> partners(std::size_t n_left) const {
    std::vector<Id> partner(n_left, kNoId);
    for (Id l = 0; l < far_.size(); ++l) partner[far_id_[l]] = match_left_[l];
    return partner;
  }

  bool exists() {
    const std::size_t n = far_.size();
    if (n == 0) return true;
    if (n > grid_.size()) return false;
    match_left_.assign(n, kNoId);
    match_right_.assign(grid_.size(), kNoId);
    std::size_t matched = 0;
    CancelPoll poll(cancel_, 1024);
    for (Id l = 0; l < n; ++l) {  // greedy start
      poll();
      const bool found = grid_.find_within(far_[l], radius_, [&](Id r) {
        if (match_right_[r] != kNoId) return false;
        match_right_[r] = l;
        match_left_[l] = r;
        return true;
      });
      matched += found;
    }
    layer_.resize(n);
    while (matched < n && bfs())
      for (Id l = 0; l < n; ++l) {
        poll();
        if (match_left_[l] == kNoId && dfs(l)) ++matched;
      }
    return matched == n;
  }

 private:
  static constexpr Id kUnreached = kNoId;

  // Layers of alternating paths from the free left vertices; true if a free right
  // vertex is reachable (its layer is free_layer_).
  bool bfs() {
    std::deque<Id> queue;
    for (Id l = 0; l < far_.size(); ++l) {
      layer_[l] = match_left_[l] == kNoId ? 0 : kUnreached;
      if (layer_[l] == 0) queue.push_back(l);
    }
    free_layer_ = kUnreached;
    CancelPoll poll(cancel_, 1024);
    while (!queue.empty()) {
      poll();
      const Id l = queue.front();
      queue.pop_front();
      if (layer_[l] >= free_layer_) continue;
      grid_.find_within(far_[l], radius_, [&](Id r) {
        const Id next = match_right_[r];
        if (next == kNoId) {
          if (free_layer_ == kUnreached) free_layer_ = layer_[l] + 1;
        } else if (layer_[next] == kUnreached) {
          layer_[next] = layer_[l] + 1;
          queue.push_back(next);
        }
        return false;
      });
    }
    return free_layer_ != kUnreached;
  }

  bool dfs(Id l) {
    const bool found = grid_.find_within(far_[l], radius_, [&](Id r) {
      const Id next = match_right_[r];
      const bool augment = next == kNoId ? layer_[l] + 1 == free_layer_
                                         : (layer_[next] == layer_[l] + 1 && dfs(next));
      if (augment) {
        match_right_[r] = l;
        match_left_[l] = r;
      }
      return augment;
    });
    if (!found) layer_[l] = kUnreached;
    return found;
  }

  double radius_;
  const BoxTree& grid_;
  const CancelFlag* cancel_;
  Points far_;
  std::vector<Id> far_id_;  // position of each far point in `left`
  std::vector<Id> match_left_, match_right_, layer_;
  Id free_layer_ = kUnreached;
};

class BottleneckSearch {
 public:
  BottleneckSearch(const Points& a, const Points& b, const CancelFlag* cancel)
      : a_(a), b_(b), tree_a_(a), tree_b_(b), cancel_(cancel) {}

  bool at_most(double radius) const {
    check_cancel(cancel_);
    return FarPointCover(a_, tree_b_, radius, cancel_).exists() && FarPointCover(b_, tree_a_, radius, cancel_).exists();
  }

  double solve(double delta) const {
    double hi = 0;  // everything to the diagonal
    for (const Point& p : a_) hi = std::max(hi, to_diagonal(p));
    for (const Point& p : b_) hi = std::max(hi, to_diagonal(p));
    if (hi == 0) return 0;
    if (at_most(0)) return 0;
    // Bisection keeps the answer in (lo, hi]: lo infeasible, hi feasible.
    double lo = 0;
    const double stop = delta > 0 ? delta : 1e-4;
    for (int iter = 0; iter < 64 && !(lo > 0 && hi <= (1 + stop) * lo); ++iter) {
      const double mid = lo + (hi - lo) / 2;
      (at_most(mid) ? hi : lo) = mid;
    }
    if (delta > 0) return hi;
    // The answer is a half-persistence or a pairwise distance in the interval.
    std::vector<double> candidates;
    auto consider = [&](double c) {
      if (c > lo && c <= hi) candidates.push_back(c);
    };
    for (const Point& p : a_) consider(to_diagonal(p));
    for (const Point& p : b_) consider(to_diagonal(p));
    for (const Point& p : a_)
      tree_b_.find_within(p, hi, [&](Id j) {
        consider(linf(p, tree_b_.point(j)));
        return false;
      });
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    if (candidates.empty()) return hi;
    std::size_t first = 0, last = candidates.size();  // smallest feasible in [first, last)
    while (last - first > 1) {
      const std::size_t mid = first + (last - first - 1) / 2;
      if (at_most(candidates[mid]))
        last = mid + 1;
      else
        first = mid + 1;
    }
    return candidates[first];
  }

  // A matching of cost <= radius, for a radius at which at_most() holds: the partner
  // in b of each point of a (kNoId: the diagonal). Mendelsohn-Dulmage, constructively:
  // m1 covers a's far points, m2 b's. In the union of the two matchings every
  // component is a path or an even cycle, and m1's edges serve it unless it holds a
  // point of b covered by m2 alone (which may be far): that one starts a path
  // alternating m2, m1, m2, ... along which m2's edges are taken instead. Every
  // point left out is covered by a single matching that does not need it, so is
  // within radius of the diagonal.
  std::vector<Id> matching(double radius) const {
    FarPointCover cover_a(a_, tree_b_, radius, cancel_), cover_b(b_, tree_a_, radius, cancel_);
    if (!cover_a.exists() || !cover_b.exists()) throw std::logic_error("bottleneck: radius not feasible");
    const std::vector<Id> m1 = cover_a.partners(a_.size()), m2 = cover_b.partners(b_.size());
    std::vector<Id> partner = m1, covered_by_m1(b_.size(), kNoId);
    for (Id i = 0; i < m1.size(); ++i)
      if (m1[i] != kNoId) covered_by_m1[m1[i]] = i;
    for (Id start = 0; start < b_.size(); ++start) {
      if (m2[start] == kNoId || covered_by_m1[start] != kNoId) continue;
      for (Id j = start; j != kNoId && m2[j] != kNoId;) {
        const Id i = m2[j];
        const Id displaced = m1[i];  // its m2 edge, if any, is taken next
        partner[i] = j;
        j = displaced;
      }
    }
    return partner;
  }

 private:
  const Points& a_;
  const Points& b_;
  BoxTree tree_a_, tree_b_;
  const CancelFlag* cancel_;
};

// ---------------------------------------------------------------------------
// Wasserstein.

struct PowerCost {
  double p;
  double operator()(double x) const {
    if (p == 1) return x;
    if (p == 2) return x * x;
    return std::pow(x, p);
  }
};

// The one cost function of every Wasserstein path: a pair costs the p-th power of
// its L_q distance; a point sent to the diagonal goes to its orthogonal projection,
// L_q distance |d - b| / 2 * 2^(1/q) (GUDHI's definition).
template <class Norm>
class Cost {
 public:
  Cost(double p, Norm norm) : pw_{p}, norm_(norm) {}

  double p() const { return pw_.p; }
  double power(double x) const { return pw_(x); }
  // The L_q distance to the diagonal, before the power.
  double distance_to_diagonal(const Point& x) const { return to_diagonal(x) * norm_.diagonal_scale(); }
  double diagonal(const Point& x) const { return pw_(distance_to_diagonal(x)); }
  // Coordinate gaps dx, dy >= 0 (also a lower bound for a box of points).
  double gaps(double dx, double dy) const { return pw_(norm_(dx, dy)); }
  double pair(const Point& x, const Point& y) const {
    return gaps(std::abs(x.birth - y.birth), std::abs(x.death - y.death));
  }

 private:
  PowerCost pw_;
  Norm norm_;
};

// Rows: points of a, then n_b diagonal copies; columns: points of b, then n_a
// diagonal copies. Any diagonal copy costs the distance to the diagonal.
template <class C>
struct AssignmentCost {
  const Points& a;
  const Points& b;
  const C& cost;
  double operator()(std::size_t i, std::size_t j) const {
    const bool real_i = i < a.size(), real_j = j < b.size();
    if (real_i && real_j) return cost.pair(a[i], b[j]);
    if (real_i) return cost.diagonal(a[i]);
    if (real_j) return cost.diagonal(b[j]);
    return 0.0;
  }
};

// Hungarian method with potentials, O(n^3) (shortest augmenting paths).
// With `assignment`, also the row assigned to each column (0-based).
template <class C>
double hungarian(const AssignmentCost<C>& cost, const CancelFlag* cancel,
                 std::vector<std::size_t>* assignment = nullptr) {
  const std::size_t n = cost.a.size() + cost.b.size();
  std::vector<double> u(n + 1, 0), v(n + 1, 0), min_slack(n + 1);
  std::vector<std::size_t> row_of(n + 1, 0), way(n + 1, 0);
  std::vector<char> used(n + 1);
  for (std::size_t i = 1; i <= n; ++i) {
    check_cancel(cancel);  // a row costs O(n^2)
    row_of[0] = i;
    std::size_t j0 = 0;
    std::fill(min_slack.begin(), min_slack.end(), kInf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const std::size_t i0 = row_of[j0];
      double step = kInf;
      std::size_t j1 = 0;
      for (std::size_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double slack = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (slack < min_slack[j]) {
          min_slack[j] = slack;
          way[j] = j0;
        }
        if (min_slack[j] < step) {
          step = min_slack[j];
          j1 = j;
        }
      }
      for (std::size_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[row_of[j]] += step;
          v[j] -= step;
        } else {
          min_slack[j] -= step;
        }
      }
      j0 = j1;
    } while (row_of[j0] != 0);
    do {
      const std::size_t j1 = way[j0];
      row_of[j0] = row_of[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  double total = 0;
  for (std::size_t j = 1; j <= n; ++j) total += cost(row_of[j] - 1, j - 1);
  if (assignment) {
    assignment->resize(n);
    for (std::size_t j = 1; j <= n; ++j) (*assignment)[j - 1] = row_of[j] - 1;
  }
  return total;
}

// kd-tree over the items of the auction that are real points, for the best and
// second-best offers of a real bidder: minimise cost.pair(q, b) + price(b). Each
// node keeps its bounding box and a lower bound on its prices; prices only rise
// during a phase, so a stale bound stays a valid bound and is refreshed upwards
// on every price change.
class PricedKdTree {
 public:
  static constexpr Id kLeafSize = 8;

  // Reorders pts so that every node covers a contiguous range.
  explicit PricedKdTree(Points& pts) : pts_(pts) {
    if (!pts.empty()) build(0, Id(pts.size()), 0, kNoId);
    leaf_of_.resize(pts.size());
    for (Id v = 0; v < nodes_.size(); ++v)
      if (nodes_[v].left == kNoId)
        for (Id k = nodes_[v].begin; k < nodes_[v].end; ++k) leaf_of_[k] = v;
  }

  template <class C, class Offer>
  void search(const Point& q, const C& cost, const std::vector<double>& price, double& bound,
              Offer&& offer) const {
    if (!nodes_.empty()) visit(0, q, cost, price, bound, offer);
  }

  void price_rose(Id item, const std::vector<double>& price) {
    Id v = leaf_of_[item];
    double m = kInf;
    for (Id k = nodes_[v].begin; k < nodes_[v].end; ++k) m = std::min(m, price[k]);
    nodes_[v].min_price = m;
    for (v = nodes_[v].parent; v != kNoId; v = nodes_[v].parent) {
      const double up = std::min(nodes_[nodes_[v].left].min_price, nodes_[nodes_[v].right].min_price);
      if (up == nodes_[v].min_price) break;
      nodes_[v].min_price = up;
    }
  }

  void reset_prices(const std::vector<double>& price) {
    for (Id v = Id(nodes_.size()); v-- > 0;) {
      Node& n = nodes_[v];
      if (n.left == kNoId) {
        n.min_price = kInf;
        for (Id k = n.begin; k < n.end; ++k) n.min_price = std::min(n.min_price, price[k]);
      } else {
        n.min_price = std::min(nodes_[n.left].min_price, nodes_[n.right].min_price);
      }
    }
  }

 private:
  struct Node {
    double x0, x1, y0, y1;
    double min_price = 0;
    Id begin, end, left = kNoId, right = kNoId, parent;
  };

  Id build(Id begin, Id end, int axis, Id parent) {
    const Id v = Id(nodes_.size());
    nodes_.push_back({});
    Node n{kInf, -kInf, kInf, -kInf, 0.0, begin, end, kNoId, kNoId, parent};
    for (Id k = begin; k < end; ++k) {
      n.x0 = std::min(n.x0, pts_[k].birth);
      n.x1 = std::max(n.x1, pts_[k].birth);
      n.y0 = std::min(n.y0, pts_[k].death);
      n.y1 = std::max(n.y1, pts_[k].death);
    }
    if (end - begin > kLeafSize) {
      const Id mid = begin + (end - begin) / 2;
      auto coord = [axis](const Point& p) { return axis == 0 ? p.birth : p.death; };
      std::nth_element(pts_.begin() + begin, pts_.begin() + mid, pts_.begin() + end,
                       [&](const Point& a, const Point& b) { return coord(a) < coord(b); });
      n.left = build(begin, mid, 1 - axis, v);
      n.right = build(mid, end, 1 - axis, v);
    }
    nodes_[v] = n;
    return v;
  }

  template <class C>
  double lower_bound(const Node& n, const Point& q, const C& cost) const {
    const double dx = std::max({n.x0 - q.birth, q.birth - n.x1, 0.0});
    const double dy = std::max({n.y0 - q.death, q.death - n.y1, 0.0});
    return cost.gaps(dx, dy) + n.min_price;
  }

  template <class C, class Offer>
  void visit(Id v, const Point& q, const C& cost, const std::vector<double>& price, double& bound,
             Offer& offer) const {
    const Node& n = nodes_[v];
    if (n.left == kNoId) {
      for (Id k = n.begin; k < n.end; ++k) {
        const double c = cost.pair(q, pts_[k]) + price[k];
        if (c < bound) offer(c, k);
      }
      return;
    }
    const double bl = lower_bound(nodes_[n.left], q, cost), br = lower_bound(nodes_[n.right], q, cost);
    const Id first = bl <= br ? n.left : n.right, second = bl <= br ? n.right : n.left;
    if (std::min(bl, br) < bound) visit(first, q, cost, price, bound, offer);
    if (std::max(bl, br) < bound) visit(second, q, cost, price, bound, offer);
  }

  Points& pts_;
  std::vector<Node> nodes_;
  std::vector<Id> leaf_of_;
};

// Binary min-heap over ids 0..n-1 whose keys only increase; the two smallest
// entries are the root and the smaller of its children.
class RisingKeyHeap {
 public:
  explicit RisingKeyHeap(std::vector<double> keys) : key_(std::move(keys)), heap_(key_.size()), pos_(key_.size()) {
    for (Id i = 0; i < heap_.size(); ++i) heap_[i] = i;
    std::sort(heap_.begin(), heap_.end(), [&](Id a, Id b) { return key_[a] < key_[b]; });  // sorted is a heap
    for (Id k = 0; k < heap_.size(); ++k) pos_[heap_[k]] = k;
  }

  double key(Id id) const { return key_[id]; }

  void raise(Id id, double key) {
    key_[id] = key;
    Id k = pos_[id];
    const Id n = Id(heap_.size());
    for (;;) {
      Id child = 2 * k + 1;
      if (child >= n) break;
      if (child + 1 < n && key_[heap_[child + 1]] < key_[heap_[child]]) ++child;
      if (!(key_[heap_[child]] < key)) break;
      heap_[k] = heap_[child];
      pos_[heap_[k]] = k;
      k = child;
    }
    heap_[k] = id;
    pos_[id] = k;
  }

  // Calls f(key, id) for the smallest and the second smallest entries.
  template <class F>
  void two_smallest(F&& f) const {
    if (heap_.empty()) return;
    f(key_[heap_[0]], heap_[0]);
    if (heap_.size() == 2) f(key_[heap_[1]], heap_[1]);
    if (heap_.size() > 2) {
      const Id c = key_[heap_[2]] < key_[heap_[1]] ? heap_[2] : heap_[1];
      f(key_[c], c);
    }
  }

 private:
  std::vector<double> key_;
  std::vector<Id> heap_, pos_;
};

// Auction for min-cost assignment. Bidders: points of a (0..na-1), then nb
// identical diagonal bidders. Items: points of b (0..nb-1), then na
// interchangeable diagonal items.
template <class C>
class Auction {
 public:
  // b is reordered (by the kd-tree) before its diagonal costs are taken.
  Auction(const Points& a, Points& b, const C& cost, const CancelFlag* cancel)
      : cancel_(cancel), a_(a), b_(b), tree_(b), cost_(cost), na_(a.size()), nb_(b.size()),
        diag_a_(diagonal_costs(a, cost)), diag_b_(diagonal_costs(b, cost)),
        diagonal_items_(std::vector<double>(na_, 0.0)), for_diagonal_bidders_(diag_b_) {
    price_.assign(na_ + nb_, 0.0);
    tree_.reset_prices(price_);
  }

  // Returns the cost of an assignment within (1 + delta)^p of the optimum, given
  // the exact cost `fixed` that is added to it (for the stopping rule).
  double solve(double delta, double fixed) {
    double top = 0;
    for (double c : diag_a_) top = std::max(top, c);
    for (double c : diag_b_) top = std::max(top, c);
    if (top == 0 && nb_ > 0 && na_ > 0) top = 1;
    if (top == 0) return 0;
    const double factor = std::pow(1 + delta, cost_.p());
    double eps = top / 4;
    double primal = 0;
    for (int phase = 0; phase < 64; ++phase) {
      ++g_stats.phases;
      run_phase(eps);
      g_stats.bids += std::exchange(bids_, 0);
      primal = assignment_cost();
      const double lower = dual_bound();
      if (primal + fixed <= factor * (lower + fixed) || primal - lower <= 1e-15 * top) break;
      // Next epsilon: at most a fifth, and small enough for the gap to close.
      eps = std::min(eps / 5, std::max((primal - lower) / double(na_ + nb_), eps / 50));
    }
    return primal;
  }

 private:
  struct Bid {
    double best = kInf, second = kInf;
    Id item = kNoId;
    void offer(double value, Id j) {
      if (value < second) {
        if (value < best) {
          second = best;
          best = value;
          item = j;
        } else {
          second = value;
        }
      }
    }
  };

  static std::vector<double> diagonal_costs(const Points& pts, const C& cost) {
    std::vector<double> c;
    for (const Point& q : pts) c.push_back(cost.diagonal(q));
    return c;
  }

  Bid best_for_real(Id i) const {
    Bid bid;
    diagonal_items_.two_smallest([&](double p, Id k) { bid.offer(diag_a_[i] + p, Id(nb_ + k)); });
    tree_.search(a_[i], cost_, price_, bid.second, [&](double c, Id j) { bid.offer(c, j); });
    return bid;
  }

  Bid best_for_diagonal() const {
    Bid bid;
    for_diagonal_bidders_.two_smallest([&](double c, Id j) { bid.offer(c, j); });
    diagonal_items_.two_smallest([&](double p, Id k) { bid.offer(p, Id(nb_ + k)); });
    return bid;
  }

  void set_price(Id j, double value) {
    price_[j] = value;
    if (j < nb_) {
      for_diagonal_bidders_.raise(j, diag_b_[j] + value);
      tree_.price_rose(j, price_);
    } else {
      diagonal_items_.raise(j - Id(nb_), value);
    }
  }

  void run_phase(double eps) {
    const std::size_t n = na_ + nb_;
    owner_.assign(n, kNoId);
    item_of_.assign(n, kNoId);
    std::deque<Id> unassigned;
    for (Id i = 0; i < n; ++i) unassigned.push_back(i);
    CancelPoll poll(cancel_, 4096);
    while (!unassigned.empty()) {
      poll();
      const Id i = unassigned.front();
      unassigned.pop_front();
      const Bid bid = i < na_ ? best_for_real(i) : best_for_diagonal();
      ++bids_;
      const double second = bid.second == kInf ? bid.best : bid.second;
      const Id j = bid.item;
      set_price(j, price_[j] + (second - bid.best) + eps);
      if (owner_[j] != kNoId) {
        item_of_[owner_[j]] = kNoId;
        unassigned.push_back(owner_[j]);
      }
      owner_[j] = i;
      item_of_[i] = j;
    }
  }

  double cost(Id i, Id j) const {
    const bool real_i = i < na_, real_j = j < nb_;
    if (real_i && real_j) return cost_.pair(a_[i], b_[j]);
    if (real_i) return diag_a_[i];
    if (real_j) return diag_b_[j];
    return 0.0;
  }

  double assignment_cost() const {
    double total = 0;
    for (Id i = 0; i < na_ + nb_; ++i) total += cost(i, item_of_[i]);
    return total;
  }

  double dual_bound() const {
    double total = 0;
    for (Id i = 0; i < na_; ++i) total += best_for_real(i).best;
    if (nb_ > 0) total += double(nb_) * best_for_diagonal().best;
    for (double p : price_) total -= p;
    return total;
  }

  const CancelFlag* cancel_;
  const Points& a_;
  const Points& b_;
  PricedKdTree tree_;
  C cost_;
  std::size_t na_, nb_;
  std::vector<double> diag_a_, diag_b_, price_;
  RisingKeyHeap diagonal_items_;        // diagonal item -> price
  RisingKeyHeap for_diagonal_bidders_;  // real item -> its cost for a diagonal bidder + price
  std::vector<Id> owner_, item_of_;
  std::uint64_t bids_ = 0;
};

constexpr std::size_t kExactAssignmentSize = 256;

// When every point of both diagrams is born at the same value (H0 of a Rips
// filtration: all at 0), two points are |d - d'| apart in every L_q norm and the
// problem lives on a line. For a convex cost of |d - d'|, some optimal matching
// pairs the sorted deaths of its matched points in order (crossing pairs can be
// uncrossed at no loss), so a dynamic programme over the two sorted sequences --
// match the next two, or send the next point of either to the diagonal -- is
// exact, in O(|a| |b|) time.
template <class C>
std::optional<double> same_birth_assignment(const Points& a, const Points& b, const C& cost,
                                           const CancelFlag* cancel) {
  const double birth = a.front().birth;
  for (const Points* pts : {&a, &b})
    for (const Point& q : *pts)
      if (q.birth != birth) return std::nullopt;
  auto deaths = [](const Points& pts) {
    std::vector<double> d;
    d.reserve(pts.size());
    for (const Point& q : pts) d.push_back(q.death);
    std::sort(d.begin(), d.end());
    return d;
  };
  const std::vector<double> da = deaths(a), db = deaths(b);
  std::vector<double> diagonal_b(db.size()), row(db.size() + 1), next(db.size() + 1);
  for (std::size_t j = 0; j < db.size(); ++j) diagonal_b[j] = cost.diagonal({birth, db[j]});
  row[0] = 0;
  for (std::size_t j = 0; j < db.size(); ++j) row[j + 1] = row[j] + diagonal_b[j];
  CancelPoll poll(cancel, 64);
  for (double x : da) {
    poll();
    const double diagonal_x = cost.diagonal({birth, x});
    next[0] = row[0] + diagonal_x;
    for (std::size_t j = 0; j < db.size(); ++j)
      next[j + 1] =
          std::min({row[j + 1] + diagonal_x, next[j] + diagonal_b[j], row[j] + cost.power(std::abs(x - db[j]))});
    std::swap(row, next);
  }
  return row.back();
}

// wasserstein() once the points off the finite plane are matched (their gaps in
// `gaps`): the finite points, for one ground metric.
template <class C>
double finite_wasserstein(Parts& pa, Parts& pb, const std::vector<double>& gaps, const C& cost, double delta,
                          const CancelFlag* cancel, Matching* matching) {
  Points& fa = pa.finite;
  Points& fb = pb.finite;
  // Work in units of 2^e, about the largest distance to the diagonal (an exact
  // rescaling): p-th powers and the auction's epsilon steps stay in range.
  double largest = 0;
  for (const Points* pts : {&fa, &fb})
    for (const Point& q : *pts) largest = std::max(largest, cost.distance_to_diagonal(q));
  for (double g : gaps) largest = std::max(largest, g);
  if (largest == 0) {  // every point on the diagonal or matched at distance 0
    if (matching) {
      for (Id i = 0; i < fa.size(); ++i) add_pair(matching, pa.finite_id, i, {}, kNoId);
      for (Id j = 0; j < fb.size(); ++j) add_pair(matching, {}, kNoId, pb.finite_id, j);
    }
    return 0;
  }
  if (!std::isfinite(largest)) return kInf;
  int e = 0;
  std::frexp(largest, &e);
  for (Points* pts : {&fa, &fb})
    for (Point& q : *pts) q = {std::ldexp(q.birth, -e), std::ldexp(q.death, -e)};
  double fixed = 0;
  for (double g : gaps) fixed += cost.power(std::ldexp(g, -e));
  if (matching) {  // the exact method, which yields its assignment
    g_stats.exact = true;
    std::vector<std::size_t> row_of;
    const double finite = hungarian(AssignmentCost{fa, fb, cost}, cancel, &row_of);
    // rows: a's points then diagonal copies; columns: b's points then diagonal copies
    for (std::size_t j = 0; j < row_of.size(); ++j) {
      const std::size_t i = row_of[j];
      const bool real_i = i < fa.size(), real_j = j < fb.size();
      if (real_i || real_j)
        add_pair(matching, pa.finite_id, real_i ? Id(i) : kNoId, pb.finite_id, real_j ? Id(j) : kNoId);
    }
    return std::ldexp(std::pow(finite + fixed, 1.0 / cost.p()), e);
  }
  if (fa.size() > fb.size()) std::swap(fa, fb);  // real bidders scan the items: fewer of them
  double finite = 0;
  if (fa.empty()) {
    for (const Point& q : fb) finite += cost.diagonal(q);
  } else if (auto line = same_birth_assignment(fa, fb, cost, cancel)) {
    g_stats.exact = true;
    finite = *line;
  } else if (delta == 0 || fa.size() + fb.size() <= kExactAssignmentSize) {
    g_stats.exact = true;
    finite = hungarian(AssignmentCost{fa, fb, cost}, cancel);
  } else {
    finite = Auction(fa, fb, cost, cancel).solve(delta, fixed);
  }
  return std::ldexp(std::pow(finite + fixed, 1.0 / cost.p()), e);
}


}  // namespace

double bottleneck(Diagram a, Diagram b, double delta, const CancelFlag* cancel, Matching* matching) {
  if (!(delta >= 0)) throw std::invalid_argument("delta: must be >= 0");
  Parts pa = split(a), pb = split(b);
  double result = 0;
  if (!match_outside_finite(pa, pb, [&](double gap) { result = std::max(result, gap); }, matching)) return kInf;
  const BottleneckSearch search(pa.finite, pb.finite, cancel);
  if (!matching) return std::max(result, search.solve(delta));
  const double radius = search.solve(0.0);
  const std::vector<Id> partner = search.matching(radius);
  std::vector<char> matched(pb.finite.size(), 0);
  for (Id i = 0; i < partner.size(); ++i) {
    add_pair(matching, pa.finite_id, i, pb.finite_id, partner[i]);
    if (partner[i] != kNoId) matched[partner[i]] = 1;
  }
  for (Id j = 0; j < matched.size(); ++j)
    if (!matched[j]) add_pair(matching, {}, kNoId, pb.finite_id, j);
  return std::max(result, radius);
}

double wasserstein(Diagram a, Diagram b, double order, double delta, const CancelFlag* cancel, Matching* matching,
                   double internal_p) {
  if (!(order >= 1) || std::isinf(order)) throw std::invalid_argument("p: must be a finite number >= 1");
  if (!(delta >= 0)) throw std::invalid_argument("delta: must be >= 0");
  if (!(internal_p >= 1)) throw std::invalid_argument("internal_p: must be a number in [1, inf]");
  g_stats = {};
  Parts pa = split(a), pb = split(b);
  std::vector<double> gaps;
  if (!match_outside_finite(pa, pb, [&](double gap) { gaps.push_back(gap); }, matching)) return kInf;
  if (internal_p == kInf) return finite_wasserstein(pa, pb, gaps, Cost(order, MaxNorm{}), delta, cancel, matching);
  return finite_wasserstein(pa, pb, gaps, Cost(order, LqNorm(internal_p)), delta, cancel, matching);
}

AuctionStats last_wasserstein_stats() { return g_stats; }

}  // namespace tda::distances
