#include "storage/postgres/params.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace confidant::storage::pg {
namespace {

struct Filled {
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
};

Filled fill(const Params& p) {
    Filled f;
    p.fill(f.values, f.lengths, f.formats);
    return f;
}

TEST(PgParams, FormatsValuesAsText) {
    const std::optional<std::int64_t> none;
    const std::optional<std::string> some = "x";
    Params p(std::int64_t{-42}, std::numeric_limits<std::int64_t>::max(), 2.5, true, false, "lit",
             std::string("str"), none, some, std::nullopt, 7u);
    ASSERT_EQ(p.size(), 11);
    const auto f = fill(p);
    EXPECT_STREQ(f.values[0], "-42");
    EXPECT_STREQ(f.values[1], "9223372036854775807");
    EXPECT_STREQ(f.values[2], "2.5");
    EXPECT_STREQ(f.values[3], "t");
    EXPECT_STREQ(f.values[4], "f");
    EXPECT_STREQ(f.values[5], "lit");
    EXPECT_STREQ(f.values[6], "str");
    EXPECT_EQ(f.values[7], nullptr);
    EXPECT_STREQ(f.values[8], "x");
    EXPECT_EQ(f.values[9], nullptr);
    EXPECT_STREQ(f.values[10], "7");
    for (int fmt : f.formats) {
        EXPECT_EQ(fmt, 0);
    }
}

TEST(PgParams, DoublesRoundTripExactly) {
    const double v = 0.1 + 0.2;
    Params p(v);
    EXPECT_EQ(std::stod(fill(p).values[0]), v);
}

TEST(PgParams, BytesAreBinaryWithLength) {
    const std::string bytes("a\0b\xff", 4);
    Params p;
    p.add_bytes(bytes);
    const auto f = fill(p);
    EXPECT_EQ(f.formats[0], 1);
    EXPECT_EQ(f.lengths[0], 4);
    EXPECT_EQ(std::string(f.values[0], 4), bytes);
}

TEST(PgParams, TextWithNulIsRejected) {
    Params p;
    EXPECT_THROW(p.add(std::string_view("a\0b", 3)), std::invalid_argument);
}

TEST(PgParams, PointersStayValidAfterGrowth) {
    Params p;
    for (int i = 0; i < 1000; ++i) {
        p.add(std::string(100, static_cast<char>('a' + i % 26)));
    }
    const auto f = fill(p);
    EXPECT_EQ(std::string(f.values[999]), std::string(100, static_cast<char>('a' + 999 % 26)));
}

}  // namespace
}  // namespace confidant::storage::pg
