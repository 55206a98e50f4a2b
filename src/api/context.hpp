#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace confidant::auth {
class JwtCodec;
}
namespace confidant::storage {
class Database;
}
namespace confidant::cache {
class Cache;
class LocalCache;
}  // namespace confidant::cache
namespace confidant::ratelimit {
class RateLimiter;
}
namespace confidant::llm {
class ResilientProvider;
}
namespace confidant::obs {
class MetricsRegistry;
}
#include "domain/users.hpp"

namespace confidant::domain {
class Chat;
class Speech;
}  // namespace confidant::domain
namespace confidant::queue {
class Queue;
class WorkerPool;
}  // namespace confidant::queue

namespace confidant::api {

/// What the handlers need, built by app/wiring.cpp. Pointers may be null when a subsystem is
/// not configured (then its endpoints answer accordingly).
struct Services {
    const config::Settings* settings = nullptr;
    storage::Database* db = nullptr;
    domain::Users* users = nullptr;
    domain::Chat* chat = nullptr;
    const auth::JwtCodec* jwt = nullptr;
    ratelimit::RateLimiter* limiter = nullptr;
    cache::Cache* cache = nullptr;
    llm::ResilientProvider* llm = nullptr;
    obs::MetricsRegistry* metrics = nullptr;
    /// The job queue, and this process's workers (null in a process without workers).
    queue::Queue* queue = nullptr;
    queue::WorkerPool* workers = nullptr;
    /// Text to speech (null when the workers or speech are not running in this process).
    domain::Speech* speech = nullptr;
    /// Tokens that verified recently (token → "user id:exp"), so a client's next request skips
    /// the HMAC and JSON work. Null = verify every time.
    cache::LocalCache* token_cache = nullptr;
    /// Extra readiness checks by name ("cache", "queue", "llm"): value "ok", "degraded", ...
    std::function<Task<std::vector<std::pair<std::string, std::string>>>()> readiness_checks;
};

/// The authenticated caller.
struct Caller {
    std::int64_t user_id = 0;
    /// The stored user's profile (from the cache): role, plan and persona come from here, not
    /// from the token, so a demoted admin's old token is not enough.
    domain::Profile profile;
    bool is_admin() const { return profile.is_admin(); }
};

using AuthedHandler = std::function<Task<http::Response>(http::Request&, Caller&)>;

/// 401 without a valid token for an existing user; then calls `h`.
http::Handler require_user(Services& s, AuthedHandler h);
/// As require_user, then 403 unless role admin, then the per-admin rate limit (429).
http::Handler require_admin(Services& s, AuthedHandler h);

void add_auth_routes(http::Router& r, Services& s);
void add_me_routes(http::Router& r, Services& s);
void add_ops_routes(http::Router& r, Services& s);
void add_chat_routes(http::Router& r, Services& s);
void add_openai_routes(http::Router& r, Services& s);
void add_admin_routes(http::Router& r, Services& s);
void add_job_routes(http::Router& r, Services& s);
void add_speech_routes(http::Router& r, Services& s);

}  // namespace confidant::api
