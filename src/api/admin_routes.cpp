#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>

#include "api/context.hpp"
#include "api/json.hpp"
#include "cache/cache.hpp"
#include "domain/users.hpp"
#include "llm/resilience/resilient_provider.hpp"

namespace confidant::api {

namespace {

storage::UserId path_user_id(const http::Request& req) {
    const auto raw = req.param("id");
    storage::UserId id = 0;
    auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), id);
    if (ec != std::errc() || p != raw.data() + raw.size() || id < 1) {
        throw ErrorException(make_error(ErrorCode::not_found, "no such user"));
    }
    return id;
}

boost::json::value time_or_null(const std::optional<std::chrono::system_clock::time_point>& t) {
    if (!t) {
        return nullptr;
    }
    return boost::json::value(format_rfc3339(
        std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count()));
}

double round2(double v) { return std::round(v * 100.0) / 100.0; }

}  // namespace

void add_admin_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::get, "/admin/cache_stats",
          require_admin(s, [&s](http::Request&, Caller&) -> Task<http::Response> {
              cache::CacheStats st;
              if (s.cache != nullptr) {
                  st = co_await s.cache->stats();
              } else {
                  st.status = "local_only";
                  st.backend = "local";
                  st.used_memory_human = "0B";
              }
              boost::json::object l1;
              l1["entries"] = st.l1.entries;
              const auto l1_total = st.l1.hits + st.l1.misses;
              l1["hit_rate"] = l1_total == 0 ? 0.0
                                             : round2(100.0 * static_cast<double>(st.l1.hits) /
                                                      static_cast<double>(l1_total));
              l1["hits"] = st.l1.hits;
              l1["misses"] = st.l1.misses;
              l1["evictions"] = st.l1.evictions;
              l1["bytes"] = st.l1.bytes;
              boost::json::object cs;
              cs["status"] = st.status;
              cs["backend"] = st.backend;
              cs["used_memory_human"] = st.used_memory_human;
              cs["used_memory_bytes"] = st.used_memory_bytes;
              cs["total_keys"] = st.total_keys;
              cs["hit_rate"] = round2(st.hit_rate_percent());
              cs["hits"] = st.hits;
              cs["misses"] = st.misses;
              cs["active_connections"] = st.active_connections;
              cs["l1"] = std::move(l1);
              boost::json::object o;
              o["cache_stats"] = std::move(cs);
              co_return json_response(200, o);
          }));

    r.add(http::bhttp::verb::post, "/admin/cache/invalidate",
          require_admin(s, [&s](http::Request& req, Caller&) -> Task<http::Response> {
              auto body = parse_object(req.body());
              auto pattern = require_string(body, "pattern");
              check_length("pattern", pattern, 1, 256);
              std::int64_t deleted = 0;
              if (s.cache != nullptr) {
                  deleted = co_await s.cache->del_pattern(pattern);
              }
              boost::json::object o;
              o["deleted"] = deleted;
              co_return json_response(200, o);
          }));

    r.add(http::bhttp::verb::get, "/admin/circuit_breakers",
          require_admin(s, [&s](http::Request&, Caller&) -> Task<http::Response> {
              boost::json::array arr;
              if (s.llm != nullptr) {
                  for (const auto& b : s.llm->breakers()) {
                      boost::json::object o;
                      o["name"] = b.name;
                      o["state"] = b.state;
                      o["failure_rate"] = round2(b.failure_rate);
                      o["slow_call_rate"] = round2(b.slow_call_rate);
                      o["calls"] = b.calls;
                      o["opened_at"] = time_or_null(b.opened_at);
                      o["retry_at"] = time_or_null(b.retry_at);
                      arr.push_back(std::move(o));
                  }
              }
              boost::json::object o;
              o["breakers"] = std::move(arr);
              co_return json_response(200, o);
          }));

    r.add(
        http::bhttp::verb::post, "/admin/users/{id}/premium",
        require_admin(s, [&s](http::Request& req, Caller&) -> Task<http::Response> {
            const auto id = path_user_id(req);
            auto body = parse_object(req.body());
            const auto days = optional_int(body, "days");
            const auto until_raw = optional_string(body, "until");
            if (days.has_value() == until_raw.has_value()) {
                bad_request("give exactly one of \"days\" (1..3650) or \"until\" (RFC 3339 time)");
            }
            UnixSeconds until = 0;
            const auto now = unix_now();
            if (days) {
                if (*days < 1 || *days > 3650) {
                    bad_request("\"days\" must be 1..3650");
                }
                // Extends an active subscription rather than restarting it.
                auto user = co_await s.users->find(id);
                if (!user) {
                    throw ErrorException(make_error(ErrorCode::not_found, "no such user"));
                }
                const UnixSeconds base = user->is_premium(now) ? *user->premium_until : now;
                until = base + *days * 86400;
            } else {
                auto parsed = parse_rfc3339(*until_raw);
                if (!parsed) {
                    bad_request("\"until\" must be an RFC 3339 time");
                }
                if (*parsed <= now) {
                    bad_request("\"until\" must be in the future");
                }
                until = *parsed;
            }
            auto updated = co_await s.users->set_premium(id, until);
            if (!updated) {
                throw ErrorException(make_error(ErrorCode::not_found, "no such user"));
            }
            co_return http::Response::json(200, s.users->render(*updated));
        }));

    r.add(http::bhttp::verb::delete_, "/admin/users/{id}/premium",
          require_admin(s, [&s](http::Request& req, Caller&) -> Task<http::Response> {
              auto updated = co_await s.users->set_premium(path_user_id(req), std::nullopt);
              if (!updated) {
                  throw ErrorException(make_error(ErrorCode::not_found, "no such user"));
              }
              co_return http::Response::json(200, s.users->render(*updated));
          }));
}

}  // namespace confidant::api
