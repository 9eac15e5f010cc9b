#include <gtest/gtest.h>

#include "tda/version.hpp"

TEST(Version, Name) { EXPECT_EQ(tda::core_name(), "tda_core"); }
