#include "queue/basic_jobs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
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
    // Optional `{"sleep_ms": n}`: the work takes that long before its side effect, so that a
    // test can kill a worker in the middle of it.
    boost::system::error_code ec;
    const auto payload = boost::json::parse(ctx.job.payload, ec);
    if (!ec && payload.is_object()) {
        if (const auto* ms = payload.as_object().if_contains("sleep_ms");
            ms != nullptr && ms->is_int64() && ms->as_int64() > 0) {
            boost::asio::steady_timer t(co_await boost::asio::this_coro::executor,
                                        std::chrono::milliseconds(ms->as_int64()));
            co_await t.async_wait(boost::asio::use_awaitable);
        }
    }
    const std::string line = std::to_string(ctx.job.id) + " " + std::to_string(ctx.job.attempts) +
                             " " + std::to_string(::getpid()) + "\n";
    // One write of a short line with O_APPEND: lines from several processes never interleave.
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        co_return make_error(ErrorCode::internal, std::string("record: ") + std::strerror(errno));
    }
    co_return std::string("{\"recorded\":true}");
}

}  // namespace confidant::queue
