#include "http/range.hpp"

#include <gtest/gtest.h>

namespace confidant::http {
namespace {

using Kind = RangeDecision::Kind;

RangeDecision partial(std::uint64_t first, std::uint64_t last) {
    return {Kind::partial, {first, last}};
}
const RangeDecision kIgnore{Kind::ignore, {}};
const RangeDecision kUnsatisfiable{Kind::not_satisfiable, {}};

TEST(RangeHeader, FirstToLast) {
    EXPECT_EQ(decide_range("bytes=0-99", 1000), partial(0, 99));
    EXPECT_EQ(decide_range("bytes=100-100", 1000), partial(100, 100));
    EXPECT_EQ(decide_range("bytes=500-999", 1000), partial(500, 999));
    // A last byte past the end is cut to the end.
    EXPECT_EQ(decide_range("bytes=500-5000", 1000), partial(500, 999));
    EXPECT_EQ(decide_range("bytes=0-99999999999999999999999", 1000), partial(0, 999));
    EXPECT_EQ(decide_range("bytes=0-0", 1), partial(0, 0));
    EXPECT_EQ(partial(0, 99).range.length(), 100u);
}

TEST(RangeHeader, OpenEnded) {
    EXPECT_EQ(decide_range("bytes=0-", 1000), partial(0, 999));
    EXPECT_EQ(decide_range("bytes=999-", 1000), partial(999, 999));
    EXPECT_EQ(decide_range("bytes=1000-", 1000), kUnsatisfiable);
}

TEST(RangeHeader, Suffix) {
    EXPECT_EQ(decide_range("bytes=-100", 1000), partial(900, 999));
    EXPECT_EQ(decide_range("bytes=-1", 1000), partial(999, 999));
    // More than the whole: the whole.
    EXPECT_EQ(decide_range("bytes=-1000", 1000), partial(0, 999));
    EXPECT_EQ(decide_range("bytes=-5000", 1000), partial(0, 999));
    EXPECT_EQ(decide_range("bytes=-99999999999999999999999", 1000), partial(0, 999));
    EXPECT_EQ(decide_range("bytes=-0", 1000), kUnsatisfiable);
}

TEST(RangeHeader, NotSatisfiable) {
    EXPECT_EQ(decide_range("bytes=1000-1001", 1000), kUnsatisfiable);
    EXPECT_EQ(decide_range("bytes=99999999999999999999999-", 1000), kUnsatisfiable);
    // An empty resource has no byte to serve.
    EXPECT_EQ(decide_range("bytes=0-", 0), kUnsatisfiable);
    EXPECT_EQ(decide_range("bytes=0-10", 0), kUnsatisfiable);
    EXPECT_EQ(decide_range("bytes=-10", 0), kUnsatisfiable);
    EXPECT_EQ(unsatisfied_content_range(1000), "bytes */1000");
}

TEST(RangeHeader, IgnoredWhenMalformedOrMultiple) {
    for (const char* h :
         {"",           "bytes",         "bytes=",         "bytes=-",    "bytes=abc",
          "bytes=5",    "bytes=5-3",     "bytes=1-2-3",    "bytes=+1-2", "bytes=1-+2",
          "bytes=-1-2", "bytes=0x10-",   "bytes=1 -2",     "items=0-10", "bytes 0-10",
          "=0-10",      "bytes=0-1,5-6", "bytes=0-1, 5-6", "bytes=,0-1", "bytes=0-1,"}) {
        EXPECT_EQ(decide_range(h, 1000), kIgnore) << "'" << h << "'";
    }
}

TEST(RangeHeader, LenientAboutCaseAndSpaces) {
    EXPECT_EQ(decide_range("Bytes=0-9", 100), partial(0, 9));
    EXPECT_EQ(decide_range("BYTES=0-9", 100), partial(0, 9));
    EXPECT_EQ(decide_range("  bytes = 0-9 ", 100), partial(0, 9));
    EXPECT_EQ(decide_range("bytes=\t10-", 100), partial(10, 99));
}

TEST(RangeHeader, ContentRange) {
    EXPECT_EQ(content_range({0, 99}, 1000), "bytes 0-99/1000");
    EXPECT_EQ(content_range({999, 999}, 1000), "bytes 999-999/1000");
}

}  // namespace
}  // namespace confidant::http
