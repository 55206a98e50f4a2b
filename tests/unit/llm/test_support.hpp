#pragma once

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <deque>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/task.hpp"
#include "llm/provider.hpp"

namespace confidant::llm::testing {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// Runs `task` to completion on `io` and returns its value (rethrows its exception).
template <class T>
T run(asio::io_context& io, Task<T> task) {
    std::optional<T> out;
    std::exception_ptr error;
    asio::co_spawn(
        io,
        [&]() -> Task<void> {
            T value = co_await std::move(task);
            out.emplace(std::move(value));
        },
        [&](std::exception_ptr e) { error = e; });
    io.restart();
    io.run();
    if (error) {
        std::rethrow_exception(error);
    }
    return std::move(*out);
}

/// Runs `task`, cancelling it (terminal) after `after`, as a client disconnect would.
template <class T>
T run_cancelled_after(asio::io_context& io, Task<T> task, std::chrono::milliseconds after) {
    std::optional<T> out;
    std::exception_ptr error;
    asio::cancellation_signal signal;
    asio::co_spawn(
        io,
        [&]() -> Task<void> {
            T value = co_await std::move(task);
            out.emplace(std::move(value));
        },
        asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { error = e; }));
    asio::steady_timer timer(io, after);
    timer.async_wait(
        [&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
    io.restart();
    io.run();
    if (error) {
        std::rethrow_exception(error);
    }
    return std::move(*out);
}

inline ProviderError provider_error(FailureKind kind, int status = 0,
                                    std::optional<std::chrono::milliseconds> retry_after = {}) {
    ProviderError e;
    e.kind = kind;
    e.http_status = status;
    e.message = "scripted";
    e.retry_after = retry_after;
    return e;
}

inline Completion completion(std::string text = "ok") {
    Completion c;
    c.text = std::move(text);
    c.finish_reason = "stop";
    c.model = "fake-model";
    return c;
}

inline CompletionRequest request(std::string text = "hello") {
    CompletionRequest r;
    r.system_instruction = "You are a test persona.";
    r.contents.push_back(Turn{Turn::Role::user, std::move(text)});
    return r;
}

/// One scripted answer of `ScriptedProvider`.
struct Step {
    LlmResult<Completion> result = completion();
    std::chrono::milliseconds delay{0};  ///< before the answer or the first delta (real time)
    std::vector<std::string> deltas{};   ///< stream(): sent in order
    std::chrono::milliseconds stall_after_deltas{0};  ///< stream(): before the final answer
    std::chrono::nanoseconds advance_clock{0};        ///< on the ManualClock, before answering
    std::chrono::nanoseconds advance_clock_after_first_delta{0};
    bool throw_fault = false;  ///< throw std::runtime_error instead of answering
};

/// A test double: answers from a queue of scripted steps (a plain success when empty), waits on
/// real timers, and records calls and the cancellations it observed.
class ScriptedProvider final : public Provider {
  public:
    explicit ScriptedProvider(ManualClock* clock = nullptr) : clock_(clock) {}

    void push(Step step) { steps_.push_back(std::move(step)); }
    int calls() const { return calls_.load(); }
    int aborted() const { return aborted_.load(); }
    int in_progress() const { return in_progress_.load(); }
    std::size_t remaining() const { return steps_.size(); }

    std::string_view name() const override { return "fake"; }
    std::string model() const override { return "fake-model"; }

    Task<LlmResult<Completion>> complete(const CompletionRequest&) override {
        Step step = next();
        Busy busy(in_progress_);
        advance(step.advance_clock);
        const bool waited = co_await pause(step.delay);
        if (!waited) {
            co_return provider_error(FailureKind::cancelled);
        }
        if (step.throw_fault) {
            throw std::runtime_error("scripted fault");
        }
        co_return step.result;
    }

    Task<LlmResult<Completion>> stream(const CompletionRequest&, DeltaSink on_delta) override {
        Step step = next();
        Busy busy(in_progress_);
        advance(step.advance_clock);
        const bool waited = co_await pause(step.delay);
        if (!waited) {
            co_return provider_error(FailureKind::cancelled);
        }
        std::string joined;
        for (std::size_t i = 0; i < step.deltas.size(); ++i) {
            co_await on_delta(step.deltas[i]);
            joined += step.deltas[i];
            if (i == 0) {
                advance(step.advance_clock_after_first_delta);
            }
        }
        const bool held = co_await pause(step.stall_after_deltas);
        if (!held) {
            co_return provider_error(FailureKind::cancelled);
        }
        if (step.throw_fault) {
            throw std::runtime_error("scripted fault");
        }
        if (step.result.has_value() && !step.deltas.empty()) {
            step.result->text = joined;
        }
        co_return step.result;
    }

  private:
    struct Busy {
        explicit Busy(std::atomic<int>& n) : n_(n) { ++n_; }
        ~Busy() { --n_; }
        std::atomic<int>& n_;
    };

    Step next() {
        ++calls_;
        if (steps_.empty()) {
            return Step{};
        }
        Step s = std::move(steps_.front());
        steps_.pop_front();
        return s;
    }

    void advance(std::chrono::nanoseconds d) {
        if (clock_ != nullptr && d.count() > 0) {
            clock_->advance(d);
        }
    }

    /// False when cancelled (the way a real provider notices a client disconnect).
    Task<bool> pause(std::chrono::milliseconds d) {
        if (d.count() <= 0) {
            co_return true;
        }
        asio::steady_timer timer(co_await asio::this_coro::executor, d);
        boost::system::error_code ec;
        try {
            auto [waited] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            ec = waited;
        } catch (const boost::system::system_error& e) {
            ec = e.code();
        }
        if (ec) {
            ++aborted_;
            co_return false;
        }
        co_return true;
    }

    ManualClock* clock_;
    std::deque<Step> steps_;
    std::atomic<int> calls_{0};
    std::atomic<int> aborted_{0};
    std::atomic<int> in_progress_{0};
};

}  // namespace confidant::llm::testing
