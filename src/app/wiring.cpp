#include "app/wiring.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <thread>

#include "api/context.hpp"
#include "app/collectors.hpp"
#include "app/redis_parts.hpp"
#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "cache/cached.hpp"
#include "cache/local/local_cache.hpp"
#include "cache/single_flight.hpp"
#include "core/blocking_pool.hpp"
#include "core/log_exception.hpp"
#include "domain/chat.hpp"
#include "domain/users.hpp"
#include "http/client/client.hpp"
#include "http/connection_budget.hpp"
#include "http/http_metrics.hpp"
#include "http/server.hpp"
#include "llm/gemini/gemini_provider.hpp"
#include "llm/offline/offline_provider.hpp"
#include "llm/openai/openai_provider.hpp"
#include "llm/resilience/resilient_provider.hpp"
#include "obs/metrics.hpp"
#include "ratelimit/local_rate_limiter.hpp"
#include "auth/secret_file.hpp"
#include "domain/speech.hpp"
#include "queue/basic_jobs.hpp"
#include "tts/audio_library.hpp"
#include "tts/espeak/espeak_speaker.hpp"
#include "tts/gemini/gemini_speaker.hpp"
#include "queue/db/db_queue.hpp"
#include "queue/workers.hpp"
#include "storage/instrumented_database.hpp"
#include "storage/sqlite/sqlite_database.hpp"

namespace confidant::app {

namespace asio = boost::asio;

struct App::Parts {
    explicit Parts(const config::Settings& s)
        : settings(s),
          threads(s.http_threads != 0 ? s.http_threads
                                      : std::max(1u, std::thread::hardware_concurrency())),
          ioc(1),
          hash_pool(2, "argon2"),
          backend(make_database(s)),
          db(*backend),
          jwt(make_secret(s)),
          hasher(s.password_hash_profile == "fast" ? auth::PasswordSettings::fast()
                                                   : auth::PasswordSettings{},
                 hash_pool, s.password_hash_queue) {}

    static std::unique_ptr<storage::Database> make_database(const config::Settings& s) {
        return std::make_unique<storage::SqliteDatabase>(storage::SqliteSettings{
            storage::sqlite_path_from_url(s.database_url),
            // Reads are CPU work (cached pages); threads beyond the cores only add switches.
            s.sqlite_threads != 0 ? s.sqlite_threads
                                  : std::max(2u, std::thread::hardware_concurrency())});
    }

    static std::string make_secret(const config::Settings& s) {
        if (s.jwt_secret) {
            return *s.jwt_secret;
        }
        // Made once and kept, so that a restart keeps everyone's session. (Several instances
        // must share JWT_SECRET; config refuses REDIS_URL without it.)
        const auto path = std::filesystem::path(s.data_dir) / "jwt_secret";
        std::string secret = auth::load_or_create_secret(path);
        spdlog::info("JWT_SECRET is not set: using the secret kept in {}", path.string());
        return secret;
    }

    // Runs `task` to completion on the io_context (used before serving and by subcommands).
    template <class T>
    T run_sync(Task<T> task) {
        auto fut = asio::co_spawn(ioc, std::move(task), asio::use_future);
        if (ioc.stopped()) {
            ioc.restart();
        }
        while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
            ioc.run_one_for(std::chrono::milliseconds(50));
        }
        return fut.get();
    }

    void build_services();
    /// The queue, and (with `with_workers`) this process's workers and their job types.
    void build_queue(bool with_workers);
    static std::string worker_id();

    const config::Settings& settings;
    std::size_t threads;
    asio::io_context ioc;  // I/O context 0: also runs start-up tasks, signals and shared clients
    std::vector<std::unique_ptr<asio::io_context>> more_contexts;  // one per further I/O thread
    BlockingPool hash_pool;
    std::unique_ptr<storage::Database> backend;
    storage::InstrumentedDatabase db;
    auth::JwtCodec jwt;
    auth::PasswordHasher hasher;

    std::unique_ptr<cache::LocalCache> local_cache;
    std::unique_ptr<cache::LocalCache> token_cache;
    std::unique_ptr<RedisParts> redis;
    cache::Cache* cache = nullptr;
    cache::SingleFlight<std::string> flight;
    std::unique_ptr<cache::Cached> cached;
    std::unique_ptr<ratelimit::RateLimiter> local_limiter;
    ratelimit::RateLimiter* limiter = nullptr;

    std::shared_ptr<http_client::Client> http_client;
    std::unique_ptr<llm::ResilientProvider> llm;
    std::unique_ptr<domain::Users> users;
    std::unique_ptr<domain::Chat> chat;
    std::unique_ptr<queue::DbQueue> queue;
    std::unique_ptr<queue::WorkerPool> workers;
    std::unique_ptr<BlockingPool> file_pool;
    std::unique_ptr<tts::Speaker> speaker;
    std::unique_ptr<tts::AudioLibrary> audio;
    std::unique_ptr<domain::Speech> speech;

    obs::MetricsRegistry metrics;
    api::Services services;
    http::Router router;
};

void App::Parts::build_services() {
    const auto& s = settings;
    if (s.cache_enabled) {
        cache::LocalCacheSettings lcs;
        lcs.max_entries = s.cache_l1_max_entries;
        lcs.max_bytes = s.cache_l1_max_mb << 20;
        lcs.default_ttl = std::chrono::seconds(s.cache_ttl_s);
        local_cache = std::make_unique<cache::LocalCache>(lcs);
        cache = local_cache.get();
    }
    if (s.redis_url) {
        redis = std::make_unique<RedisParts>(ioc.get_executor(), s, local_cache.get());
        if (s.cache_enabled) {
            cache = redis->cache();
        }
        limiter = redis->limiter();
    } else {
        local_limiter = std::make_unique<ratelimit::LocalRateLimiter>();
        limiter = local_limiter.get();
    }
    if (cache != nullptr) {
        cache::CachedSettings cs;
        cs.default_ttl = std::chrono::seconds(s.cache_ttl_s);
        cached = std::make_unique<cache::Cached>(*cache, flight, cs);
    }

    std::shared_ptr<llm::Provider> inner;
    if (s.llm_provider == "gemini" || s.llm_provider == "openai") {
        http_client = std::make_shared<http_client::Client>(ioc.get_executor());
    }
    if (s.llm_provider == "gemini") {
        llm::GeminiSettings gs;
        gs.api_key = s.gemini_api_key.value_or("");
        gs.model = s.gemini_model;
        gs.base_url = s.gemini_base_url;
        inner = std::make_shared<llm::GeminiProvider>(gs, http_client);
    } else if (s.llm_provider == "openai") {
        llm::OpenAiSettings os;
        os.base_url = s.openai_base_url;
        os.api_key = s.openai_api_key.value_or("");
        os.model = s.openai_model;
        inner = std::make_shared<llm::OpenAiProvider>(os, http_client);
    } else {
        inner = std::make_shared<llm::OfflineProvider>();
    }
    llm::ResilienceSettings rs;
    rs.attempt_timeout = std::chrono::milliseconds(s.llm_attempt_timeout_ms);
    rs.deadline = std::chrono::milliseconds(s.llm_deadline_ms);
    rs.first_token_timeout = std::chrono::milliseconds(s.llm_first_token_timeout_ms);
    rs.stall_timeout = std::chrono::milliseconds(s.llm_stall_timeout_ms);
    rs.max_retries = s.llm_max_retries;
    rs.retry_budget_ratio = s.llm_retry_budget_ratio;
    rs.max_concurrent = s.llm_max_concurrent;
    rs.breaker.window_size = s.llm_breaker_window;
    rs.breaker.minimum_calls = s.llm_breaker_min_calls;
    rs.breaker.failure_rate_threshold = s.llm_breaker_failure_rate;
    rs.breaker.slow_call_rate_threshold = s.llm_breaker_slow_call_rate;
    rs.breaker.slow_call_duration = std::chrono::milliseconds(s.llm_breaker_slow_call_ms);
    rs.breaker.open_duration = std::chrono::seconds(s.llm_breaker_open_s);
    rs.breaker.half_open_max_calls = s.llm_breaker_half_open_calls;
    llm = std::make_unique<llm::ResilientProvider>(inner, rs);

    domain::UserSettings us;
    us.token_ttl = std::chrono::seconds(s.jwt_ttl_s);
    us.profile_ttl = std::chrono::seconds(s.cache_ttl_s);
    us.free_messages_per_day = s.free_messages_per_day;
    us.premium_messages_per_day = s.premium_messages_per_day;
    us.login_failures_per_window = s.login_failures_per_window;
    us.login_failure_window = std::chrono::seconds(s.login_failure_window_s);
    us.registrations_per_hour = s.registrations_per_hour;
    users = std::make_unique<domain::Users>(db, hasher, jwt, cached.get(), *limiter, us);
    domain::ChatSettings chs;
    chs.history_context_messages = s.history_context_messages;
    chs.chat_rate_limit_per_minute = s.chat_rate_limit_per_minute;
    chs.history_ttl = std::chrono::seconds(s.cache_ttl_s);
    chs.idempotency_lease =
        std::chrono::seconds((s.llm_deadline_ms + 999) / 1000 + 60);  // outlives any model call
    chat = std::make_unique<domain::Chat>(db, *users, *llm, cached.get(), limiter, chs);

    services.settings = &settings;
    services.db = &db;
    services.users = users.get();
    services.chat = chat.get();
    services.jwt = &jwt;
    services.limiter = limiter;
    services.cache = cache;
    services.llm = llm.get();
    services.metrics = &metrics;
    if (s.cache_enabled) {
        cache::LocalCacheSettings tcs;
        tcs.max_entries = 100'000;
        tcs.max_bytes = 64 << 20;
        token_cache = std::make_unique<cache::LocalCache>(tcs);
        services.token_cache = token_cache.get();
    }
    services.readiness_checks = [this]() -> Task<std::vector<std::pair<std::string, std::string>>> {
        std::vector<std::pair<std::string, std::string>> out;
        if (cache == nullptr) {
            out.emplace_back("cache", "disabled");
        } else {
            auto st = co_await cache->stats();
            out.emplace_back("cache", st.status == "active" ? "ok" : st.status);
        }
        out.emplace_back("queue", queue ? "ok" : "not_configured");
        const auto breakers = llm->breakers();
        out.emplace_back("llm", breakers.empty() || breakers.front().state == "closed"
                                    ? "ok"
                                    : std::string(breakers.front().state));
        co_return out;
    };

    api::add_ops_routes(router, services);
    api::add_auth_routes(router, services);
    api::add_me_routes(router, services);
    api::add_chat_routes(router, services);
    api::add_openai_routes(router, services);
    api::add_admin_routes(router, services);
    api::add_job_routes(router, services);
    api::add_speech_routes(router, services);
}

void App::Parts::build_queue(bool with_workers) {
    const auto& s = settings;
    queue = std::make_unique<queue::DbQueue>(db);
    services.queue = queue.get();
    if (chat) {
        chat->set_queue(queue.get());
    }
    if (chat) {
        // Speech: the server serves the audio files, the workers make them (AUDIO_DIR shared).
        file_pool = std::make_unique<BlockingPool>(2, "files");
        audio = std::make_unique<tts::AudioLibrary>(tts::AudioLibrarySettings{s.audio_dir},
                                                    *file_pool);
        if (s.tts_provider == "gemini") {
            if (!http_client) {
                http_client = std::make_shared<http_client::Client>(ioc.get_executor());
            }
            tts::GeminiSpeakerSettings gs;
            gs.api_key = s.gemini_api_key.value_or("");
            gs.model = s.gemini_tts_model;
            gs.base_url = s.gemini_base_url;
            speaker = std::make_unique<tts::GeminiSpeaker>(gs, http_client);
        } else {
            speaker = std::make_unique<tts::EspeakSpeaker>(
                tts::EspeakSettings{s.espeak_voice, static_cast<int>(s.espeak_rate_wpm)});
        }
        speech = std::make_unique<domain::Speech>(*speaker, *audio);
        services.speech = speech.get();
    }
    if (!with_workers) {
        return;
    }
    queue::WorkerSettings ws;
    ws.worker_id = worker_id();
    ws.concurrency = s.worker_concurrency != 0
                         ? s.worker_concurrency
                         : 4 * std::max(1u, std::thread::hardware_concurrency());
    ws.drain_timeout = std::chrono::seconds(s.drain_timeout_s);
    ws.lease = std::chrono::milliseconds(static_cast<long>(s.job_lease_s * 1000));
    // Expired leases are looked for twice a lease (at most every 5 s).
    ws.maintain_every = std::clamp(ws.lease / 2, std::chrono::milliseconds(200),
                                   std::chrono::milliseconds(5000));
    workers = std::make_unique<queue::WorkerPool>(ioc.get_executor(), *queue, ws);
    workers->add(queue::JobType{.type = "noop", .handler = std::make_shared<queue::NoopJob>()});
    if (s.queue_record_file) {
        workers->add(queue::JobType{
            .type = "record", .handler = std::make_shared<queue::RecordJob>(*s.queue_record_file)});
    }
    if (speech) {
        workers->add(speech->job_type());
    }
    queue->on_notify([w = workers.get()] { w->notify(); });
    services.workers = workers.get();
}

std::string App::Parts::worker_id() {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    return std::string(host) + ":" + std::to_string(::getpid());
}

App::App(const config::Settings& settings) : parts_(std::make_unique<Parts>(settings)) {}

App::~App() = default;

int App::migrate() {
    const int version = parts_->run_sync(parts_->db.migrate());
    spdlog::info("database schema at version {}", version);
    return 0;
}

int App::create_user(const std::string& username, const std::string& password, bool admin) {
    auto& p = *parts_;
    p.run_sync(p.db.migrate());
    auto hash = p.run_sync(p.hasher.hash(password)).value();
    storage::NewUser nu;
    nu.username = username;
    nu.password_hash = std::move(hash);
    nu.role = admin ? "admin" : "user";
    nu.display_name = username;
    auto created = p.run_sync(p.db.run<storage::ops::CreateUser>(std::move(nu), unix_now()));
    if (!created) {
        std::fprintf(stderr, "confidant: %s\n", created.error().message.c_str());
        return 1;
    }
    std::printf("created %s \"%s\" with id %lld\n", admin ? "admin" : "user", username.c_str(),
                static_cast<long long>(created->id));
    return 0;
}

int App::enqueue_jobs(const std::string& type, const std::string& payload, long count,
                      int max_attempts, std::optional<long long> user_id) {
    auto& p = *parts_;
    p.run_sync(p.db.migrate());
    p.build_queue(false);
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    storage::JobId first = 0;
    storage::JobId last = 0;
    // Batches of 500 per transaction: one commit each.
    for (long done = 0; done < count;) {
        storage::Transaction tx;
        std::vector<storage::Slot<storage::ops::EnqueueJob>> slots;
        for (long i = 0; i < 500 && done < count; ++i, ++done) {
            storage::NewJob job;
            job.type = type;
            job.payload = payload;
            job.max_attempts = max_attempts;
            if (user_id) {
                job.user_id = *user_id;
            }
            slots.push_back(tx.add(storage::ops::EnqueueJob{std::move(job), now_ms}));
        }
        p.run_sync([&]() -> Task<int> {
            co_await p.db.execute(tx);
            co_return 0;
        }());
        for (auto& slot : slots) {
            const auto id = tx.take(slot).id;
            first = first == 0 ? id : std::min(first, id);
            last = std::max(last, id);
        }
    }
    std::printf("enqueued %ld %s jobs (ids %lld..%lld)\n", count, type.c_str(),
                static_cast<long long>(first), static_cast<long long>(last));
    return 0;
}

int App::work() {
    auto& p = *parts_;
    const auto& s = p.settings;
    asio::signal_set signals(p.ioc, SIGINT, SIGTERM);
    const int version = p.run_sync(p.db.migrate());
    spdlog::info("database {} at schema version {}", config::redact_url(s.database_url), version);
    p.build_services();
    p.build_queue(true);
    p.workers->start();
    spdlog::info("confidant {} worker {} running {} workers (queue backend {})", CONFIDANT_VERSION,
                 App::Parts::worker_id(), p.workers->concurrency(), p.queue->backend());
    std::printf("worker started\n");
    std::fflush(stdout);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) {
            return;
        }
        spdlog::info("signal {}: draining the workers (up to {} s)", sig, s.drain_timeout_s);
        asio::co_spawn(
            p.ioc,
            [&]() -> Task<void> {
                co_await p.workers->drain();
                if (p.redis) {
                    co_await p.redis->close();
                }
                p.ioc.stop();
            },
            [&](std::exception_ptr e) {
                log_if_exception("worker drain", e);
                p.ioc.stop();
            });
    });
    p.ioc.restart();
    p.ioc.run();
    spdlog::info("worker stopped");
    return 0;
}

namespace {
// Raises the soft file limit to the hard one; returns the limit in force (0 if unknown).
std::uint64_t raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 0;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    return rl.rlim_cur == RLIM_INFINITY ? std::uint64_t{1} << 20 : rl.rlim_cur;
}

// MAX_CONNECTIONS, or what the file limit leaves for clients (http/connection_budget.hpp).
std::size_t max_connections(const config::Settings& s, std::size_t io_threads,
                            std::uint64_t file_limit) {
    http::DescriptorBudget b;
    b.file_limit = file_limit;
    // Standard streams, logs, libraries: 64; per I/O thread a listener, an epoll, an eventfd
    // and a timer: 4; per SQLite connection its database, WAL and shared-memory files: 3.
    const std::size_t sqlite_connections =
        (s.sqlite_threads != 0 ? s.sqlite_threads
                               : std::max(2u, std::thread::hardware_concurrency())) +
        1;
    b.reserved = 64 + 4 * io_threads + 3 * sqlite_connections;
    b.backend_connections = s.db_pool_size + s.db_max_overflow +
                            (s.redis_url ? s.redis_max_connections + 1 : 0);  // + the subscriber
    b.upstream_max = s.llm_provider == "offline" ? 0 : s.llm_max_concurrent;
    const auto budget = http::default_max_connections(b);
    if (s.max_connections == 0) {
        return budget;
    }
    if (file_limit != 0 && s.max_connections > budget) {
        spdlog::warn(
            "MAX_CONNECTIONS={} is more than the file limit ({}) leaves for clients ({}): "
            "the database, Redis and model connections may run out of descriptors",
            s.max_connections, file_limit, budget);
    }
    return s.max_connections;
}
}  // namespace

int App::serve() {
    auto& p = *parts_;
    const auto& s = p.settings;
    // Caught from the start: a SIGTERM during start-up waits here and drains once serving
    // begins, instead of killing the process half-started.
    asio::signal_set signals(p.ioc, SIGINT, SIGTERM);
    const auto file_limit = raise_fd_limit();
    const int version = p.run_sync(p.db.migrate());
    spdlog::info("database {} at schema version {}", config::redact_url(s.database_url), version);
    p.build_services();
    p.build_queue(s.workers_in_serve);
    if (s.admin_username && s.admin_password) {
        p.run_sync(p.users->ensure_admin(*s.admin_username, *s.admin_password));
    }

    http::HttpMetrics http_metrics(p.router);
    p.metrics.add([&http_metrics](std::string& out) { http_metrics.render(out); });
    p.metrics.add([&p](std::string& out) { p.db.render(out); });
    if (p.workers) {
        p.metrics.add([&p](std::string& out) { p.workers->render_metrics(out); });
    }
    if (p.audio) {
        p.metrics.add([&p](std::string& out) {
            obs::write_help(out, "tts_syntheses_total", "counter",
                            "Speech synthesized by this process (audio served from the library "
                            "is not counted).");
            obs::write_sample(out, "tts_syntheses_total", "",
                              static_cast<double>(p.audio->synthesis_count()));
        });
    }
    add_collectors(p.metrics, p.local_cache.get(), p.llm.get(), p.redis.get());

    http::ServerSettings hs;
    hs.host = s.host;
    hs.port = s.port;
    hs.max_body_bytes = s.max_body_bytes;
    hs.max_header_bytes = s.max_header_bytes;
    hs.header_timeout = std::chrono::seconds(s.header_timeout_s);
    hs.idle_timeout = std::chrono::seconds(s.idle_timeout_s);
    hs.drain_timeout = std::chrono::seconds(s.drain_timeout_s);
    hs.body_timeout = std::chrono::seconds(s.body_timeout_s);
    hs.write_timeout = std::chrono::seconds(s.write_timeout_s);
    hs.max_connections =
        file_limit == 0 && s.max_connections == 0 ? 0 : max_connections(s, p.threads, file_limit);
    hs.trusted_proxies = s.trusted_proxies;
    std::vector<asio::io_context*> contexts{&p.ioc};
    for (std::size_t i = 1; i < p.threads; ++i) {
        p.more_contexts.push_back(std::make_unique<asio::io_context>(1));
        contexts.push_back(p.more_contexts.back().get());
    }
    http::Server server(contexts, hs, p.router, http_metrics);
    const auto port = server.listen();
    server.start();
    if (p.workers) {
        p.workers->start();
    }
    spdlog::info(
        "confidant {} listening on {}:{} ({} I/O threads, at most {} connections, LLM provider "
        "{}, cache {})",
        CONFIDANT_VERSION, s.host, port, p.threads, hs.max_connections, p.llm->name(),
        p.cache == nullptr ? "off" : (s.redis_url ? "redis+local" : "local"));
    // Machine-readable line for scripts and tests that start us on port 0.
    std::printf("listening on %s:%u\n", s.host.c_str(), static_cast<unsigned>(port));
    std::fflush(stdout);

    if (p.cached && s.cache_warmup_users > 0) {
        asio::co_spawn(
            p.ioc,
            [&p, n = s.cache_warmup_users]() -> Task<void> {
                const auto t0 = std::chrono::steady_clock::now();
                const int loaded = co_await p.users->warm_up(n);
                spdlog::info("cache warm-up: loaded {} user profiles in {} ms", loaded,
                             std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - t0)
                                 .count());
            },
            [](std::exception_ptr e) { log_if_exception("cache warm-up", e); });
    }

    auto stop_all = [&p] {
        p.ioc.stop();
        for (auto& c : p.more_contexts) {
            c->stop();
        }
    };
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) {
            return;
        }
        spdlog::info("signal {}: draining (up to {} s)", sig, s.drain_timeout_s);
        asio::co_spawn(
            p.ioc,
            [&]() -> Task<void> {
                co_await server.drain();
                if (p.workers) {
                    co_await p.workers->drain();
                }
                if (p.redis) {
                    co_await p.redis->close();
                }
                stop_all();
            },
            [&](std::exception_ptr e) {
                if (e) {
                    spdlog::error("drain failed");
                }
                stop_all();
            });
    });

    // run_sync() may have run the context out of work, which leaves it stopped.
    p.ioc.restart();
    std::vector<std::thread> workers;
    for (auto& c : p.more_contexts) {
        workers.emplace_back([ctx = c.get()] { ctx->run(); });
    }
    p.ioc.run();
    for (auto& t : workers) {
        t.join();
    }
    spdlog::info("stopped");
    return 0;
}

}  // namespace confidant::app
