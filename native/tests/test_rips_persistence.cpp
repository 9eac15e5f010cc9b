// End-to-end checks of the Rips core on complexes with known homology.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <string>
#include <cmath>
#include <numbers>
#include <vector>

#include "tda/rips.hpp"
#include "tda/rips/binomial.hpp"

using namespace tda::rips;

namespace {
std::vector<double> circle(int n) {
  std::vector<double> x;
  for (int i = 0; i < n; ++i) {
    x.push_back(std::cos(2 * std::numbers::pi * i / n));
    x.push_back(std::sin(2 * std::numbers::pi * i / n));
  }
  return x;
}
}  // namespace

TEST(RipsPersistence, CircleHasOneLongH1Bar) {
  const auto x = circle(24);
  Options o;
  o.max_dim = 1;
  const auto d = persistence_from_points(x.data(), 24, 2, Metric::euclidean, o);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].size(), 24u);  // 23 merges at the side length + one essential class
  ASSERT_EQ(d[1].size(), 1u);
  EXPECT_NEAR(d[1][0].birth, 2 * std::sin(std::numbers::pi / 24), 1e-6);
}

TEST(RipsPersistence, SquareFourCycle) {
  // Four points on a square: the 4-cycle is born at side 1, dies at diagonal sqrt 2.
  const double D[16] = {0, 1, 1.4142, 1, 1, 0, 1, 1.4142, 1.4142, 1, 0, 1, 1, 1.4142, 1, 0};
  Options o;
  o.max_dim = 1;
  for (Coefficient p : {2u, 3u}) {
    o.modulus = p;
    const auto d = persistence_from_dense(D, 4, o);
    ASSERT_EQ(d[1].size(), 1u);
    EXPECT_FLOAT_EQ(d[1][0].birth, 1.0f);
    EXPECT_FLOAT_EQ(d[1][0].death, 1.4142f);
  }
}

TEST(RipsPersistence, ThresholdLeavesEssentialClassesAndThreadsAgree) {
  const auto x = circle(40);
  Options o;
  o.max_dim = 1;
  o.threshold = 0.5f;  // above the side, below the diameter: the loop never fills
  const auto one = persistence_from_points(x.data(), 40, 2, Metric::euclidean, o);
  ASSERT_EQ(one[1].size(), 1u);
  EXPECT_TRUE(std::isinf(one[1][0].death));
  o.n_threads = 2;
  const auto two = persistence_from_points(x.data(), 40, 2, Metric::euclidean, o);
  ASSERT_EQ(two[1].size(), 1u);
  EXPECT_EQ(two[1][0].birth, one[1][0].birth);
}

TEST(RipsPersistence, SparseInputAndVertexBirths) {
  // A path 0-1-2, vertex 2 born at 0.5: pairs [0, 0.2), [0.5, 0.7), [0, inf).
  const std::int64_t rows[] = {0, 1, 2};
  const std::int64_t cols[] = {1, 2, 2};
  const double values[] = {0.2, 0.7, 0.5};
  Options o;
  o.max_dim = 0;
  const auto d = persistence_from_sparse(rows, cols, values, 3, 3, o);
  ASSERT_EQ(d[0].size(), 3u);
  EXPECT_FLOAT_EQ(d[0][0].death, 0.2f);
  EXPECT_FLOAT_EQ(d[0][1].birth, 0.5f);
  EXPECT_FLOAT_EQ(d[0][1].death, 0.7f);
  EXPECT_TRUE(std::isinf(d[0][2].death));
}

TEST(RipsPersistence, CancelFlagStopsTheComputation) {
  const auto x = circle(300);
  std::atomic<bool> cancel{true};
  Options o;
  o.max_dim = 2;
  o.cancel = &cancel;
  EXPECT_THROW(persistence_from_points(x.data(), 300, 2, Metric::euclidean, o), Cancelled);
}

TEST(RipsPersistence, RejectsBadOptions) {
  const auto x = circle(5);
  Options o;
  o.modulus = 4;
  EXPECT_THROW(persistence_from_points(x.data(), 5, 2, Metric::euclidean, o), std::invalid_argument);
  o.modulus = 2;
  o.max_dim = -1;
  EXPECT_THROW(persistence_from_points(x.data(), 5, 2, Metric::euclidean, o), std::invalid_argument);
}

TEST(RipsPersistence, SparseEntriesAreSymmetrisedByTheMinimum) {
  // Edge 0-1 given twice above the diagonal (1.0 and 3.0) and once below (2.0);
  // edge 1-2 only below the diagonal; vertex 2 born at min(0.5, 0.25).
  const std::int64_t rows[] = {0, 0, 1, 2, 2, 2};
  const std::int64_t cols[] = {1, 1, 0, 1, 2, 2};
  const double values[] = {1.0, 3.0, 2.0, 0.75, 0.5, 0.25};
  Options o;
  o.max_dim = 0;
  auto d = persistence_from_sparse(rows, cols, values, 6, 3, o);
  std::sort(d[0].begin(), d[0].end(), [](auto a, auto b) { return a.death < b.death; });
  ASSERT_EQ(d[0].size(), 3u);
  EXPECT_FLOAT_EQ(d[0][0].birth, 0.25f);  // vertex 2 joins vertex 1 at 0.75
  EXPECT_FLOAT_EQ(d[0][0].death, 0.75f);
  EXPECT_FLOAT_EQ(d[0][1].birth, 0.0f);
  EXPECT_FLOAT_EQ(d[0][1].death, 1.0f);  // the smallest of the three values of edge 0-1
  EXPECT_TRUE(std::isinf(d[0][2].death));
}

TEST(RipsPersistence, NaNDistanceIsNeverAnEdge) {
  // A square with sides 1, one diagonal 2 and the other NaN: the 4-cycle is born at
  // 1 and filled at 2 by the triangles on the diagonal 1-3. Were the NaN pair an
  // edge, the triangle 0-1-2 would fill the cycle at 1.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float D[4][4] = {{0, 1, nan, 1}, {1, 0, 1, 2}, {nan, 1, 0, 1}, {1, 2, 1, 0}};
  DistanceMatrix m(4);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) m.row(i)[j] = D[i][j];
  Options o;
  o.max_dim = 1;
  o.threshold = 5;
  for (int threads : {1, 2}) {
    o.n_threads = threads;
    const auto d = persistence(m, o);
    ASSERT_EQ(d[1].size(), 1u);
    EXPECT_FLOAT_EQ(d[1][0].birth, 1.0f);
    EXPECT_FLOAT_EQ(d[1][0].death, 2.0f);
  }
}

TEST(RipsPersistence, DoublesBeyondTheFloatRangeSaturate) {
  EXPECT_EQ(to_value(1e300), std::numeric_limits<float>::max());
  EXPECT_EQ(to_value(-1e300), -std::numeric_limits<float>::max());
  EXPECT_TRUE(std::isinf(to_value(std::numeric_limits<double>::infinity())));
  EXPECT_TRUE(std::isnan(to_value(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(to_value(0.5), 0.5f);
  // A finite threshold above the float range keeps every finite edge.
  const double D[9] = {0, 1, 1e300, 1, 0, 2, 1e300, 2, 0};
  Options o;
  o.max_dim = 0;
  o.threshold = to_value(1e301);
  const auto d = persistence_from_dense(D, 3, o);
  EXPECT_EQ(d[0].size(), 3u);
}

TEST(RipsPersistence, LimitsAreCheckedFirstAndStated) {
  Options o;
  o.max_dim = 10;
  const double x[2] = {0, 1};
  try {
    persistence_from_points(x, 2, 1, Metric::euclidean, o);
    FAIL() << "max_dim above the bound accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("at most 9"), std::string::npos) << e.what();
  }
  // 10^6 points at max_dim 8: refused before the 4 TB distance matrix is allocated.
  o.max_dim = 8;
  const std::vector<double> many(1'000'000, 0.0);
  const auto limit = BinomialTable::max_vertices(10);
  try {
    persistence_from_points(many.data(), many.size(), 1, Metric::euclidean, o);
    FAIL() << "too many points accepted";
  } catch (const std::overflow_error& e) {
    EXPECT_NE(std::string(e.what()).find("at most " + std::to_string(limit)), std::string::npos) << e.what();
  }
  // The bound is exact: C(limit, 10) fits, C(limit + 1, 10) does not.
  const BinomialTable table(limit + 1, 10);
  EXPECT_TRUE(table.representable(limit, 10));
  EXPECT_FALSE(table.representable(limit + 1, 10));
}

TEST(RipsEstimate, BoundsGrowWithDimension) {
  const auto e = estimate(100, 2);
  ASSERT_EQ(e.simplices.size(), 4u);
  EXPECT_DOUBLE_EQ(e.simplices[1], 4950.0);
  EXPECT_DOUBLE_EQ(e.simplices[2], 161700.0);
  const std::vector<std::size_t> degrees(100, 4);
  const auto s = estimate(100, 2, degrees);
  EXPECT_DOUBLE_EQ(s.edges, 200.0);
  EXPECT_LE(s.simplices[2], 100 * 6 / 3.0);
  EXPECT_LT(s.bytes, e.bytes);
}
