#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <limits>
#include <optional>
#include <iostream>
#include <string>
#include <vector>

#include "app/wiring.hpp"
#include "config/settings.hpp"
#include "obs/logging.hpp"

namespace {

constexpr const char* kUsage =
    "usage: confidant serve | worker | migrate | version\n"
    "       confidant user create --username NAME [--admin]   (reads the password from stdin)\n"
    "       confidant jobs enqueue --type TYPE [--count N] [--payload JSON] [--max-attempts N]\n"
    "                              [--user ID]\n";

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "confidant: %s\n", message.c_str());
    std::exit(2);
}

confidant::config::Settings load_settings() {
    try {
        return confidant::config::load(confidant::config::read_environment());
    } catch (const confidant::config::ConfigError& e) {
        std::fprintf(stderr, "confidant: configuration error: %s\n", e.what());
        std::exit(2);
    }
}

void init_logs(const confidant::config::Settings& s) {
    confidant::obs::init_logging({s.log_level, s.log_format});
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::fputs(kUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    try {
        if (cmd == "version" || cmd == "--version") {
            if (args.size() > 1) {
                usage_error("version takes no arguments, got \"" + args[1] + "\"");
            }
            std::printf("confidant %s\n", CONFIDANT_VERSION);
            return 0;
        }
        if (cmd == "serve" || cmd == "migrate" || cmd == "worker") {
            if (args.size() > 1) {
                usage_error(cmd + ": unknown argument \"" + args[1] + "\"");
            }
            auto settings = load_settings();
            init_logs(settings);
            confidant::app::App app(settings);
            if (cmd == "serve") {
                return app.serve();
            }
            return cmd == "worker" ? app.work() : app.migrate();
        }
        if (cmd == "jobs") {
            if (args.size() < 2 || args[1] != "enqueue") {
                usage_error(args.size() < 2 ? "jobs: expected \"enqueue\""
                                            : "jobs: unknown subcommand \"" + args[1] + "\"");
            }
            std::string type;
            std::string payload = "{}";
            long count = 1;
            int max_attempts = 5;
            std::optional<long long> user;
            auto number = [](const std::string& flag, const std::string& v, long long lo,
                             long long hi) {
                long long n = 0;
                auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) {
                    usage_error(flag + " must be an integer in " + std::to_string(lo) + ".." +
                                std::to_string(hi));
                }
                return n;
            };
            for (std::size_t i = 2; i < args.size(); ++i) {
                const std::string& a = args[i];
                if (i + 1 >= args.size()) {
                    usage_error(a + " needs a value");
                }
                const std::string& v = args[++i];
                if (a == "--type") {
                    type = v;
                } else if (a == "--payload") {
                    payload = v;
                } else if (a == "--count") {
                    count = static_cast<long>(number(a, v, 1, 10'000'000));
                } else if (a == "--max-attempts") {
                    max_attempts = static_cast<int>(number(a, v, 1, 100));
                } else if (a == "--user") {
                    user = number(a, v, 1, std::numeric_limits<long long>::max());
                } else {
                    usage_error("jobs enqueue: unknown flag \"" + a + "\"");
                }
            }
            if (type.empty() || type.size() > 64) {
                usage_error("--type is required (1..64 characters)");
            }
            auto settings = load_settings();
            init_logs(settings);
            confidant::app::App app(settings);
            return app.enqueue_jobs(type, payload, count, max_attempts, user);
        }
        if (cmd == "user") {
            if (args.size() < 2 || args[1] != "create") {
                usage_error(args.size() < 2 ? "user: expected \"create\""
                                            : "user: unknown subcommand \"" + args[1] + "\"");
            }
            std::string username;
            bool admin = false;
            for (std::size_t i = 2; i < args.size(); ++i) {
                if (args[i] == "--username") {
                    if (i + 1 >= args.size()) {
                        usage_error("--username needs a value");
                    }
                    username = args[++i];
                } else if (args[i].rfind("--username=", 0) == 0) {
                    username = args[i].substr(11);
                } else if (args[i] == "--admin") {
                    admin = true;
                } else {
                    usage_error("user create: unknown flag \"" + args[i] + "\"");
                }
            }
            if (username.size() < 3 || username.size() > 32 ||
                username.find_first_not_of(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
                    std::string::npos) {
                usage_error("--username must be 3..32 characters of [A-Za-z0-9_.-]");
            }
            std::string password;
            std::getline(std::cin, password);
            if (!password.empty() && password.back() == '\r') {
                password.pop_back();
            }
            if (password.size() < 8 || password.size() > 128 * 4) {
                usage_error("the password (read from standard input) must be 8..128 characters");
            }
            auto settings = load_settings();
            init_logs(settings);
            confidant::app::App app(settings);
            return app.create_user(username, password, admin);
        }
        usage_error("unknown command \"" + cmd + "\"\n" + kUsage);
    } catch (const std::exception& e) {
        spdlog::critical("fatal: {}", e.what());
        std::fprintf(stderr, "confidant: %s\n", e.what());
        return 1;
    }
}
