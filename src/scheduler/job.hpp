#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/task.hpp"
#include "scheduler/trigger.hpp"

namespace confidant::scheduler {

/// What a handler learns about the run it performs. Owned by the scheduler; valid until the
/// handler's Task completes.
struct JobContext {
    std::string job_id;
    /// The tick this run is for (whole seconds). For a run-now, the second it was asked in;
    /// for a start-up run, the instance's start.
    TimePoint scheduled_time;
    TimePoint started_at;
    /// started_at + the job's timeout, on the scheduler's clock. At the deadline the run's
    /// coroutine is cancelled (terminal cancellation: its next co_await throws
    /// operation_aborted); a handler doing long work without awaiting should check the time.
    TimePoint deadline;
    std::string instance_id;
    bool manual = false;  ///< run by run_now()
};

/// A job to schedule. The handler runs on its own strand of the scheduler's executor (never
/// two runs of one job at once on one instance); it must not block the thread (blocking work
/// goes to a BlockingPool). A thrown exception marks the run failed with its message.
struct JobSpec {
    std::string id;  ///< the API's job id, e.g. "chat_history_cleanup"
    Trigger trigger = Trigger::off();
    std::function<Task<void>(JobContext&)> handler;
    /// A run still going this long after its start is cancelled and marked `timeout`.
    std::chrono::milliseconds timeout = std::chrono::minutes(10);
    /// A tick found late by at most this much still runs (after a pause, a restart or a
    /// leader change); an older one is counted as missed. Keep it above the lease period so a
    /// takeover does not drop ticks.
    std::chrono::milliseconds misfire_grace = std::chrono::minutes(1);
};

/// The outcome of a run. `running` is stored when a run starts, so a run whose process died
/// stays `running` until the job's next run.
enum class RunStatus { running, succeeded, failed, timeout };

/// "running", "succeeded", "failed", "timeout".
const char* to_string(RunStatus status) noexcept;

/// The persisted state of one job (StateStore), shared by every instance.
struct JobState {
    std::string job_id;
    /// Ticks at or before it are handled (claimed and run, skipped or missed) and never
    /// considered again: the latest such tick, or the poll time that found ticks missed.
    std::optional<TimePoint> last_tick;
    std::optional<TimePoint> last_run_time;  ///< start of the latest run
    std::optional<RunStatus> last_status;
    std::chrono::milliseconds last_duration{0};
    std::string last_error;                  ///< empty after a success
    std::optional<TimePoint> next_run_time;  ///< as computed by the instance that wrote last
    std::string last_instance_id;            ///< the instance of the latest run
    std::uint64_t runs = 0;                  ///< finished runs (any outcome)
    std::uint64_t failures = 0;              ///< runs that failed or timed out
    std::uint64_t skipped = 0;  ///< ticks skipped because the previous run was still going
    std::uint64_t missed = 0;   ///< ticks (coalesced) found later than the misfire grace
};

}  // namespace confidant::scheduler
