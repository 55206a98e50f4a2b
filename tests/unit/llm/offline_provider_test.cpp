#include "llm/offline/offline_provider.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace confidant::llm {
namespace {

using namespace std::chrono_literals;
using namespace testing;

CompletionRequest conversation(std::string last_user_text) {
    CompletionRequest r;
    r.system_instruction = "You are Mira, a warm and curious companion.\nRemember: likes tea.";
    r.contents.push_back(Turn{Turn::Role::user, "Hi"});
    r.contents.push_back(Turn{Turn::Role::model, "Hello!"});
    r.contents.push_back(Turn{Turn::Role::user, std::move(last_user_text)});
    return r;
}

TEST(OfflineProvider, NameAndModelFromSettings) {
    OfflineProvider p(OfflineSettings{.model = "offline-test"});
    EXPECT_EQ(p.name(), "offline");
    EXPECT_EQ(p.model(), "offline-test");
    EXPECT_EQ(OfflineProvider().model(), "offline-companion");
}

TEST(OfflineProvider, RepliesDeterministicallyFromTheLastUserTurn) {
    boost::asio::io_context io;
    OfflineProvider p;
    const auto req = conversation("I had a long day at work");
    auto a = run(io, p.complete(req));
    auto b = run(io, p.complete(req));
    ASSERT_TRUE(a.has_value());
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(a->text, b->text);
    EXPECT_EQ(a->text.rfind("[offline companion] I hear you: \"I had a long day at work\".", 0), 0u)
        << a->text;
    EXPECT_NE(a->text.find("Mira"), std::string::npos) << "the persona shows through";
    EXPECT_EQ(a->text.find("likes tea"), std::string::npos) << "only the persona's first line";
    EXPECT_EQ(a->model, "offline-companion");
    EXPECT_EQ(a->finish_reason, "stop");
    EXPECT_GT(a->usage.completion_tokens, 0);
    EXPECT_EQ(a->usage.total_tokens, a->usage.prompt_tokens + a->usage.completion_tokens);

    auto other = run(io, p.complete(conversation("Something else entirely")));
    ASSERT_TRUE(other.has_value());
    EXPECT_NE(other->text, a->text);
}

TEST(OfflineProvider, GreetsWhenThereIsNoUserTurn) {
    boost::asio::io_context io;
    OfflineProvider p;
    auto r = run(io, p.complete(CompletionRequest{}));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->text.rfind("[offline companion] Hello!", 0), 0u) << r->text;
}

TEST(OfflineProvider, StreamsWordByWordAndJoinsToTheCompleteText) {
    boost::asio::io_context io;
    OfflineProvider p;
    const auto req = conversation("Tell me   something\nnice");
    auto full = run(io, p.complete(req));
    ASSERT_TRUE(full.has_value());
    std::vector<std::string> deltas;
    DeltaSink sink = [&deltas](std::string_view d) -> Task<void> {
        deltas.emplace_back(d);
        co_return;
    };
    auto streamed = run(io, p.stream(req, sink));
    ASSERT_TRUE(streamed.has_value());
    EXPECT_GT(deltas.size(), 5u);
    std::string joined;
    for (const auto& d : deltas) {
        joined += d;
        EXPECT_EQ(std::count(d.begin(), d.end(), ' ') <= 1, true) << "one word per delta: " << d;
    }
    EXPECT_EQ(joined, full->text);
    EXPECT_EQ(streamed->text, full->text);
    EXPECT_NE(full->text.find("\"Tell me something nice\""), std::string::npos) << full->text;
}

TEST(OfflineProvider, TruncatesLongMessagesOnUtf8Boundaries) {
    boost::asio::io_context io;
    OfflineProvider p;
    std::string long_text;
    for (int i = 0; i < 300; ++i) {
        long_text += "é";  // two bytes each: a cut at an odd byte would split one
    }
    auto r = run(io, p.complete(conversation(long_text)));
    ASSERT_TRUE(r.has_value());
    EXPECT_NE(r->text.find("...\""), std::string::npos);
    EXPECT_LT(r->text.size(), long_text.size());
    const auto lead = std::count(r->text.begin(), r->text.end(), '\xC3');
    const auto cont = std::count(r->text.begin(), r->text.end(), '\xA9');
    EXPECT_GT(lead, 0);
    EXPECT_EQ(lead, cont);
}

TEST(OfflineProvider, HonoursCancellationDuringLatency) {
    boost::asio::io_context io;
    OfflineProvider p(OfflineSettings{.latency = 10s});
    const auto req = conversation("hello?");
    auto r = run_cancelled_after(io, p.complete(req), 30ms);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::cancelled);
}

TEST(OfflineProvider, HonoursCancellationMidStream) {
    boost::asio::io_context io;
    OfflineProvider p;
    std::vector<std::string> deltas;
    DeltaSink sink = [&deltas](std::string_view d) -> Task<void> {
        deltas.emplace_back(d);
        // A slow client: the cancellation lands while a delta is being written.
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 20ms);
        co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    };
    auto r = run_cancelled_after(io, p.stream(conversation("hi"), sink), 50ms);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::cancelled);
    EXPECT_GE(deltas.size(), 1u);
    EXPECT_LT(deltas.size(), 10u);
}

TEST(OfflineProvider, LatencyDelaysTheReply) {
    boost::asio::io_context io;
    OfflineProvider p(OfflineSettings{.latency = 60ms});
    const auto start = std::chrono::steady_clock::now();
    auto r = run(io, p.complete(conversation("hi")));
    ASSERT_TRUE(r.has_value());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 60ms);
}

}  // namespace
}  // namespace confidant::llm
