#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace confidant::test {

/// The real gemini-emulator binary (its path comes from the test's CMake, e.g. as the
/// GEMINI_EMULATOR_PATH definition) on a free loopback port. Started in the constructor, which
/// waits for its `listening on HOST:PORT` line (throws std::runtime_error if it does not come);
/// stopped by pid with SIGTERM in stop() and in the destructor, and killed with the test process
/// if that dies first (PR_SET_PDEATHSIG). Blocking; call from the test thread.
class GeminiEmulator {
  public:
    GeminiEmulator(std::string binary, std::vector<std::string> flags) {
        std::vector<std::string> args{binary, "--port", "0", "--threads", "1"};
        args.insert(args.end(), flags.begin(), flags.end());
        int out[2];
        if (::pipe(out) != 0) {
            throw std::runtime_error("pipe failed");
        }
        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            ::dup2(out[1], STDOUT_FILENO);
            ::close(out[0]);
            ::close(out[1]);
            std::vector<char*> argv;
            for (auto& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::execv(binary.c_str(), argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (line.find('\n') == std::string::npos &&
               std::chrono::steady_clock::now() < deadline) {
            pollfd p{out[0], POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) {
                char buf[256];
                const auto n = ::read(out[0], buf, sizeof buf);
                if (n <= 0) {
                    break;
                }
                line.append(buf, static_cast<std::size_t>(n));
            }
        }
        ::close(out[0]);
        const auto colon = line.rfind(':');
        if (line.find("listening on") == std::string::npos || colon == std::string::npos) {
            stop();
            throw std::runtime_error("gemini-emulator did not start: '" + line + "'");
        }
        port_ = static_cast<unsigned short>(std::stoi(line.substr(colon + 1)));
    }

    ~GeminiEmulator() { stop(); }
    GeminiEmulator(const GeminiEmulator&) = delete;
    GeminiEmulator& operator=(const GeminiEmulator&) = delete;

    unsigned short port() const noexcept { return port_; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    /// SIGTERM and wait. Idempotent.
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
    }

  private:
    pid_t pid_ = -1;
    unsigned short port_ = 0;
};

}  // namespace confidant::test
