#pragma once

#include <string>

#include "queue/workers.hpp"

namespace confidant::queue {

/// `noop`: succeeds at once with `{}`. For health checks and for measuring the queue itself
/// (bench/queue.sh).
class NoopJob final : public JobHandler {
  public:
    Task<Result<std::string>> run(JobContext& ctx) override;
};

/// `record`: appends "<job id> <attempt> <pid>\n" to a file (one write, O_APPEND), then
/// succeeds; with a payload `{"sleep_ms": n}` it first waits n ms (a job that takes time). Registered only when QUEUE_RECORD_FILE is set: delivery tests count the lines to
/// prove every job ran at least once and to count the duplicates a crash causes. The append is
/// the whole side effect, and a duplicate line is harmless, which is what makes the handler
/// idempotent enough for at-least-once delivery.
class RecordJob final : public JobHandler {
  public:
    explicit RecordJob(std::string path);
    ~RecordJob() override;
    Task<Result<std::string>> run(JobContext& ctx) override;

  private:
    std::string path_;
    int fd_ = -1;
};

}  // namespace confidant::queue
