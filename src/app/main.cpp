#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "app/wiring.hpp"
#include "config/settings.hpp"
#include "obs/logging.hpp"

namespace {

constexpr const char* kUsage =
    "usage: confidant serve | migrate | user create --username NAME [--admin] | version\n"
    "       (user create reads the password from standard input)\n";

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
        if (cmd == "serve" || cmd == "migrate") {
            if (args.size() > 1) {
                usage_error(cmd + ": unknown argument \"" + args[1] + "\"");
            }
            auto settings = load_settings();
            init_logs(settings);
            confidant::app::App app(settings);
            return cmd == "serve" ? app.serve() : app.migrate();
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
