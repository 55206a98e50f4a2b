#pragma once

// The Database conformance suite: behaviour every backend must share, written against the
// interface and the operations only. A backend's test binary includes this header once, derives a StoreBackend
// and instantiates the suite:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(StoreBackendParam{"sqlite", make_backend}),
//                            StoreBackendParam::name_of);

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/database.hpp"

namespace confidant::storage::conformance {

/// One database under test. The constructor creates a fresh, empty database; every open()
/// returns a new Database on that same database (so a test can open two); the destructor drops
/// the database.
class StoreBackend {
  public:
    virtual ~StoreBackend() = default;
    virtual std::unique_ptr<Database> open() = 0;
};

struct StoreBackendParam {
    std::string name;
    /// Throws when the backend cannot be set up here: a missing backend fails, never skips.
    std::function<std::unique_ptr<StoreBackend>()> make;

    static std::string name_of(const ::testing::TestParamInfo<StoreBackendParam>& info) {
        return info.param.name;
    }
};

inline void PrintTo(const StoreBackendParam& param, std::ostream* os) { *os << param.name; }

/// Runs `task` to completion on a private io_context (one thread: the caller's).
template <class T>
T run_task(Task<T> task) {
    boost::asio::io_context ctx;
    auto future = boost::asio::co_spawn(ctx, std::move(task), boost::asio::use_future);
    ctx.run();
    return future.get();
}

class StoreConformance : public ::testing::TestWithParam<StoreBackendParam> {
  protected:
    static constexpr UnixSeconds kT0 = 1'800'000'000;

    void SetUp() override {
        backend_ = GetParam().make();
        ASSERT_TRUE(backend_) << GetParam().name << " could not be set up";
        db_ = backend_->open();
        version_ = run_task(db_->migrate());
    }

    void TearDown() override {
        db_.reset();
        backend_.reset();
    }

    User user(const std::string& name) {
        auto created = run(ops::CreateUser{NewUser{
            .username = name, .password_hash = "$argon2id$fake", .display_name = name + " D"}, kT0});
        if (!created) {
            throw std::runtime_error("create_user(" + name +
                                     ") failed: " + created.error().message);
        }
        return *created;
    }

    template <class Op>
    typename Op::Result run(Op op) {
        return run_task(db_->run(op));
    }

    std::pair<Message, Message> exchange(UserId id, std::string text, std::string reply,
                                         UnixSeconds at,
                                         std::optional<std::string> key = std::nullopt) {
        StoredExchange e = run(ops::AppendExchange{.user_id = id,
                                                   .user_text = std::move(text),
                                                   .reply_text = std::move(reply),
                                                   .at = at,
                                                   .idempotency_key = std::move(key),
                                                   .model = "test-model"});
        return {std::move(e.message), std::move(e.reply)};
    }

    std::int64_t usage_today(UserId id, UnixSeconds at) {
        return run(ops::UsageOn{id, utc_day(at)});
    }

    /// Retention as the maintenance job runs it: batches until one comes back short.
    std::int64_t purge(UnixSeconds before) {
        std::int64_t total = 0;
        for (;;) {
            const auto n = run(ops::PurgeMessagesBefore{before, 3});
            total += n;
            if (n < 3) {
                return total;
            }
        }
    }

    ops::ReserveIdempotencyKey::Result reserve(UserId id, std::string key, UnixSeconds at) {
        return run(ops::ReserveIdempotencyKey{.user_id = id,
                                              .key = std::move(key),
                                              .at = at,
                                              .reserved_until = at + 180,
                                              .not_before = at - 86400});
    }

    static std::vector<MessageId> ids(const HistoryPage& page) {
        std::vector<MessageId> out;
        for (const auto& m : page.messages) {
            out.push_back(m.id);
        }
        return out;
    }

    std::unique_ptr<StoreBackend> backend_;
    std::unique_ptr<Database> db_;
    int version_ = 0;
};

TEST_P(StoreConformance, MigrateIsVersionedAndIdempotent) {
    EXPECT_GE(version_, 2);
    EXPECT_EQ(run_task(db_->migrate()), version_);
    EXPECT_EQ(run_task(db_->migrate()), version_);
    // A second instance (another process, in production) finds nothing left to do.
    auto other = backend_->open();
    EXPECT_EQ(run_task(other->migrate()), version_);
    // Data written before a re-migration survives it.
    const User u = user("survivor");
    EXPECT_EQ(run_task(other->migrate()), version_);
    EXPECT_TRUE(run(ops::FindUser{u.id}).has_value());
}

TEST_P(StoreConformance, PingAnswers) { EXPECT_NO_THROW(run_task(db_->ping())); }

TEST_P(StoreConformance, CreateAndFindUser) {
    auto created = run(ops::CreateUser{NewUser{.username = "alice",
                                                        .password_hash = "$argon2id$v=19$x",
                                                        .role = "admin",
                                                        .display_name = "Alice",
                                                        .companion_persona = "a calm owl"}, kT0});
    ASSERT_TRUE(created.has_value());
    const User& u = *created;
    EXPECT_GT(u.id, 0);
    EXPECT_EQ(u.username, "alice");
    EXPECT_EQ(u.password_hash, "$argon2id$v=19$x");
    EXPECT_EQ(u.role, "admin");
    EXPECT_EQ(u.display_name, "Alice");
    EXPECT_EQ(u.companion_persona, "a calm owl");
    EXPECT_FALSE(u.premium_until.has_value());
    EXPECT_FALSE(u.last_active_at.has_value());

    auto by_id = run(ops::FindUser{u.id});
    ASSERT_TRUE(by_id.has_value());
    EXPECT_EQ(by_id->username, "alice");
    EXPECT_EQ(by_id->role, "admin");
    EXPECT_EQ(by_id->created_at, u.created_at);
    auto by_name = run(ops::FindUserByName{"alice"});
    ASSERT_TRUE(by_name.has_value());
    EXPECT_EQ(by_name->id, u.id);
    EXPECT_EQ(by_name->companion_persona, "a calm owl");

    const User bob = user("bob");
    EXPECT_NE(bob.id, u.id);
    EXPECT_EQ(bob.role, "user");  // NewUser's default
    EXPECT_FALSE(run(ops::FindUser{u.id + bob.id + 1000}).has_value());
    EXPECT_FALSE(run(ops::FindUserByName{"carol"}).has_value());
}

TEST_P(StoreConformance, DuplicateUsernameIsConflict) {
    const User first = user("alice");
    auto again = run(ops::CreateUser{NewUser{.username = "alice", .password_hash = "h"}, kT0});
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().code, ErrorCode::conflict);
    // The failed insert left the original untouched, and the store keeps working.
    auto found = run(ops::FindUserByName{"alice"});
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, first.id);
    EXPECT_EQ(found->password_hash, "$argon2id$fake");
    // Usernames are case-sensitive.
    auto upper = run(ops::CreateUser{NewUser{.username = "Alice", .password_hash = "h"}, kT0});
    ASSERT_TRUE(upper.has_value());
    EXPECT_NE(upper->id, first.id);
}

TEST_P(StoreConformance, UpdateProfileAppliesOnlySetFields) {
    const User u = user("alice");
    auto patched = run(ops::UpdateProfile{u.id, ProfilePatch{.display_name = "Ally"}});
    ASSERT_TRUE(patched.has_value());
    EXPECT_EQ(patched->display_name, "Ally");
    EXPECT_EQ(patched->companion_persona, u.companion_persona);

    patched = run(ops::UpdateProfile{u.id, ProfilePatch{.companion_persona = "a fox"}});
    ASSERT_TRUE(patched.has_value());
    EXPECT_EQ(patched->display_name, "Ally");
    EXPECT_EQ(patched->companion_persona, "a fox");

    // An explicit empty string is a value, not "unset".
    patched = run(ops::UpdateProfile{u.id, ProfilePatch{.display_name = ""}});
    ASSERT_TRUE(patched.has_value());
    EXPECT_EQ(patched->display_name, "");
    EXPECT_EQ(patched->companion_persona, "a fox");

    auto unchanged = run(ops::UpdateProfile{u.id, ProfilePatch{}});
    ASSERT_TRUE(unchanged.has_value());
    EXPECT_EQ(unchanged->companion_persona, "a fox");

    auto stored = run(ops::FindUser{u.id});
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->display_name, "");
    EXPECT_EQ(stored->companion_persona, "a fox");
    EXPECT_EQ(stored->username, "alice");

    EXPECT_FALSE(run(ops::UpdateProfile{u.id + 1000, ProfilePatch{.display_name = "x"}})
                     .has_value());
}

TEST_P(StoreConformance, PremiumSetAndClear) {
    const User u = user("alice");
    EXPECT_FALSE(u.is_premium(kT0));
    auto premium = run(ops::SetPremiumUntil{u.id, kT0 + 86400});
    ASSERT_TRUE(premium.has_value());
    EXPECT_EQ(premium->premium_until, kT0 + 86400);
    EXPECT_TRUE(premium->is_premium(kT0));
    EXPECT_FALSE(premium->is_premium(kT0 + 86400));
    auto stored = run(ops::FindUser{u.id});
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->premium_until, kT0 + 86400);

    auto cleared = run(ops::SetPremiumUntil{u.id, std::nullopt});
    ASSERT_TRUE(cleared.has_value());
    EXPECT_FALSE(cleared->premium_until.has_value());
    stored = run(ops::FindUser{u.id});
    ASSERT_TRUE(stored.has_value());
    EXPECT_FALSE(stored->premium_until.has_value());

    EXPECT_FALSE(run(ops::SetPremiumUntil{u.id + 1000, kT0}).has_value());
}

TEST_P(StoreConformance, AppendExchangeStoresBothInOrder) {
    const User u = user("alice");
    auto [question, reply] = exchange(u.id, "hello", "hi there", kT0);
    EXPECT_GT(question.id, 0);
    EXPECT_GT(reply.id, question.id);
    EXPECT_EQ(question.role, "user");
    EXPECT_EQ(reply.role, "assistant");
    EXPECT_EQ(question.content, "hello");
    EXPECT_EQ(reply.content, "hi there");
    EXPECT_EQ(question.created_at, kT0);
    EXPECT_EQ(reply.created_at, kT0);
    EXPECT_EQ(question.user_id, u.id);
    EXPECT_EQ(reply.user_id, u.id);

    auto [q2, r2] = exchange(u.id, "again", "yes", kT0 + 5);
    EXPECT_GT(q2.id, reply.id);
    EXPECT_GT(r2.id, q2.id);

    const HistoryPage page = run(ops::History{u.id, 10, std::nullopt});
    ASSERT_EQ(page.messages.size(), 4u);
    EXPECT_FALSE(page.has_more);
    EXPECT_EQ(ids(page), (std::vector<MessageId>{question.id, reply.id, q2.id, r2.id}));
    EXPECT_EQ(page.messages[0].content, "hello");
    EXPECT_EQ(page.messages[1].role, "assistant");
    EXPECT_EQ(page.messages[3].created_at, kT0 + 5);

    auto stored = run(ops::FindUser{u.id});
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->last_active_at, kT0 + 5);
}

TEST_P(StoreConformance, HistoryPagingIsExact) {
    const User u = user("alice");
    const User other = user("bob");
    std::vector<MessageId> all;
    for (int i = 0; i < 4; ++i) {
        auto [q, r] = exchange(u.id, "q" + std::to_string(i), "r" + std::to_string(i), kT0 + i);
        all.push_back(q.id);
        all.push_back(r.id);
        exchange(other.id, "noise", "noise", kT0 + i);  // interleaved ids of another user
    }
    ASSERT_EQ(all.size(), 8u);
    ASSERT_TRUE(std::is_sorted(all.begin(), all.end()));

    // 8 messages, limit 3: pages of 3, 3, 2.
    HistoryPage p1 = run(ops::History{u.id, 3, std::nullopt});
    EXPECT_EQ(ids(p1), (std::vector<MessageId>{all[5], all[6], all[7]}));
    EXPECT_TRUE(p1.has_more);
    HistoryPage p2 = run(ops::History{u.id, 3, p1.messages.front().id});
    EXPECT_EQ(ids(p2), (std::vector<MessageId>{all[2], all[3], all[4]}));
    EXPECT_TRUE(p2.has_more);
    HistoryPage p3 = run(ops::History{u.id, 3, p2.messages.front().id});
    EXPECT_EQ(ids(p3), (std::vector<MessageId>{all[0], all[1]}));
    EXPECT_FALSE(p3.has_more);
    EXPECT_EQ(p3.messages[0].content, "q0");
    EXPECT_EQ(p3.messages[1].content, "r0");

    // A page that ends exactly at the oldest message: has_more is false, not "maybe".
    HistoryPage exact = run(ops::History{u.id, 4, all[4]});
    EXPECT_EQ(ids(exact), (std::vector<MessageId>{all[0], all[1], all[2], all[3]}));
    EXPECT_FALSE(exact.has_more);
    HistoryPage whole = run(ops::History{u.id, 8, std::nullopt});
    EXPECT_EQ(ids(whole), all);
    EXPECT_FALSE(whole.has_more);
    HistoryPage almost = run(ops::History{u.id, 7, std::nullopt});
    EXPECT_EQ(almost.messages.size(), 7u);
    EXPECT_TRUE(almost.has_more);

    // Nothing is older than the first message.
    HistoryPage none = run(ops::History{u.id, 3, all[0]});
    EXPECT_TRUE(none.messages.empty());
    EXPECT_FALSE(none.has_more);

    // `before` need not be one of the user's ids.
    HistoryPage mid = run(ops::History{u.id, 2, all[3] + 1});
    EXPECT_EQ(ids(mid), (std::vector<MessageId>{all[2], all[3]}));
    EXPECT_TRUE(mid.has_more);

    HistoryPage stranger = run(ops::History{u.id + other.id + 1000, 3, std::nullopt});
    EXPECT_TRUE(stranger.messages.empty());
    EXPECT_FALSE(stranger.has_more);
}

TEST_P(StoreConformance, ATransactionSpanningAreasIsAllOrNothing) {
    const User u = user("alice");
    run(ops::UpdateProfile{u.id, ProfilePatch{.display_name = "before"}});
    // A profile update, a key reservation and an exchange for a user that does not exist: the
    // last one fails, so none of them stays.
    Transaction tx;
    tx.add(ops::UpdateProfile{u.id, ProfilePatch{.display_name = "after"}});
    tx.add(ops::ReserveIdempotencyKey{u.id, "key-1", kT0, kT0 + 180, kT0 - 86400});
    tx.add(ops::AppendExchange{.user_id = u.id, .user_text = "kept?", .reply_text = "r", .at = kT0});
    tx.add(ops::AppendExchange{
        .user_id = u.id + 1000, .user_text = "lost", .reply_text = "lost too", .at = kT0});
    EXPECT_ANY_THROW(run_task(db_->execute(tx)));

    EXPECT_EQ(run(ops::FindUser{u.id})->display_name, "before");
    EXPECT_TRUE(run(ops::History{u.id, 10, std::nullopt}).messages.empty());
    EXPECT_EQ(usage_today(u.id, kT0), 0);
    EXPECT_FALSE(run(ops::FindUser{u.id})->last_active_at.has_value());
    // The key was not left reserved.
    EXPECT_EQ(reserve(u.id, "key-1", kT0 + 1).state, IdempotencyReservation::State::reserved);

    // Nothing was left open: the same transaction without the failing step commits whole.
    Transaction ok;
    const auto profile = ok.add(ops::UpdateProfile{u.id, ProfilePatch{.display_name = "after"}});
    const auto stored =
        ok.add(ops::AppendExchange{.user_id = u.id, .user_text = "q", .reply_text = "r", .at = kT0});
    const auto usage = ok.add(ops::UsageOn{u.id, utc_day(kT0)});
    run_task(db_->execute(ok));
    EXPECT_EQ(ok.take(profile)->display_name, "after");
    const StoredExchange e = ok.take(stored);
    EXPECT_LT(e.message.id, e.reply.id);
    EXPECT_EQ(ok.take(usage), 1);  // later steps see earlier ones
    EXPECT_EQ(ids(run(ops::History{u.id, 10, std::nullopt})),
              (std::vector<MessageId>{e.message.id, e.reply.id}));
}

// The outbox: a job caused by an exchange is stored with it or not at all.
TEST_P(StoreConformance, AJobIsEnqueuedWithItsExchangeOrNotAtAll) {
    const User u = user("alice");
    auto job = [&](std::string text) {
        NewJob j;
        j.type = "tts";
        j.user_id = u.id;
        j.payload = "{\"text\":\"" + text + "\"}";
        return j;
    };
    Transaction failing;
    failing.add(ops::AppendExchange{.user_id = u.id + 1000, .user_text = "q", .reply_text = "r",
                                    .at = kT0});
    failing.add(ops::EnqueueJob{job("lost"), kT0 * 1000});
    EXPECT_ANY_THROW(run_task(db_->execute(failing)));
    EXPECT_TRUE(run(ops::ListJobs{std::nullopt, 10, std::nullopt}).jobs.empty());

    Transaction ok;
    const auto stored =
        ok.add(ops::AppendExchange{.user_id = u.id, .user_text = "q", .reply_text = "r", .at = kT0});
    const auto queued = ok.add(ops::EnqueueJob{job("kept"), kT0 * 1000});
    run_task(db_->execute(ok));
    const auto e = ok.take(stored);
    const auto j = run(ops::FindJob{ok.take(queued).id});
    ASSERT_TRUE(j.has_value());
    EXPECT_EQ(j->status, "queued");
    EXPECT_EQ(j->payload, "{\"text\":\"kept\"}");
    EXPECT_EQ(j->user_id, u.id);
    EXPECT_EQ(ids(run(ops::History{u.id, 10, std::nullopt})),
              (std::vector<MessageId>{e.message.id, e.reply.id}));
}

TEST_P(StoreConformance, ReadOnlyTransactionsSeeOneSnapshot) {
    const User u = user("alice");
    auto [q, r] = exchange(u.id, "a", "ra", kT0);
    Transaction tx;
    const auto found = tx.add(ops::FindUser{u.id});
    const auto page = tx.add(ops::History{u.id, 10, std::nullopt});
    const auto used = tx.add(ops::UsageOn{u.id, utc_day(kT0)});
    EXPECT_FALSE(tx.writes());
    run_task(db_->execute(tx));
    EXPECT_EQ(tx.take(found)->username, "alice");
    EXPECT_EQ(ids(tx.take(page)), (std::vector<MessageId>{q.id, r.id}));
    EXPECT_EQ(tx.take(used), 1);
}

TEST_P(StoreConformance, IdempotencyReservationStates) {
    using State = IdempotencyReservation::State;
    const User u = user("alice");
    const User other = user("bob");

    // First use reserves; a second request while it runs finds it in progress.
    EXPECT_EQ(reserve(u.id, "req-1", kT0).state, State::reserved);
    EXPECT_EQ(reserve(u.id, "req-1", kT0 + 1).state, State::in_progress);
    // Keys are per user, and exact.
    EXPECT_EQ(reserve(other.id, "req-1", kT0).state, State::reserved);
    EXPECT_EQ(reserve(u.id, "REQ-1", kT0).state, State::reserved);

    // The exchange completes it: then it replays the stored messages and the model.
    auto [q, r] = exchange(u.id, "hi", "hello", kT0 + 2, "req-1");
    auto replay = reserve(u.id, "req-1", kT0 + 3);
    ASSERT_EQ(replay.state, State::replay);
    ASSERT_TRUE(replay.exchange.has_value());
    EXPECT_EQ(replay.exchange->message.id, q.id);
    EXPECT_EQ(replay.exchange->message.content, "hi");
    EXPECT_EQ(replay.exchange->reply.id, r.id);
    EXPECT_EQ(replay.exchange->reply.content, "hello");
    EXPECT_EQ(replay.exchange->reply.role, "assistant");
    EXPECT_EQ(replay.model, "test-model");

    // Past the replay window (not_before = at - 1 day) the record is taken over.
    EXPECT_EQ(reserve(u.id, "req-1", kT0 + 2 + 86401).state, State::reserved);

    // Released (the model failed): free again at once. A finished record is not released.
    EXPECT_EQ(reserve(u.id, "req-2", kT0).state, State::reserved);
    EXPECT_TRUE(run(ops::ReleaseIdempotencyKey{u.id, "req-2"}));
    EXPECT_EQ(reserve(u.id, "req-2", kT0 + 1).state, State::reserved);
    exchange(u.id, "x", "y", kT0 + 2, "req-2");
    EXPECT_FALSE(run(ops::ReleaseIdempotencyKey{u.id, "req-2"}));
    EXPECT_EQ(reserve(u.id, "req-2", kT0 + 3).state, State::replay);

    // A reservation whose holder died lapses after reserved_until.
    EXPECT_EQ(reserve(u.id, "req-3", kT0).state, State::reserved);
    EXPECT_EQ(reserve(u.id, "req-3", kT0 + 179).state, State::in_progress);
    EXPECT_EQ(reserve(u.id, "req-3", kT0 + 180).state, State::reserved);

    // Deleting history deletes the replay records: the deleted messages never come back.
    run(ops::DeleteHistory{u.id});
    EXPECT_EQ(reserve(u.id, "req-2", kT0 + 4).state, State::reserved);

    // Retention purges old records.
    EXPECT_GE(run(ops::PurgeIdempotencyBefore{kT0 + 100000}), 1);
    EXPECT_EQ(reserve(other.id, "req-1", kT0 + 100001).state, State::reserved);
}

TEST_P(StoreConformance, UsageCountsSentMessagesPerDayAndSurvivesDeletes) {
    const User u = user("alice");
    const User other = user("bob");
    const UnixSeconds day_start = utc_day_start(kT0);
    exchange(u.id, "a", "ra", day_start);
    exchange(u.id, "b", "rb", day_start + 86399);
    exchange(u.id, "c", "rc", day_start + 86400);  // the next day
    exchange(other.id, "x", "rx", day_start + 10);
    EXPECT_EQ(usage_today(u.id, day_start + 5), 2);
    EXPECT_EQ(usage_today(u.id, day_start + 86400), 1);
    EXPECT_EQ(usage_today(other.id, day_start), 1);
    EXPECT_EQ(usage_today(u.id, day_start - 1), 0);

    // Billing records: deleting history changes nothing.
    EXPECT_EQ(run(ops::DeleteHistory{u.id}), 6);
    EXPECT_EQ(usage_today(u.id, day_start), 2);
    EXPECT_EQ(purge(day_start + 100000), 2);
    EXPECT_EQ(usage_today(other.id, day_start), 1);

    // Their own retention removes whole days before a cut-off.
    EXPECT_EQ(run(ops::PurgeUsageBefore{utc_day(day_start + 86400)}), 2);
    EXPECT_EQ(usage_today(u.id, day_start), 0);
    EXPECT_EQ(usage_today(u.id, day_start + 86400), 1);
}

// LoadTurnContext answers exactly what UsageOn and History answer.
TEST_P(StoreConformance, TurnContextIsTheUsageAndTheNewestMessages) {
    const User u = user("alice");
    const User other = user("bob");
    exchange(u.id, "a", "ra", kT0);
    auto [qb, rb] = exchange(u.id, "b", "rb", kT0 + 10);
    auto [qc, rc] = exchange(u.id, "c", "rc", kT0 + 20);
    exchange(other.id, "x", "rx", kT0 + 30);

    TurnContext t = run(ops::LoadTurnContext{u.id, utc_day(kT0), 3});
    EXPECT_EQ(t.used_today, 3);
    EXPECT_EQ(ids(HistoryPage{t.recent, false}), (std::vector<MessageId>{rb.id, qc.id, rc.id}));
    EXPECT_EQ(t.recent.back().content, "rc");
    EXPECT_EQ(t.recent.back().user_id, u.id);

    t = run(ops::LoadTurnContext{u.id, utc_day(kT0) + 1, 0});
    EXPECT_EQ(t.used_today, 0);
    EXPECT_TRUE(t.recent.empty());

    t = run(ops::LoadTurnContext{u.id + 1000, utc_day(kT0), 5});
    EXPECT_EQ(t.used_today, 0);
    EXPECT_TRUE(t.recent.empty());
}

TEST_P(StoreConformance, DeleteHistory) {
    const User u = user("alice");
    const User other = user("bob");
    exchange(u.id, "a", "ra", kT0);
    auto [q, r] = exchange(u.id, "b", "rb", kT0 + 1);
    exchange(other.id, "x", "rx", kT0);

    EXPECT_EQ(run(ops::DeleteHistory{u.id}), 4);
    EXPECT_TRUE(run(ops::History{u.id, 10, std::nullopt}).messages.empty());
    EXPECT_EQ(run(ops::History{other.id, 10, std::nullopt}).messages.size(), 2u);
    EXPECT_EQ(run(ops::DeleteHistory{u.id}), 0);
    EXPECT_TRUE(run(ops::FindUser{u.id}).has_value());

    // Ids keep increasing after a delete: they are never reused.
    auto [q2, r2] = exchange(u.id, "c", "rc", kT0 + 2);
    EXPECT_GT(q2.id, r.id);
    EXPECT_GT(r2.id, q2.id);
}

TEST_P(StoreConformance, RetentionDeletesOnlyOlderMessages) {
    const User u = user("alice");
    const User other = user("bob");
    exchange(u.id, "old", "old", kT0);
    exchange(other.id, "old", "old", kT0 + 50);
    auto [q, r] = exchange(u.id, "edge", "edge", kT0 + 100);
    auto [q2, r2] = exchange(other.id, "new", "new", kT0 + 200);

    EXPECT_EQ(purge(kT0 + 100), 4);
    EXPECT_EQ(ids(run(ops::History{u.id, 10, std::nullopt})), (std::vector<MessageId>{q.id, r.id}));
    EXPECT_EQ(ids(run(ops::History{other.id, 10, std::nullopt})),
              (std::vector<MessageId>{q2.id, r2.id}));
    EXPECT_EQ(purge(kT0 + 100), 0);
    EXPECT_EQ(purge(kT0 + 1000), 4);
}

TEST_P(StoreConformance, RecentlyActiveUsersNewestFirst) {
    const User a = user("alice");
    const User b = user("bob");
    const User c = user("carol");  // never active
    exchange(a.id, "x", "y", kT0 + 10);
    exchange(b.id, "x", "y", kT0 + 20);

    auto recent = run(ops::RecentlyActiveUsers{10});
    ASSERT_EQ(recent.size(), 2u);
    EXPECT_EQ(recent[0].id, b.id);
    EXPECT_EQ(recent[1].id, a.id);
    EXPECT_EQ(recent[0].last_active_at, kT0 + 20);
    auto top = run(ops::RecentlyActiveUsers{1});
    ASSERT_EQ(top.size(), 1u);
    EXPECT_EQ(top[0].id, b.id);

    exchange(a.id, "x", "y", kT0 + 30);
    recent = run(ops::RecentlyActiveUsers{10});
    ASSERT_EQ(recent.size(), 2u);
    EXPECT_EQ(recent[0].id, a.id);
    EXPECT_TRUE(
        std::none_of(recent.begin(), recent.end(), [&](const User& x) { return x.id == c.id; }));
}

TEST_P(StoreConformance, ConcurrentAppendsAllStoredWithUniqueIds) {
    constexpr int kUsers = 4;
    constexpr int kPerUser = 50;
    std::vector<User> users;
    for (int i = 0; i < kUsers; ++i) {
        users.push_back(user("user" + std::to_string(i)));
    }

    boost::asio::io_context ctx;
    std::mutex mutex;
    std::vector<std::pair<Message, Message>> results;
    std::vector<std::exception_ptr> errors;
    for (int i = 0; i < kUsers * kPerUser; ++i) {
        const UserId id = users[static_cast<std::size_t>(i % kUsers)].id;
        boost::asio::co_spawn(
            ctx,
            [this, id, i]() -> Task<std::pair<Message, Message>> {
                // A named local: GCC 12 destroys aggregate temporaries in a co_await operand
                // twice.
                ops::AppendExchange ex{.user_id = id,
                                       .user_text = "q" + std::to_string(i),
                                       .reply_text = "r" + std::to_string(i),
                                       .at = kT0 + i};
                StoredExchange e = co_await db_->run(ex);
                co_return std::make_pair(std::move(e.message), std::move(e.reply));
            },
            [&](std::exception_ptr e, std::pair<Message, Message> pair) {
                std::lock_guard lock(mutex);
                if (e) {
                    errors.push_back(e);
                } else {
                    results.push_back(std::move(pair));
                }
            });
    }
    std::thread second([&] { ctx.run(); });
    ctx.run();
    second.join();

    ASSERT_TRUE(errors.empty());
    ASSERT_EQ(results.size(), static_cast<std::size_t>(kUsers * kPerUser));
    std::set<MessageId> unique;
    for (const auto& [q, r] : results) {
        EXPECT_LT(q.id, r.id);
        EXPECT_EQ(q.content.substr(1), r.content.substr(1));
        unique.insert(q.id);
        unique.insert(r.id);
    }
    EXPECT_EQ(unique.size(), static_cast<std::size_t>(2 * kUsers * kPerUser));
    for (const User& u : users) {
        const HistoryPage page = run(ops::History{u.id, 1000, std::nullopt});
        EXPECT_EQ(page.messages.size(), static_cast<std::size_t>(2 * kPerUser));
        EXPECT_FALSE(page.has_more);
        EXPECT_TRUE(std::is_sorted(page.messages.begin(), page.messages.end(),
                                   [](const Message& x, const Message& y) { return x.id < y.id; }));
        EXPECT_EQ(usage_today(u.id, kT0), kPerUser);
    }
}

TEST_P(StoreConformance, HostileStringsRoundTripExactly) {
    const std::vector<std::string> hostile = {
        "'; DROP TABLE users; --",
        "Robert'); DROP TABLE chat_history;--",
        "\" OR 1=1 --",
        "back\\slash 'single' \"double\" `tick` %s %d ?1 $1 :name @p",
        "line\nbreak\r\n\ttab",
        "Zoë — naïve café, 東京, Привет, مرحبا",
        "emoji 🙂🔥👩‍💻 and a flag 🇫🇷",
        std::string(5000, 'x') + "🙂",
        // A very long message (API.md allows 8000 code points of up to 4 bytes each; the
        // store itself must not cut anything).
        std::string(100'000, 'y') + "🙂",
    };
    for (std::size_t i = 0; i < hostile.size(); ++i) {
        const std::string& s = hostile[i];
        const std::string name = s.size() <= 64 ? s : "long#" + std::to_string(i);
        auto created = run(ops::CreateUser{NewUser{
            .username = name, .password_hash = s, .display_name = s, .companion_persona = s}, kT0});
        ASSERT_TRUE(created.has_value()) << i;
        auto found = run(ops::FindUserByName{name});
        ASSERT_TRUE(found.has_value()) << i;
        EXPECT_EQ(found->username, name);
        EXPECT_EQ(found->password_hash, s);
        EXPECT_EQ(found->display_name, s);
        EXPECT_EQ(found->companion_persona, s);

        auto patched =
            run(ops::UpdateProfile{found->id, ProfilePatch{.display_name = s + "!"}});
        ASSERT_TRUE(patched.has_value());
        EXPECT_EQ(patched->display_name, s + "!");

        EXPECT_EQ(reserve(found->id, s, kT0 - 1).state, IdempotencyReservation::State::reserved);
        exchange(found->id, s, "re: " + s, kT0, s);
        const HistoryPage page = run(ops::History{found->id, 10, std::nullopt});
        ASSERT_EQ(page.messages.size(), 2u);
        EXPECT_EQ(page.messages[0].content, s);
        EXPECT_EQ(page.messages[1].content, "re: " + s);
        const auto replay = reserve(found->id, s, kT0 + 1);
        ASSERT_EQ(replay.state, IdempotencyReservation::State::replay);
        EXPECT_EQ(replay.exchange->message.content, s);
    }
    // Pattern characters are literal: no LIKE, no globbing.
    user("abc");
    EXPECT_FALSE(run(ops::FindUserByName{"a%"}).has_value());
    EXPECT_FALSE(run(ops::FindUserByName{"a_c"}).has_value());
    EXPECT_FALSE(run(ops::FindUserByName{"ABC"}).has_value());
    // Nothing was dropped.
    EXPECT_TRUE(run(ops::FindUserByName{"abc"}).has_value());
    EXPECT_NO_THROW(run_task(db_->ping()));
}

}  // namespace confidant::storage::conformance
