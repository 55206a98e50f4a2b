#include "llm/sse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace confidant::llm {
namespace {

std::vector<SseEvent> parse_whole(std::string_view text) {
    SseParser parser;
    return parser.feed(text);
}

void expect_same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b,
                 const std::string& where) {
    ASSERT_EQ(a.size(), b.size()) << where;
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].event, b[i].event) << where << " event " << i;
        EXPECT_EQ(a[i].data, b[i].data) << where << " event " << i;
        EXPECT_EQ(a[i].id, b[i].id) << where << " event " << i;
    }
}

// Mixed line endings, comments, multi-line data, named events, ids.
const std::string kStream =
    ": hello comment\r\n"
    "data: first\r\n"
    "\r\n"
    "event: update\n"
    "id: 7\n"
    "data: line one\n"
    "data:line two\n"
    "data:  leading space kept\n"
    "\n"
    ": keep-alive\r"
    "data: cr only\r"
    "\r"
    "event: ping\n"
    "\n"
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\\nb\"}]}}]}\r\n\r\n";

TEST(SseParser, ParsesEventsWithMixedLineEndings) {
    const auto events = parse_whole(kStream);
    ASSERT_EQ(events.size(), 4u);
    EXPECT_EQ(events[0].data, "first");
    EXPECT_EQ(events[0].event, "");
    EXPECT_EQ(events[1].event, "update");
    EXPECT_EQ(events[1].id, "7");
    EXPECT_EQ(events[1].data, "line one\nline two\n leading space kept");
    EXPECT_EQ(events[2].data, "cr only");
    // "event: ping" without data is not dispatched, as the spec says.
    EXPECT_EQ(events[3].data,
              "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\\nb\"}]}}]}");
}

TEST(SseParser, SplitAtEveryByteBoundaryGivesTheSameEvents) {
    const auto whole = parse_whole(kStream);
    for (std::size_t i = 0; i <= kStream.size(); ++i) {
        SseParser parser;
        std::vector<SseEvent> events;
        parser.feed(std::string_view(kStream).substr(0, i), events);
        parser.feed(std::string_view(kStream).substr(i), events);
        expect_same(events, whole, "split at " + std::to_string(i));
    }
}

TEST(SseParser, ByteByByteFeedGivesTheSameEvents) {
    const auto whole = parse_whole(kStream);
    SseParser parser;
    std::vector<SseEvent> events;
    for (char c : kStream) {
        parser.feed(std::string_view(&c, 1), events);
    }
    expect_same(events, whole, "byte by byte");
    EXPECT_TRUE(parser.idle());
}

TEST(SseParser, CrLfSplitBetweenCrAndLfIsOneLineEnd) {
    SseParser parser;
    std::vector<SseEvent> events;
    parser.feed("data: a\r", events);
    parser.feed("\ndata: b\r", events);
    EXPECT_TRUE(events.empty());  // a stray '\n' must not end the event early
    parser.feed("\n\r\n", events);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "a\nb");
}

TEST(SseParser, CommentsOnlyProduceNoEvents) {
    SseParser parser;
    EXPECT_TRUE(parser.feed(": ping\n\n: ping\r\n\r\n").empty());
    EXPECT_TRUE(parser.idle());
}

TEST(SseParser, EmptyDataLineDispatchesAnEmptyEvent) {
    const auto events = parse_whole("data\n\ndata:\n\n");
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].data, "");
    EXPECT_EQ(events[1].data, "");
}

TEST(SseParser, SkipsLeadingBomEvenWhenSplit) {
    SseParser parser;
    std::vector<SseEvent> events;
    parser.feed("\xEF", events);
    parser.feed("\xBB", events);
    parser.feed(
        "\xBF"
        "data: x\n\n",
        events);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "x");
}

TEST(SseParser, PartialEventIsNotDispatchedAndParserIsNotIdle) {
    SseParser parser;
    auto events = parser.feed("data: half");
    EXPECT_TRUE(events.empty());
    EXPECT_FALSE(parser.idle());
    events = parser.feed("\n");
    EXPECT_TRUE(events.empty());
    EXPECT_FALSE(parser.idle());
    events = parser.feed("\n");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "half");
    EXPECT_TRUE(parser.idle());
}

TEST(SseParser, RejectsLinesBeyondTheLimit) {
    SseParser parser(64);
    std::vector<SseEvent> events;
    EXPECT_TRUE(parser.feed("data: small\n\n", events));
    EXPECT_FALSE(parser.feed("data: " + std::string(100, 'x'), events));
    EXPECT_TRUE(parser.failed());
    EXPECT_FALSE(parser.feed("\n\n", events));
    EXPECT_EQ(events.size(), 1u);
}

}  // namespace
}  // namespace confidant::llm
