#include "redis/subscriber.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis/redis_invalidation_bus.hpp"
#include "redis/pool.hpp"
#include "support/redis_server.hpp"

namespace confidant::redis {
namespace {

using namespace std::chrono_literals;
using test::IoThreads;
using test::RedisServer;

RedisSettings fast_settings(const RedisServer& server) {
    return test::fast_redis_settings(server, 1000ms);
}

class Inbox {
  public:
    void push(std::string_view channel, std::string_view message) {
        std::lock_guard lock(mu_);
        items_.emplace_back(std::string(channel) + "|" + std::string(message));
    }
    std::vector<std::string> items() const {
        std::lock_guard lock(mu_);
        return items_;
    }
    bool wait_for_size(std::size_t n, std::chrono::milliseconds timeout = 10s) const {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (items().size() >= n) {
                return true;
            }
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }

  private:
    mutable std::mutex mu_;
    std::vector<std::string> items_;
};

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

TEST(RedisSubscriber, DeliversPublishedMessages) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    Subscriber sub(io.executor(), fast_settings(server), pool);
    Inbox inbox;
    sub.subscribe("news", [&](std::string_view c, std::string_view m) { inbox.push(c, m); });
    sub.subscribe("other", [&](std::string_view c, std::string_view m) { inbox.push(c, m); });
    ASSERT_TRUE(wait_until([&] { return sub.connected(); }));
    // Subscriptions are asynchronous: publish until the server reports both receivers.
    ASSERT_TRUE(wait_until([&] {
        auto n = io.run(sub.publish("news", "probe"));
        auto m = io.run(sub.publish("other", "probe"));
        return n && *n == 1 && m && *m == 1;
    }));
    auto n = io.run(sub.publish("news", "hello"));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 1);
    io.run(sub.publish("other", "world"));
    io.run(sub.publish("unsubscribed-channel", "ignored"));
    ASSERT_TRUE(wait_until([&] {
        auto items = inbox.items();
        return !items.empty() && items.back() == "other|world";
    }));
    // Probe messages may still be arriving around the real ones; the rest is exact and ordered.
    std::vector<std::string> tail;
    for (const auto& item : inbox.items()) {
        if (!item.ends_with("|probe")) {
            tail.push_back(item);
        }
    }
    EXPECT_EQ(tail, (std::vector<std::string>{"news|hello", "other|world"}));
    io.run(sub.close());
    io.run(pool.close());
}

TEST(RedisSubscriber, ResubscribesAfterServerRestart) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    Subscriber sub(io.executor(), fast_settings(server), pool);
    Inbox inbox;
    std::atomic<int> on_connected{0};
    sub.on_connected([&] { ++on_connected; });
    sub.subscribe("ch", [&](std::string_view c, std::string_view m) { inbox.push(c, m); });
    ASSERT_TRUE(wait_until([&] {
        auto n = io.run(sub.publish("ch", "before"));
        return n && *n == 1;
    }));
    // SUBSCRIBE can land before the loop records the connection: wait for both.
    ASSERT_TRUE(wait_until([&] { return sub.connected() && sub.connections() == 1; }));
    ASSERT_TRUE(wait_until([&] { return on_connected == 1; }));

    server.stop();
    ASSERT_TRUE(wait_until([&] { return !sub.connected(); })) << "outage not noticed";
    server.start();
    ASSERT_TRUE(wait_until([&] { return sub.connected() && sub.connections() == 2; }))
        << "did not reconnect";
    // Told once per (re)subscription: a listener may have missed messages meanwhile.
    ASSERT_TRUE(wait_until([&] { return on_connected == 2; }));
    // The pool comes back on its own probe; publish until the resubscribed channel receives.
    ASSERT_TRUE(wait_until([&] {
        auto n = io.run(sub.publish("ch", "after"));
        return n && *n == 1;
    }));
    ASSERT_TRUE(wait_until([&] {
        auto items = inbox.items();
        return !items.empty() && items.back() == "ch|after";
    }));
    io.run(sub.close());
    io.run(pool.close());
}

TEST(RedisInvalidationBus, RoundTripsMessagesOnItsChannel) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    Subscriber sub(io.executor(), fast_settings(server), pool);
    cache::RedisInvalidationBus bus(sub);
    Inbox inbox;
    bus.subscribe([&](std::string_view m) { inbox.push("bus", m); });
    Inbox raw;
    sub.subscribe("confidant:invalidate",
                  [&](std::string_view c, std::string_view m) { raw.push(c, m); });
    ASSERT_TRUE(wait_until([&] {
        auto n = io.run(sub.publish("confidant:invalidate", "warmup"));
        return n && *n == 1;
    }));
    io.run(bus.publish("node-1 del user:42"));
    ASSERT_TRUE(wait_until([&] {
        auto items = inbox.items();
        return !items.empty() && items.back() == "bus|node-1 del user:42";
    }));
    ASSERT_TRUE(raw.wait_for_size(1));
    EXPECT_EQ(raw.items().back().substr(0, 21), "confidant:invalidate|");

    EXPECT_TRUE(io.run(bus.publish("node-1 del user:43")));

    // Down: publish drops the message, says so and never throws.
    server.stop();
    io.run(bus.publish("lost"));
    EXPECT_FALSE(io.run(bus.publish("lost")));
    EXPECT_GE(bus.dropped(), 1u);
    io.run(sub.close());
    io.run(pool.close());
}

}  // namespace
}  // namespace confidant::redis
