#pragma once

#include <functional>
#include <string_view>

#include "core/task.hpp"

namespace confidant::cache {

/// A broadcast channel for cache invalidations between instances (TieredCache keeps every
/// instance's L1 coherent through it). Backends: RedisInvalidationBus (Redis pub/sub, in
/// `cache/redis/`), LocalInvalidationBus (in-process, tests and single-process setups).
///
/// Messages are opaque text; TieredCache sends `<instance_id> del <key>` and
/// `<instance_id> pat <glob>`. Delivery is best effort (at most once, in order per publisher):
/// an instance that misses a message keeps a stale L1 entry for at most its L1 TTL.
class InvalidationBus {
  public:
    virtual ~InvalidationBus() = default;

    /// Sends `message` to every subscriber of every instance, including this one's.
    /// Never throws because the transport is down (the message is dropped and counted).
    virtual Task<void> publish(std::string_view message) = 0;

    /// Registers a callback for every message received. May be called from any thread (a
    /// backend's I/O thread); the callback must be quick and thread-safe, and must not block.
    /// Call before the bus starts delivering; there is no unsubscribe, so the callback must stay
    /// valid (or become a safe no-op) for the bus's lifetime.
    virtual void subscribe(std::function<void(std::string_view)> on_message) = 0;
};

}  // namespace confidant::cache
