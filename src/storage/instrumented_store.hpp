#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "storage/store.hpp"

namespace confidant::storage {

/// A Store decorator that counts calls per operation (for /metrics, and so tests can see how
/// many reads reached the database behind the cache). Thread-safe; adds one relaxed atomic
/// increment per call.
class InstrumentedStore final : public Store {
  public:
    enum Op : std::size_t {
        kMigrate,
        kPing,
        kCreateUser,
        kFindUser,
        kFindUserByName,
        kUpdateProfile,
        kSetPremium,
        kRecentlyActive,
        kAppendExchange,
        kFindIdempotent,
        kHistory,
        kDeleteHistory,
        kCountMessages,
        kTurnContext,
        kDeleteBefore,
        kOpCount
    };
    static const char* op_name(Op op);

    explicit InstrumentedStore(Store& inner) : inner_(inner) {}

    std::uint64_t calls(Op op) const { return calls_[op].load(std::memory_order_relaxed); }
    /// Appends `store_operations_total{op}` in Prometheus text format.
    void render(std::string& out) const;

    Task<int> migrate() override { return (bump(kMigrate), inner_.migrate()); }
    Task<void> ping() override { return (bump(kPing), inner_.ping()); }
    Task<Result<User>> create_user(NewUser user) override {
        return (bump(kCreateUser), inner_.create_user(std::move(user)));
    }
    Task<std::optional<User>> find_user(UserId id) override {
        return (bump(kFindUser), inner_.find_user(id));
    }
    Task<std::optional<User>> find_user_by_name(std::string username) override {
        return (bump(kFindUserByName), inner_.find_user_by_name(std::move(username)));
    }
    Task<std::optional<User>> update_profile(UserId id, ProfilePatch patch) override {
        return (bump(kUpdateProfile), inner_.update_profile(id, std::move(patch)));
    }
    Task<std::optional<User>> set_premium_until(UserId id,
                                                std::optional<UnixSeconds> until) override {
        return (bump(kSetPremium), inner_.set_premium_until(id, until));
    }
    Task<std::vector<User>> recently_active_users(int limit) override {
        return (bump(kRecentlyActive), inner_.recently_active_users(limit));
    }
    Task<std::pair<Message, Message>> append_exchange(Exchange exchange) override {
        return (bump(kAppendExchange), inner_.append_exchange(std::move(exchange)));
    }
    Task<std::optional<std::string>> find_idempotent_response(UserId user, std::string key,
                                                              UnixSeconds not_before) override {
        return (bump(kFindIdempotent),
                inner_.find_idempotent_response(user, std::move(key), not_before));
    }
    Task<HistoryPage> history(UserId user, int limit, std::optional<MessageId> before) override {
        return (bump(kHistory), inner_.history(user, limit, before));
    }
    Task<std::int64_t> delete_history(UserId user) override {
        return (bump(kDeleteHistory), inner_.delete_history(user));
    }
    Task<std::int64_t> count_user_messages_since(UserId user, UnixSeconds since) override {
        return (bump(kCountMessages), inner_.count_user_messages_since(user, since));
    }
    Task<TurnContext> turn_context(UserId user, UnixSeconds since, int limit) override {
        return (bump(kTurnContext), inner_.turn_context(user, since, limit));
    }
    Task<std::int64_t> delete_messages_before(UnixSeconds before) override {
        return (bump(kDeleteBefore), inner_.delete_messages_before(before));
    }

  private:
    void bump(Op op) { calls_[op].fetch_add(1, std::memory_order_relaxed); }

    Store& inner_;
    std::array<std::atomic<std::uint64_t>, kOpCount> calls_{};
};

}  // namespace confidant::storage
