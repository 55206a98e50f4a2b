#include <spdlog/spdlog.h>

#include <boost/json/object.hpp>

#include "api/context.hpp"
#include "api/json.hpp"
#include "obs/metrics.hpp"
#include "storage/database.hpp"

namespace confidant::api {

void add_ops_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::get, "/healthz", [](http::Request&) -> Task<http::Response> {
        co_return http::Response::json(200, R"({"status":"ok"})");
    });

    r.add(http::bhttp::verb::get, "/readyz", [&s](http::Request& req) -> Task<http::Response> {
        boost::json::object checks;
        bool ready = true;
        try {
            co_await s.db->ping();
            checks["database"] = "ok";
        } catch (const std::exception& e) {
            spdlog::warn("request {} readiness: database check failed: {}", req.request_id,
                         e.what());
            checks["database"] = "unreachable";
            ready = false;
        }
        if (s.readiness_checks) {
            auto extra = co_await s.readiness_checks();
            for (auto& [name, state] : extra) {
                checks[name] = state;
            }
        }
        if (!ready) {
            boost::json::object err;
            err["code"] = "not_ready";
            err["message"] = "the database is unreachable";
            boost::json::object body;
            body["error"] = std::move(err);
            body["checks"] = std::move(checks);
            co_return json_response(503, body);
        }
        boost::json::object o;
        o["status"] = "ready";
        o["checks"] = std::move(checks);
        co_return json_response(200, o);
    });

    r.add(http::bhttp::verb::get, "/metrics", [&s](http::Request&) -> Task<http::Response> {
        http::Response res;
        res.body = s.metrics->render();
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        co_return res;
    });
}

}  // namespace confidant::api
