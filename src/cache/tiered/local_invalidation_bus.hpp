#pragma once

#include <functional>
#include <mutex>
#include <string_view>
#include <vector>

#include "cache/invalidation_bus.hpp"

namespace confidant::cache {

/// An InvalidationBus inside one process: publish() delivers synchronously, on the caller's
/// thread, to every subscriber (including the publisher's own). For tests and for several
/// TieredCaches sharing one process. Never loses a message. Thread-safe.
class LocalInvalidationBus final : public InvalidationBus {
  public:
    Task<bool> publish(std::string_view message) override;
    void subscribe(std::function<void(std::string_view)> on_message) override;

  private:
    std::mutex mu_;
    std::vector<std::function<void(std::string_view)>> subscribers_;
};

}  // namespace confidant::cache
