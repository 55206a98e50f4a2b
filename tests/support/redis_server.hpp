#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "redis/settings.hpp"

namespace confidant::test {

struct RedisServerOptions {
    /// `--appendonly yes --appendfsync always`: every acknowledged write is on disk, so a
    /// restart after kill() comes back with the data (as a production Redis would).
    bool append_only = false;
};

/// A real `redis-server` for tests: a free loopback port, a temporary directory, no
/// persistence unless asked. stop() or kill() then start() again reuses the SAME port and
/// directory (outage tests). The process is stopped by pid in stop() and in the destructor.
/// Blocking; call from the test thread.
class RedisServer {
  public:
    /// Starts at once unless `start_now` is false.
    explicit RedisServer(bool start_now = true) : RedisServer(RedisServerOptions{}, start_now) {}
    explicit RedisServer(RedisServerOptions options, bool start_now = true)
        : port_(free_port()), options_(options) {
        char tmpl[] = "/tmp/confidant-redis-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir_ = tmpl;
        if (start_now) {
            start();
        }
    }
    ~RedisServer() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    std::string url(int db = 0) const {
        return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
    }
    bool running() const noexcept { return pid_ > 0; }

    /// Starts redis-server on port() and waits (up to 10 s) until it answers PING.
    void start() {
        if (pid_ > 0) {
            return;
        }
        const std::string port = std::to_string(port_);
        std::vector<std::string> args = {"redis-server",
                                         "--port",
                                         port,
                                         "--bind",
                                         "127.0.0.1",
                                         "--save",
                                         "",
                                         "--appendonly",
                                         options_.append_only ? "yes" : "no",
                                         "--appendfsync",
                                         "always",
                                         "--dir",
                                         dir_.string(),
                                         "--daemonize",
                                         "no",
                                         "--loglevel",
                                         "warning",
                                         "--logfile",
                                         (dir_ / "redis.log").string()};
        const pid_t pid = ::fork();
        if (pid < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid == 0) {
            // Do not hold the test's stdout/stderr pipes open.
            const int devnull = ::open("/dev/null", O_RDWR);
            if (devnull >= 0) {
                ::dup2(devnull, 0);
                ::dup2(devnull, 1);
                ::dup2(devnull, 2);
            }
            std::vector<char*> argv;
            for (auto& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        pid_ = pid;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            if (ping()) {
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("redis-server exited at start (port " + port + ")");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        stop();
        throw std::runtime_error("redis-server did not answer PING within 10 s");
    }

    /// SIGTERM, then SIGKILL after 5 s; waits for the process. Idempotent.
    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pid_ = -1;
    }

    /// SIGKILL (no shutdown save, connections reset), then waits for the process. Idempotent.
    void kill() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    /// One blocking PING on a fresh connection; true on +PONG.
    bool ping() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            return false;
        }
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port_);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        bool ok = false;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            const char cmd[] = "PING\r\n";
            if (::send(fd, cmd, sizeof cmd - 1, MSG_NOSIGNAL) ==
                static_cast<ssize_t>(sizeof cmd - 1)) {
                char buf[16] = {};
                const auto n = ::recv(fd, buf, sizeof buf - 1, 0);
                ok = n >= 5 && std::string(buf, 5) == "+PONG";
            }
        }
        ::close(fd);
        return ok;
    }

  private:
    static std::uint16_t free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = 0;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            if (fd >= 0) {
                ::close(fd);
            }
            throw std::runtime_error("no free loopback port");
        }
        ::close(fd);
        return ntohs(addr.sin_port);
    }

    std::uint16_t port_;
    RedisServerOptions options_;
    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

/// Settings that notice failures quickly (short connect timeout, fast retries and probing).
inline redis::RedisSettings fast_redis_settings(
    const RedisServer& server,
    std::chrono::milliseconds command_timeout = std::chrono::seconds(2)) {
    using namespace std::chrono_literals;
    redis::RedisSettings s;
    s.url = server.url();
    s.connect_timeout = 500ms;
    s.command_timeout = command_timeout;
    s.retry_min_wait = 20ms;
    s.retry_max_wait = 100ms;
    s.down_probe_interval = 100ms;
    return s;
}

/// An io_context run by `threads` threads for the life of the object (like the server's), and
/// a blocking `run()` that drives one coroutine to completion from the test thread.
class IoThreads {
  public:
    explicit IoThreads(int threads = 2) : guard_(io_.get_executor()) {
        for (int i = 0; i < threads; ++i) {
            threads_.emplace_back([this] { io_.run(); });
        }
    }
    ~IoThreads() {
        guard_.reset();
        io_.stop();
        for (auto& t : threads_) {
            t.join();
        }
    }
    boost::asio::io_context& io() noexcept { return io_; }
    boost::asio::any_io_executor executor() { return io_.get_executor(); }

    /// Runs `task` on the io_context and waits (up to 60 s) for its result; rethrows.
    template <class T>
    T run(boost::asio::awaitable<T> task) {
        auto fut = boost::asio::co_spawn(io_, std::move(task), boost::asio::use_future);
        if (fut.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
            throw std::runtime_error("IoThreads::run: task did not finish within 60 s");
        }
        return fut.get();
    }

  private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    std::vector<std::thread> threads_;
};

}  // namespace confidant::test
