#pragma once

#include <functional>
#include <string_view>

#include "core/task.hpp"

namespace confidant::cache {

/// A broadcast channel for cache invalidations between instances (TieredCache keeps every
/// instance's L1 coherent through it). Backends: RedisInvalidationBus (Redis pub/sub, in
/// `cache/redis/`), LocalInvalidationBus (in-process, tests and single-process setups).
///
/// Messages are opaque text; TieredCache sends `<instance_id> del <key>`,
/// `<instance_id> pat <glob>` and `<instance_id> clr *`. Delivery is best effort (at most once,
/// in order per publisher): a subscriber may miss messages while its transport is
/// disconnected, and learns that it may have through on_resubscribed().
class InvalidationBus {
  public:
    virtual ~InvalidationBus() = default;

    /// Sends `message` to every subscriber of every instance, including this one's. Returns
    /// false when the transport did not take it (down, failed: the message is dropped and
    /// counted); never throws for that.
    virtual Task<bool> publish(std::string_view message) = 0;

    /// Registers a callback for every message received. May be called from any thread (a
    /// backend's I/O thread); the callback must be quick and thread-safe, and must not block.
    /// Call before the bus starts delivering; there is no unsubscribe, so the callback must stay
    /// valid (or become a safe no-op) for the bus's lifetime.
    virtual void subscribe(std::function<void(std::string_view)> on_message) = 0;

    /// Registers a callback run each time the bus has (re)connected to its transport and
    /// subscribed: messages published before that moment may have been missed, so a listener
    /// should drop whatever they would have invalidated. Same threading and lifetime rules as
    /// subscribe(). The default registers nothing: a bus that cannot miss messages.
    virtual void on_resubscribed(std::function<void()> callback) { (void)callback; }
};

}  // namespace confidant::cache
