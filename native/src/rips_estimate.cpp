// Upper bounds on the size of a Rips computation, for planning and refusal.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "rips_engine.hpp"
#include "tda/rips.hpp"

namespace tda::rips {
namespace {

// C(x, k) for real x >= 0 (Lovász's form of the Kruskal–Katona bound).
double real_binomial(double x, int k) {
  if (x < k) return 0;
  double r = 1;
  for (int i = 0; i < k; ++i) r *= (x - i) / (i + 1);
  return r;
}

constexpr double kEntryBytes = sizeof(Entry);
constexpr double kPivotSlotBytes = 2 * sizeof(PivotMap::Slot);  // at most half full

Estimate finish(Estimate e, std::size_t n, Dimension max_dim, double storage_bytes) {
  // Stored per dimension d <= max_dim: the list of simplices (d < max_dim),
  // the columns, and a pivot slot per column; the (max_dim+1)-simplices are
  // only enumerated, never stored. The reduction matrix is not bounded here
  // beyond one entry per column (its fill-in depends on the data).
  double bytes = storage_bytes + double(n) * 16;
  for (Dimension d = 1; d <= max_dim; ++d) {
    const double s = e.simplices[d];
    bytes += s * (kEntryBytes * (d < max_dim ? 3 : 2) + kPivotSlotBytes);
  }
  e.bytes = bytes;
  return e;
}

}  // namespace

Estimate estimate(std::size_t n, Dimension max_dim) {
  Estimate e;
  e.simplices.resize(max_dim + 2);
  for (Dimension d = 0; d <= max_dim + 1; ++d) e.simplices[d] = real_binomial(double(n), d + 1);
  e.edges = e.simplices.size() > 1 ? e.simplices[1] : 0;
  e.dense = true;
  return finish(e, n, max_dim, double(n) * (double(n) - 1) / 2 * sizeof(Value));
}

Estimate estimate(std::size_t n, Dimension max_dim, const std::vector<std::size_t>& degrees) {
  Estimate e;
  e.simplices.resize(max_dim + 2);
  const double edges = std::accumulate(degrees.begin(), degrees.end(), 0.0) / 2;
  // Kruskal–Katona: with m = C(x, 2) edges there are at most C(x, k) k-cliques.
  const double x = 0.5 + std::sqrt(0.25 + 2 * edges);
  for (Dimension d = 0; d <= max_dim + 1; ++d) {
    double bound = real_binomial(x, d + 1);
    if (d >= 1) {
      // Each (d)-simplex is counted d+1 times among vertex neighbourhoods.
      double local = 0;
      for (std::size_t deg : degrees) local += real_binomial(double(deg), d);
      bound = std::min(bound, local / (d + 1));
    }
    e.simplices[d] = d == 0 ? double(n) : d == 1 ? edges : bound;
  }
  e.edges = edges;
  const double pairs = double(n) * (double(n) - 1) / 2;
  e.dense = edges >= 0.25 * pairs;
  const double storage = e.dense ? pairs * sizeof(Value) : edges * 2 * sizeof(Neighbour) + double(n + 1) * 8;
  return finish(e, n, max_dim, storage);
}

}  // namespace tda::rips
