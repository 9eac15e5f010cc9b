#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "tda/distances.hpp"

namespace {

using tda::distances::bottleneck;
using tda::distances::Point;
using tda::distances::wasserstein;

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<Point> random_diagram(std::mt19937& rng, int n) {
  std::uniform_real_distribution<double> u(0, 1);
  std::exponential_distribution<double> e(5.0);
  std::vector<Point> d;
  for (int i = 0; i < n; ++i) {
    const double b = u(rng);
    d.push_back({b, b + e(rng)});
  }
  return d;
}

TEST(Distances, HugeValuesDoNotOverflowTheDistanceToTheDiagonal) {
  // (-1e308, 1e308) is 1e308 from the diagonal; d - b alone would overflow to inf.
  const std::vector<Point> a{{-1e308, 1e308}};
  const std::vector<Point> none;
  EXPECT_DOUBLE_EQ(bottleneck(a, none), 1e308);
  EXPECT_DOUBLE_EQ(wasserstein(a, none, 1.0, 0.0), 1e308);
}

TEST(Distances, CancelFlagStopsEveryAlgorithm) {
  std::mt19937 rng(3);
  const auto a = random_diagram(rng, 400), b = random_diagram(rng, 500);
  tda::CancelFlag cancel{true};
  EXPECT_THROW(bottleneck(a, b, 0.0, &cancel), tda::Cancelled);
  EXPECT_THROW(wasserstein(a, b, 1.0, 0.0, &cancel), tda::Cancelled);   // Hungarian
  EXPECT_THROW(wasserstein(a, b, 1.0, 0.01, &cancel), tda::Cancelled);  // auction
  std::vector<Point> line_a, line_b;  // one birth for all: the exact line programme
  for (const Point& p : a) line_a.push_back({0.0, p.death});
  for (const Point& p : b) line_b.push_back({0.0, p.death});
  EXPECT_THROW(wasserstein(line_a, line_b, 2.0, 0.0, &cancel), tda::Cancelled);
  cancel = false;
  EXPECT_GT(bottleneck(a, b, 0.0, &cancel), 0.0);
}

TEST(Distances, WassersteinMatchingCoversEveryPointAtTheOptimalCost) {
  // (0,4) <-> (0,5) costs 1; (10,11) and (20,20) go to the diagonal (0.5 and 0).
  const std::vector<Point> a{{10, 11}, {0, 4}, {20, 20}}, b{{0, 5}};
  tda::distances::Matching m;
  EXPECT_DOUBLE_EQ(wasserstein(a, b, 1.0, 0.3, nullptr, &m), 1.5);
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
  for (const auto& p : m) pairs.emplace_back(p.first, p.second);
  std::sort(pairs.begin(), pairs.end());
  EXPECT_EQ(pairs, (std::vector<std::pair<std::int64_t, std::int64_t>>{{0, -1}, {1, 0}, {2, -1}}));
  const std::vector<Point> inf_a{{0, kInf}}, none;
  EXPECT_EQ(wasserstein(inf_a, none, 1.0, 0.0, nullptr, &m), kInf);
  EXPECT_TRUE(m.empty());
}

TEST(Distances, SinglePoints) {
  const std::vector<Point> a{{0, 4}}, b{{1, 4}}, none;
  EXPECT_DOUBLE_EQ(bottleneck(a, b), 1.0);
  EXPECT_DOUBLE_EQ(bottleneck(a, none), 2.0);
  EXPECT_DOUBLE_EQ(wasserstein(a, none, 2.0, 0.0), 2.0);
  EXPECT_DOUBLE_EQ(wasserstein(a, b, 1.0, 0.0), 1.0);
}

TEST(Distances, EssentialClassesMatchAmongThemselves) {
  const std::vector<Point> a{{0, 1}, {0.5, kInf}}, b{{0, 1}, {0.25, kInf}}, c{{0, 1}};
  EXPECT_DOUBLE_EQ(bottleneck(a, b), 0.25);
  EXPECT_DOUBLE_EQ(wasserstein(a, b, 1.0, 0.0), 0.25);
  EXPECT_EQ(bottleneck(a, c), kInf);
  EXPECT_EQ(wasserstein(a, c, 1.0, 0.01), kInf);
}

TEST(Distances, ApproximationsAreWithinDelta) {
  std::mt19937 rng(3);
  const auto a = random_diagram(rng, 130), b = random_diagram(rng, 170);
  const double exact_b = bottleneck(a, b, 0.0);
  const double approx_b = bottleneck(a, b, 0.05);
  EXPECT_LE(exact_b, approx_b);
  EXPECT_LE(approx_b, exact_b * 1.05);
  for (double p : {1.0, 2.0}) {
    const double exact_w = wasserstein(a, b, p, 0.0);
    const double approx_w = wasserstein(a, b, p, 0.01);
    EXPECT_FALSE(tda::distances::last_wasserstein_stats().exact);
    EXPECT_LE(exact_w, approx_w * (1 + 1e-12));
    EXPECT_LE(approx_w, exact_w * 1.01);
  }
}

TEST(Distances, BottleneckIsSymmetricAndBoundedByWasserstein) {
  std::mt19937 rng(11);
  for (int t = 0; t < 20; ++t) {
    const auto a = random_diagram(rng, 1 + t), b = random_diagram(rng, 30 - t);
    EXPECT_DOUBLE_EQ(bottleneck(a, b), bottleneck(b, a));
    EXPECT_LE(bottleneck(a, b), wasserstein(a, b, 1.0, 0.0) + 1e-12);
  }
}

TEST(Distances, InternalPIsTheGroundMetric) {
  // (0, 4) <-> (1, 6): gaps (1, 2); to the diagonal 2 and 2.5 times 2^(1/q).
  const std::vector<Point> x{{0, 4}}, y{{1, 6}}, none;
  EXPECT_DOUBLE_EQ(wasserstein(x, y, 1.0, 0.0, nullptr, nullptr, 1.0), 3.0);
  EXPECT_DOUBLE_EQ(wasserstein(x, y, 1.0, 0.0, nullptr, nullptr, 2.0), std::sqrt(5.0));
  EXPECT_DOUBLE_EQ(wasserstein(x, y, 1.0, 0.0, nullptr, nullptr, kInf), 2.0);
  EXPECT_DOUBLE_EQ(wasserstein(x, none, 2.0, 0.0, nullptr, nullptr, 2.0), 2 * std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(wasserstein(x, none, 1.0, 0.0, nullptr, nullptr, 1.0), 4.0);
}

// The largest cost of a matching (L-infinity), after checking that it covers every point once.
double largest_cost(const std::vector<Point>& a, const std::vector<Point>& b, const tda::distances::Matching& m) {
  std::vector<int> seen_a(a.size()), seen_b(b.size());
  double largest = 0;
  for (const auto& [i, j] : m) {
    EXPECT_TRUE(i >= 0 || j >= 0);
    if (i >= 0) ++seen_a[i];
    if (j >= 0) ++seen_b[j];
    const double c = i >= 0 && j >= 0 ? std::max(std::abs(a[i].birth - b[j].birth), std::abs(a[i].death - b[j].death))
                                      : (i >= 0 ? (a[i].death - a[i].birth) / 2 : (b[j].death - b[j].birth) / 2);
    largest = std::max(largest, c);
  }
  EXPECT_EQ(std::count(seen_a.begin(), seen_a.end(), 1), std::ptrdiff_t(a.size()));
  EXPECT_EQ(std::count(seen_b.begin(), seen_b.end(), 1), std::ptrdiff_t(b.size()));
  return largest;
}

TEST(Distances, BottleneckMatchingAttainsTheDistance) {
  std::mt19937 rng(5);
  for (int t = 0; t < 40; ++t) {
    const auto a = random_diagram(rng, t % 13), b = random_diagram(rng, 25 - t % 17);
    tda::distances::Matching m;
    const double value = bottleneck(a, b, 0.5, nullptr, &m);  // exact whatever delta
    EXPECT_EQ(value, bottleneck(a, b));
    EXPECT_DOUBLE_EQ(largest_cost(a, b, m), value);
  }
  const std::vector<Point> inf_a{{0, kInf}}, none;
  tda::distances::Matching m;
  EXPECT_EQ(bottleneck(inf_a, none, 0.0, nullptr, &m), kInf);
  EXPECT_TRUE(m.empty());
}

TEST(Distances, RejectsBadParameters) {
  const std::vector<Point> a{{0, 1}}, nan{{0, std::nan("")}};
  EXPECT_THROW(wasserstein(a, a, 1.0, 0.0, nullptr, nullptr, 0.5), std::invalid_argument);
  EXPECT_THROW(wasserstein(a, a, 1.0, 0.0, nullptr, nullptr, std::nan("")), std::invalid_argument);
  EXPECT_THROW(wasserstein(a, a, 0.5, 0.01), std::invalid_argument);
  EXPECT_THROW(bottleneck(a, a, -1.0), std::invalid_argument);
  EXPECT_THROW(bottleneck(a, nan), std::invalid_argument);
}

}  // namespace
