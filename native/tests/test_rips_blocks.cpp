// Building blocks of the Rips core: number system, union-find, field, pivot map.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "tda/rips/binomial.hpp"
#include "tda/rips/field.hpp"
#include "tda/rips/pivot_map.hpp"
#include "tda/rips/union_find.hpp"

using namespace tda::rips;

TEST(RipsBinomial, PascalValues) {
  const BinomialTable b(60, 6);
  EXPECT_EQ(b(0, 0), 1);
  EXPECT_EQ(b(5, 2), 10);
  EXPECT_EQ(b(10, 3), 120);
  EXPECT_EQ(b(3, 5), 0);
  EXPECT_EQ(b(60, 6), 50063860);
  EXPECT_TRUE(b.representable(60, 6));
}

TEST(RipsBinomial, SaturatesInsteadOfOverflowing) {
  const BinomialTable b(100000, 12);
  EXPECT_FALSE(b.representable(100000, 12));
  EXPECT_TRUE(b.representable(4096, 5));
}

TEST(RipsSimplexCoder, RanksAreABijectionInColexOrder) {
  const int n = 12;
  const BinomialTable b(n, 4);
  const SimplexCoder coder(b);
  // Enumerate all 3-subsets (dimension 2) in colexicographic order.
  std::vector<SimplexIndex> ranks;
  for (VertexIndex c = 2; c < n; ++c)
    for (VertexIndex bb = 1; bb < c; ++bb)
      for (VertexIndex a = 0; a < bb; ++a) {
        const VertexIndex v[3] = {c, bb, a};
        const SimplexIndex r = coder.encode(v, 2);
        ranks.push_back(r);
        VertexIndex back[3];
        coder.decode(r, 2, back);
        EXPECT_EQ(std::vector<VertexIndex>(back, back + 3), std::vector<VertexIndex>(v, v + 3));
      }
  std::vector<SimplexIndex> expected(ranks.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = SimplexIndex(i);
  EXPECT_EQ(ranks, expected);  // colex enumeration gives ranks 0, 1, 2, ...
}

TEST(RipsSimplexCoder, EdgesAndLargeRanks) {
  const BinomialTable b(5000, 5);
  const SimplexCoder coder(b);
  const VertexIndex e[2] = {4999, 17};
  EXPECT_EQ(coder.encode(e, 1), b(4999, 2) + 17);
  const VertexIndex t[4] = {4999, 4000, 12, 0};
  VertexIndex back[4];
  coder.decode(coder.encode(t, 3), 3, back);
  EXPECT_EQ(std::vector<VertexIndex>(back, back + 4), std::vector<VertexIndex>(t, t + 4));
}

TEST(RipsUnionFind, ElderRuleKeepsOldestBirth) {
  UnionFind uf(5);
  uf.set_birth(0, 0.5f);
  uf.set_birth(1, 0.1f);
  uf.set_birth(2, 0.9f);
  uf.link(0, 2);
  EXPECT_EQ(uf.find(0), uf.find(2));
  EXPECT_FLOAT_EQ(uf.birth(uf.find(2)), 0.5f);
  EXPECT_EQ(uf.eldest(uf.find(2)), 0);
  EXPECT_TRUE(uf.older(uf.find(1), uf.find(0)));
  uf.link(2, 1);
  EXPECT_FLOAT_EQ(uf.birth(uf.find(0)), 0.1f);
  EXPECT_EQ(uf.eldest(uf.find(0)), 1);
  EXPECT_NE(uf.find(3), uf.find(4));
  EXPECT_TRUE(uf.older(uf.find(3), uf.find(4)));  // equal births: the smaller vertex is elder
  uf.link(4, 3);
  EXPECT_EQ(uf.eldest(uf.find(4)), 3);
  uf.link(4, 0);
  for (VertexIndex v = 1; v < 5; ++v) EXPECT_EQ(uf.find(v), uf.find(0));
}

TEST(RipsField, InversesAndSigns) {
  for (Coefficient p : {2u, 3u, 5u, 7u, 65521u, 1000003u}) {
    const PrimeField f(p);
    for (Coefficient a = 1; a < std::min<Coefficient>(p, 2000); ++a) EXPECT_EQ(f.mul(a, f.inverse(a)), 1u) << p;
    EXPECT_EQ(f.add(p - 1, 1), 0u);
    EXPECT_EQ(f.neg(1), p - 1);
    EXPECT_EQ(f.sign(2), 1u);
    EXPECT_EQ(f.sign(3), p == 2 ? 1u : p - 1);
  }
  EXPECT_THROW(PrimeField(4), std::invalid_argument);
  EXPECT_THROW(PrimeField(1), std::invalid_argument);
  EXPECT_TRUE(is_prime(2147483647ULL));
  EXPECT_FALSE(is_prime(2147483649ULL));
}

TEST(RipsPivotMap, InsertFindAndGrow) {
  PivotMap m;
  std::set<SimplexIndex> keys;
  for (SimplexIndex k = 0; k < 100000; ++k) keys.insert(k * 7919 + (k % 13));
  std::uint32_t col = 0;
  for (SimplexIndex k : keys) m.insert(k, col++, Coefficient(k % 5));
  EXPECT_EQ(m.size(), keys.size());
  col = 0;
  for (SimplexIndex k : keys) {
    const auto* s = m.find(k);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->column, col++);
    EXPECT_EQ(s->coefficient, Coefficient(k % 5));
  }
  EXPECT_FALSE(m.contains(3));
  EXPECT_FALSE(m.contains(-5));
}
