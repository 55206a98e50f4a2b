// gemini-emulator: a fast, deterministic stand-in for the Gemini REST API (see README.md).
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <thread>
#include <vector>

#include "behavior.hpp"
#include "options.hpp"
#include "server.hpp"

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Thousands of concurrent connections need more descriptors than the usual soft limit.
void raise_file_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

}  // namespace

int main(int argc, char** argv) {
    using namespace confidant::emulator;
    auto parsed = parse_options(argc, argv);
    if (!parsed) {
        std::fprintf(stderr, "gemini-emulator: %s\n", parsed.error().message.c_str());
        return 2;
    }
    const Options& options = *parsed;
    if (options.help) {
        std::fputs(usage(), stdout);
        return 0;
    }

    // Declared before the io_context: coroutine frames still pending when it is destroyed
    // refer to the behavior.
    Behavior behavior(options);
    net::io_context ioc(options.threads);
    tcp::endpoint endpoint;
    {
        boost::system::error_code ec;
        auto address = net::ip::make_address(options.host, ec);
        if (ec) {
            tcp::resolver resolver(ioc);
            auto results = resolver.resolve(options.host, "", ec);
            if (ec || results.empty()) {
                std::fprintf(stderr, "gemini-emulator: invalid value '%s' for --host: %s\n",
                             options.host.c_str(), ec ? ec.message().c_str() : "no address");
                return 2;
            }
            address = results.begin()->endpoint().address();
        }
        endpoint = tcp::endpoint(address, options.port);
    }

    raise_file_limit();
    std::signal(SIGPIPE, SIG_IGN);

    Server server(ioc, options, behavior);
    tcp::endpoint bound;
    try {
        bound = server.listen(endpoint);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gemini-emulator: cannot listen on %s:%u: %s\n", options.host.c_str(),
                     static_cast<unsigned>(options.port), e.what());
        return 1;
    }

    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](const boost::system::error_code&, int) { ioc.stop(); });
    server.start();

    std::printf("listening on %s:%u\n", options.host.c_str(), static_cast<unsigned>(bound.port()));
    std::fflush(stdout);

    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(options.threads - 1));
    for (int i = 1; i < options.threads; ++i) {
        threads.emplace_back([&ioc] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : threads) {
        t.join();
    }
    return 0;
}
