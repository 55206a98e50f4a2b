#pragma once

#include <chrono>
#include <functional>

namespace confidant {

/// Injectable time. Production code takes a `Clock&`; tests pass a `ManualClock`.
class Clock {
  public:
    virtual ~Clock() = default;
    virtual std::chrono::steady_clock::time_point steady_now() const = 0;
    virtual std::chrono::system_clock::time_point system_now() const = 0;

    /// The process-wide real clock.
    static Clock& real();
};

class RealClock final : public Clock {
  public:
    std::chrono::steady_clock::time_point steady_now() const override {
        return std::chrono::steady_clock::now();
    }
    std::chrono::system_clock::time_point system_now() const override {
        return std::chrono::system_clock::now();
    }
};

inline Clock& Clock::real() {
    static RealClock clock;
    return clock;
}

/// A clock that moves only when told to. Not thread-safe; for tests.
class ManualClock final : public Clock {
  public:
    std::chrono::steady_clock::time_point steady_now() const override { return steady_; }
    std::chrono::system_clock::time_point system_now() const override { return system_; }
    void advance(std::chrono::nanoseconds d) {
        steady_ += d;
        system_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    }
    void set_system(std::chrono::system_clock::time_point t) { system_ = t; }

  private:
    std::chrono::steady_clock::time_point steady_{std::chrono::hours(1000)};
    std::chrono::system_clock::time_point system_{std::chrono::seconds(1'800'000'000)};
};

}  // namespace confidant
