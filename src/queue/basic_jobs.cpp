#include "queue/basic_jobs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace confidant::queue {

Task<Result<std::string>> NoopJob::run(JobContext&) { co_return std::string("{}"); }

RecordJob::RecordJob(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        throw std::runtime_error("QUEUE_RECORD_FILE " + path_ + ": " + std::strerror(errno));
    }
}

RecordJob::~RecordJob() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

Task<Result<std::string>> RecordJob::run(JobContext& ctx) {
    const std::string line = std::to_string(ctx.job.id) + " " + std::to_string(ctx.job.attempts) +
                             " " + std::to_string(::getpid()) + "\n";
    // One write of a short line with O_APPEND: lines from several processes never interleave.
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        co_return make_error(ErrorCode::internal, std::string("record: ") + std::strerror(errno));
    }
    co_return std::string("{\"recorded\":true}");
}

}  // namespace confidant::queue
