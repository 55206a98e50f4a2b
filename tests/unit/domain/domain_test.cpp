// The product rules of src/domain/ (premium boundaries, the durable quota, Idempotency-Key
// states, abuse limits on accounts) with an injected clock. The database is a real SQLite file
// in a temporary directory rather than a fake: a fake store would be a third implementation of
// every operation to keep right, and the conformance suite already pins the backends down.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "cache/cached.hpp"
#include "cache/local/local_cache.hpp"
#include "cache/single_flight.hpp"
#include "core/blocking_pool.hpp"
#include "core/clock.hpp"
#include "domain/chat.hpp"
#include "domain/users.hpp"
#include "ratelimit/local_rate_limiter.hpp"
#include "storage/sqlite/sqlite_database.hpp"
#include "support/scripted_provider.hpp"
#include "unit/storage/temp_dir.hpp"

namespace confidant::domain {
namespace {

using namespace std::chrono_literals;
using storage::test_util::TempDir;

// 2027-01-15T12:00:00Z: the middle of a UTC day.
constexpr UnixSeconds kNoon = 1'800'000'000 - 1'800'000'000 % 86400 + 43200;

class DomainTest : public ::testing::Test {
  protected:
    DomainTest() {
        clock_.set_system(std::chrono::system_clock::time_point(std::chrono::seconds(kNoon)));
        run(db_.migrate());
    }

    template <class T>
    T run(Task<T> task) {
        auto future = boost::asio::co_spawn(ctx_, std::move(task), boost::asio::use_future);
        ctx_.restart();
        while (future.wait_for(0s) != std::future_status::ready) {
            ctx_.run_one_for(50ms);
        }
        return future.get();
    }

    UnixSeconds now() const {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   clock_.system_now().time_since_epoch())
            .count();
    }

    Profile registered(const std::string& name, const std::string& client = "10.0.0.1") {
        auto r = run(users_.register_user(name, "correct-horse", client));
        EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
        return r.value().profile;
    }

    Profile fresh(storage::UserId id) { return *run(users_.profile(id)); }

    Result<ChatAnswer> say(const Profile& p, std::string text,
                           std::optional<std::string> key = std::nullopt) {
        auto prepared = run(chat_.prepare(p, std::move(text), std::move(key)));
        if (!prepared) {
            return prepared.error();
        }
        if (prepared->replay) {
            ChatAnswer a;
            a.body = *prepared->replay;
            return a;
        }
        return run(chat_.generate(std::move(*prepared)));
    }

    boost::asio::io_context ctx_;
    ManualClock clock_;
    TempDir dir_;
    storage::SqliteDatabase db_{storage::SqliteSettings{.path = (dir_.path() / "d.db").string()},
                                clock_};
    BlockingPool hash_pool_{1, "argon2"};
    auth::PasswordHasher hasher_{auth::PasswordSettings::fast(), hash_pool_, 8};
    auth::JwtCodec jwt_{"domain-test-secret-0123456789-abcdefghij", 30s, clock_};
    cache::LocalCache l1_{cache::LocalCacheSettings{}, clock_};
    cache::SingleFlight<std::string> flight_;
    cache::Cached cached_{l1_, flight_, cache::CachedSettings{}, clock_};
    ratelimit::LocalRateLimiter limiter_{clock_};
    UserSettings user_settings_{.free_messages_per_day = 3,
                                .premium_messages_per_day = 5,
                                .login_failures_per_window = 5,
                                .login_failure_window = 900s,
                                .registrations_per_hour = 4};
    Users users_{db_, hasher_, jwt_, &cached_, limiter_, user_settings_, clock_};
    test_support::ScriptedProvider provider_;
    ChatSettings chat_settings_{.chat_rate_limit_per_minute = 1000};
    Chat chat_{db_, users_, provider_, &cached_, &limiter_, chat_settings_, clock_};
};

// --- premium boundaries ------------------------------------------------------------------

TEST_F(DomainTest, APremiumThatEndsIsTheFreePlanAtOnceEvenWhenCached) {
    const Profile alice = registered("alice");
    ASSERT_TRUE(run(users_.set_premium(alice.id, now() + 3)).has_value());
    Profile p = fresh(alice.id);  // now cached
    EXPECT_TRUE(p.is_premium(now()));
    EXPECT_EQ(users_.messages_per_day(p), 5);
    EXPECT_NE(users_.render(p).find(R"("is_premium":true)"), std::string::npos);

    clock_.advance(3s);  // premium_until == now: over
    p = fresh(alice.id);  // the same cached entry, read after the end
    EXPECT_FALSE(p.is_premium(now()));
    EXPECT_EQ(users_.messages_per_day(p), 3);
    EXPECT_NE(users_.render(p).find(R"("is_premium":false)"), std::string::npos);
    // The end of a subscription is not the end of the account (the old bug: "unknown user").
    l1_.clear();
    ASSERT_TRUE(run(users_.profile(alice.id)).has_value());
    auto login = run(users_.login("alice", "correct-horse", "10.0.0.1"));
    ASSERT_TRUE(login.has_value());
    EXPECT_FALSE(login->profile.is_premium(now()));
}

TEST_F(DomainTest, ProfileEncodingRoundTripsAndRejectsOtherForms) {
    Profile p{42, "bob", "admin", "B|o:b\n", "likes 7:colons|", 1'700'000'000, 1'600'000'000};
    auto back = decode_profile(encode_profile(p));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->id, 42);
    EXPECT_EQ(back->role, "admin");
    EXPECT_EQ(back->display_name, "B|o:b\n");
    EXPECT_EQ(back->companion_persona, "likes 7:colons|");
    EXPECT_EQ(back->premium_until, 1'700'000'000);
    EXPECT_EQ(back->created_at, 1'600'000'000);
    p.premium_until.reset();
    EXPECT_FALSE(decode_profile(encode_profile(p))->premium_until.has_value());
    // The old cached form (premium prefix + rendered JSON) and damage read as "reload".
    EXPECT_FALSE(decode_profile(R"(0|{"id":1,"role":"admin"})").has_value());
    std::string cut = encode_profile(p);
    cut.pop_back();
    EXPECT_FALSE(decode_profile(cut).has_value());
    EXPECT_FALSE(decode_profile(encode_profile(p) + "x").has_value());
}

// --- the quota -----------------------------------------------------------------------------

TEST_F(DomainTest, TheQuotaCountsMessagesSentNotKept) {
    const Profile alice = registered("alice");
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(say(alice, "hi " + std::to_string(i)).has_value()) << i;
    }
    EXPECT_EQ(run(chat_.used_today(alice.id)), 3);
    auto refused = say(alice, "one more");
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::quota_exceeded);
    EXPECT_EQ(refused.error().retry_after_s, 43200);  // until the UTC day ends

    // Deleting history does not give the messages back.
    run(chat_.clear_history(alice.id));
    EXPECT_TRUE(run(chat_.history(alice.id, 50, std::nullopt)).messages.empty());
    EXPECT_EQ(run(chat_.used_today(alice.id)), 3);
    refused = say(alice, "after delete");
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::quota_exceeded);
    EXPECT_EQ(provider_.calls, 3);

    // A failed model call costs nothing.
    clock_.advance(12h);  // the next UTC day
    provider_.fail = true;
    EXPECT_EQ(say(alice, "x").error().code, ErrorCode::llm_unavailable);
    provider_.fail = false;
    EXPECT_EQ(run(chat_.used_today(alice.id)), 0);
    EXPECT_TRUE(say(alice, "new day").has_value());
    EXPECT_EQ(run(chat_.used_today(alice.id)), 1);
}

TEST_F(DomainTest, ThePremiumQuotaEndsWithThePremium) {
    const Profile alice = registered("alice");
    run(users_.set_premium(alice.id, now() + 60));
    for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(say(fresh(alice.id), "m" + std::to_string(i)).has_value()) << i;
    }
    clock_.advance(61s);
    auto refused = say(fresh(alice.id), "past the free limit");
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::quota_exceeded);
    EXPECT_NE(refused.error().message.find("of 3"), std::string::npos);
}

// --- Idempotency-Key -----------------------------------------------------------------------

TEST_F(DomainTest, AKeyReplaysTheFirstAnswerWithoutASecondModelCall) {
    const Profile alice = registered("alice");
    auto first = say(alice, "hello", "k-1");
    ASSERT_TRUE(first.has_value());
    auto again = say(alice, "hello", "k-1");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->body, first->body);
    EXPECT_EQ(provider_.calls, 1);
    EXPECT_EQ(run(chat_.used_today(alice.id)), 1);  // a replay is not a message sent
}

TEST_F(DomainTest, AKeyInUseIsAConflictUntilTheFirstFinishes) {
    const Profile alice = registered("alice");
    provider_.hold();
    auto first = run(chat_.prepare(alice, "slow", std::string("k-2")));
    ASSERT_TRUE(first.has_value());
    std::optional<Result<ChatAnswer>> first_answer;
    boost::asio::co_spawn(
        ctx_,
        [&]() -> Task<void> { first_answer = co_await chat_.generate(std::move(*first)); },
        boost::asio::detached);
    ctx_.restart();
    ctx_.run_for(100ms);  // the first turn is now waiting for the model

    auto second = run(chat_.prepare(alice, "slow", std::string("k-2")));
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, ErrorCode::conflict);

    provider_.release();
    while (!first_answer) {
        ctx_.run_one_for(50ms);
    }
    ASSERT_TRUE(first_answer->has_value());
    auto replay = run(chat_.prepare(alice, "slow", std::string("k-2")));
    ASSERT_TRUE(replay.has_value());
    ASSERT_TRUE(replay->replay.has_value());
    EXPECT_EQ(*replay->replay, (*first_answer)->body);
    EXPECT_EQ(provider_.calls, 1);
}

TEST_F(DomainTest, AFailedOrAbandonedTurnGivesTheKeyBack) {
    const Profile alice = registered("alice");
    provider_.fail = true;
    EXPECT_EQ(say(alice, "x", "k-3").error().code, ErrorCode::llm_unavailable);
    provider_.fail = false;
    EXPECT_TRUE(say(alice, "x", "k-3").has_value());  // not a 409: the key was released
    EXPECT_EQ(provider_.calls, 2);

    // A turn prepared and dropped (the client went away before the model answered).
    {
        auto dropped = run(chat_.prepare(alice, "y", std::string("k-4")));
        ASSERT_TRUE(dropped.has_value());
    }
    ctx_.restart();
    ctx_.run_for(200ms);  // the release is spawned on the executor
    EXPECT_TRUE(say(alice, "y", "k-4").has_value());
}

TEST_F(DomainTest, DeletedHistoryIsNotReplayed) {
    const Profile alice = registered("alice");
    ASSERT_TRUE(say(alice, "secret", "k-5").has_value());
    run(chat_.clear_history(alice.id));
    auto after = say(alice, "secret", "k-5");
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(provider_.calls, 2);  // answered anew, not replayed from deleted messages
    const auto page = run(chat_.history(alice.id, 50, std::nullopt));
    ASSERT_EQ(page.messages.size(), 2u);
    EXPECT_GT(page.messages[0].id, 2);
}

// --- abuse limits on accounts ----------------------------------------------------------------

TEST_F(DomainTest, FailedLoginsAreLimitedPerUsernameThenEvenTheRightPasswordWaits) {
    registered("alice");
    for (int i = 0; i < 5; ++i) {
        auto r = run(users_.login("alice", "wrong-password", "10.0.0." + std::to_string(10 + i)));
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, ErrorCode::unauthorized) << i;
    }
    auto limited = run(users_.login("alice", "correct-horse", "10.0.0.99"));
    ASSERT_FALSE(limited.has_value());
    EXPECT_EQ(limited.error().code, ErrorCode::rate_limited);
    ASSERT_TRUE(limited.error().retry_after_s.has_value());
    EXPECT_GE(*limited.error().retry_after_s, 1);
    EXPECT_LE(*limited.error().retry_after_s, 900);
    // Another user is not affected.
    registered("bob");
    EXPECT_TRUE(run(users_.login("bob", "correct-horse", "10.0.0.99")).has_value());
    // Once the window lets one through, the right password works.
    clock_.advance(std::chrono::seconds(*limited.error().retry_after_s));
    EXPECT_TRUE(run(users_.login("alice", "correct-horse", "10.0.0.99")).has_value());
}

TEST_F(DomainTest, FailedLoginsAreLimitedPerClientAddress) {
    for (int i = 0; i < 5; ++i) {
        auto r = run(users_.login("nobody" + std::to_string(i), "whatever-pw", "10.9.9.9"));
        EXPECT_EQ(r.error().code, ErrorCode::unauthorized);
    }
    registered("carol", "10.1.1.1");
    auto limited = run(users_.login("carol", "correct-horse", "10.9.9.9"));
    ASSERT_FALSE(limited.has_value());
    EXPECT_EQ(limited.error().code, ErrorCode::rate_limited);
    EXPECT_TRUE(run(users_.login("carol", "correct-horse", "10.1.1.1")).has_value());
}

TEST_F(DomainTest, RegistrationsAreLimitedPerClientAddress) {
    for (int i = 0; i < 4; ++i) {
        registered("user" + std::to_string(i), "10.2.2.2");
    }
    auto refused = run(users_.register_user("user4", "correct-horse", "10.2.2.2"));
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::rate_limited);
    EXPECT_FALSE(run(db_.run<storage::ops::FindUserByName>("user4")).has_value());
    EXPECT_TRUE(run(users_.register_user("user4", "correct-horse", "10.3.3.3")).has_value());
}

}  // namespace
}  // namespace confidant::domain
