#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "tda/cubical.hpp"

namespace {

using tda::cubical::Construction;
using tda::cubical::Diagram;
using tda::cubical::persistence;

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<std::pair<double, double>> sorted(const Diagram& d) {
  std::vector<std::pair<double, double>> v;
  for (const auto& i : d) v.emplace_back(i.birth, i.death);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(Cubical, RingHasOneLoopInBothConstructions) {
  std::vector<double> img(25, 0.0);
  img[12] = 3.0;  // centre of a 5x5 image
  const std::vector<std::size_t> shape{5, 5};
  for (auto c : {Construction::Vertex, Construction::Top}) {
    const auto d = persistence(img, shape, c, 1);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(sorted(d[0]), (std::vector<std::pair<double, double>>{{0.0, kInf}}));
    EXPECT_EQ(sorted(d[1]), (std::vector<std::pair<double, double>>{{0.0, 3.0}}));
  }
}

TEST(Cubical, TwoBasinsMergeAtTheRidge) {
  // 1 x 5 strip: V-construction is a path graph; minima 0 and 1 merge at 5.
  const std::vector<double> v{0.0, 5.0, 1.0, 2.0, 4.0};
  const std::vector<std::size_t> shape{1, 5};
  const auto d = persistence(v, shape, Construction::Vertex, 1);
  EXPECT_EQ(sorted(d[0]), (std::vector<std::pair<double, double>>{{0.0, kInf}, {1.0, 5.0}}));
  EXPECT_TRUE(d[1].empty());
}

TEST(Cubical, VoidInAVolumeIsFoundByDuality) {
  std::vector<double> vol(27, 0.0);
  vol[13] = 2.0;
  const std::vector<std::size_t> shape{3, 3, 3};
  const auto d = persistence(vol, shape, Construction::Vertex, 2);
  EXPECT_EQ(sorted(d[2]), (std::vector<std::pair<double, double>>{{0.0, 2.0}}));
  EXPECT_TRUE(d[1].empty());
}

TEST(Cubical, FourDimensionalGridHasOneEssentialClass) {
  // The full complex is a box (contractible): one class never dies, all others do.
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> v(3 * 4 * 3 * 4);
  for (auto& x : v) x = u(rng);
  const std::vector<std::size_t> shape{3, 4, 3, 4};
  for (auto c : {Construction::Vertex, Construction::Top}) {
    const auto d = persistence(v, shape, c, 3);
    ASSERT_EQ(d.size(), 4u);
    std::size_t essential = 0;
    for (const auto& dgm : d)
      for (const auto& i : dgm) {
        EXPECT_LT(i.birth, i.death);
        essential += std::isinf(i.death);
      }
    EXPECT_EQ(essential, 1u);
  }
}

TEST(Cubical, ConstantArrayHasOnlyTheEssentialClass) {
  const std::vector<double> v(6 * 7, 1.5);
  const std::vector<std::size_t> shape{6, 7};
  const auto d = persistence(v, shape, Construction::Top, 3);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(sorted(d[0]), (std::vector<std::pair<double, double>>{{1.5, kInf}}));
  for (int k = 1; k < 4; ++k) EXPECT_TRUE(d[k].empty());
}

TEST(Cubical, CancelFlagStopsTheComputation) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> v(40 * 40 * 40);
  for (double& x : v) x = u(rng);
  const std::size_t shape[] = {40, 40, 40};
  tda::CancelFlag cancel{true};
  for (int threads : {1, 2})
    EXPECT_THROW(persistence(v, shape, Construction::Vertex, 2, threads, &cancel), tda::Cancelled);
  cancel = false;
  EXPECT_EQ(persistence(v, shape, Construction::Vertex, 2, 2, &cancel).size(), 3u);
}

TEST(Cubical, PrimeCoefficientsSeeALoopWindingTwiceAroundATunnel) {
  // Top cells: a solid torus (1) around a loop (0) that winds twice around its core, in a
  // box of 2. Over Z/2 the loop is zero in the torus and dies at 1; over Z/3 it lives to 2.
  const int n = 40;
  const double c = (n - 1) / 2.0, radius = 12.0, offset = 2.2;
  std::vector<double> v(n * n * n, 2.0);
  auto at = [&](long z, long y, long x) -> double& { return v[(z * n + y) * n + x]; };
  for (int z = 0; z < n; ++z)
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        if (std::hypot(std::hypot(x - c, y - c) - radius, z - c) <= 4.5) at(z, y, x) = 1.0;
  for (int i = 0; i < 4000; ++i) {
    const double t = 4 * std::acos(-1.0) * i / 4000, rho = radius + offset * std::cos(t / 2);
    at(std::lround(c + offset * std::sin(t / 2)), std::lround(c + rho * std::sin(t)), std::lround(c + rho * std::cos(t))) = 0.0;
  }
  const std::size_t shape[] = {n, n, n};
  using P = std::vector<std::pair<double, double>>;
  EXPECT_EQ(sorted(persistence(v, shape, Construction::Top, 2, 1, nullptr, 2)[1]), (P{{0.0, 1.0}, {1.0, 2.0}}));
  EXPECT_EQ(sorted(persistence(v, shape, Construction::Top, 2, 1, nullptr, 3)[1]), (P{{0.0, 2.0}}));
  EXPECT_THROW(persistence(v, shape, Construction::Top, 2, 1, nullptr, 4), std::invalid_argument);
}

TEST(Cubical, WideCellIndicesGiveTheSameDiagrams) {
  // 64-bit indices are used from 2^32 - 1 cells on; check the wide engine on arrays that fit.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(0, 5);  // many ties
  const std::vector<std::vector<std::size_t>> shapes{{50}, {23, 31}, {9, 10, 11}, {5, 6, 4, 5}};
  for (const auto& shape : shapes) {
    std::size_t n = 1;
    for (std::size_t e : shape) n *= e;
    std::vector<double> v(n);
    for (double& x : v) x = level(rng);
    for (auto construction : {Construction::Vertex, Construction::Top})
      for (tda::cubical::Coefficient p : {2u, 3u}) {
        const auto narrow = persistence(v, shape, construction, 3, 1, nullptr, p);
        const auto wide = tda::cubical::detail::persistence_wide(v, shape, construction, 3, 2, nullptr, p);
        ASSERT_EQ(narrow.size(), wide.size());
        for (std::size_t k = 0; k < narrow.size(); ++k) EXPECT_EQ(sorted(narrow[k]), sorted(wide[k])) << k;
      }
  }
}

TEST(Cubical, ConstantImageOnATorusHasTheTorusClasses) {
  // Both axes periodic: one component, two loops, the torus itself; nothing dies.
  const std::vector<double> v(5 * 6, 2.5);
  const std::vector<std::size_t> shape{5, 6};
  const std::array<bool, 2> torus{true, true}, cylinder{true, false};
  using P = std::vector<std::pair<double, double>>;
  for (auto c : {Construction::Vertex, Construction::Top}) {
    const auto d = persistence(v, shape, c, 2, 1, nullptr, 2, torus);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(sorted(d[0]), (P{{2.5, kInf}}));
    EXPECT_EQ(sorted(d[1]), (P{{2.5, kInf}, {2.5, kInf}}));
    EXPECT_EQ(sorted(d[2]), (P{{2.5, kInf}}));
    const auto open = persistence(v, shape, c, 2, 1, nullptr, 2, cylinder);
    EXPECT_EQ(sorted(open[1]), (P{{2.5, kInf}}));
    EXPECT_TRUE(open[2].empty());
  }
}

TEST(Cubical, ThreeTorusHasBinomialEssentialClasses) {
  // Random values on a fully periodic 3-D grid (one axis of length 1, one of length 2:
  // the special cases): C(3, k) classes of dimension k never die, whatever the field,
  // the threads or the index width; the others are finite.
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> level(0, 4);
  const std::vector<std::size_t> shapes[] = {{4, 5, 3}, {1, 4, 3}, {2, 3, 2}};
  const std::array<bool, 3> periodic{true, true, true};
  for (const auto& shape : shapes) {
    std::vector<double> v(shape[0] * shape[1] * shape[2]);
    for (double& x : v) x = level(rng);
    for (auto c : {Construction::Vertex, Construction::Top})
      for (tda::cubical::Coefficient p : {2u, 3u})
        for (int threads : {1, 2}) {
          const auto d = persistence(v, shape, c, 3, threads, nullptr, p, periodic);
          const auto wide = tda::cubical::detail::persistence_wide(v, shape, c, 3, threads, nullptr, p, periodic);
          ASSERT_EQ(d.size(), 4u);
          const std::size_t binomial[] = {1, 3, 3, 1};
          for (std::size_t k = 0; k < 4; ++k) {
            EXPECT_EQ(std::count_if(d[k].begin(), d[k].end(), [](const auto& i) { return std::isinf(i.death); }),
                      binomial[k]) << k;
            EXPECT_EQ(sorted(d[k]), sorted(wide[k])) << k;
          }
        }
  }
}

TEST(Cubical, RejectsBadInput) {
  const std::vector<double> v{0.0, std::nan(""), 1.0, 2.0};
  const std::vector<std::size_t> shape{2, 2};
  EXPECT_THROW(persistence(v, shape, Construction::Vertex, 1), std::invalid_argument);
  const std::vector<double> ok{0.0, 1.0, 1.0, 2.0};
  EXPECT_THROW(persistence(ok, std::vector<std::size_t>{2, 0}, Construction::Vertex, 1), std::invalid_argument);
  EXPECT_THROW(persistence(ok, std::vector<std::size_t>{1, 1, 1, 2, 2}, Construction::Vertex, 1),
               std::invalid_argument);
  EXPECT_THROW(persistence(ok, std::vector<std::size_t>{3, 2}, Construction::Vertex, 1), std::invalid_argument);
  EXPECT_THROW(persistence(ok, shape, Construction::Vertex, -1), std::invalid_argument);
  const std::array<bool, 1> one_flag{true};  // a flag per axis, or none
  EXPECT_THROW(persistence(ok, shape, Construction::Vertex, 1, 1, nullptr, 2, one_flag), std::invalid_argument);
}

}  // namespace
