#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "api/context.hpp"
#include "api/json.hpp"
#include "queue/queue.hpp"
#include "queue/workers.hpp"

namespace confidant::api {

namespace {

[[noreturn]] void not_found(const char* what) {
    throw ErrorException(make_error(ErrorCode::not_found, what));
}

queue::JobId path_job_id(const http::Request& req) {
    const auto raw = req.param("id");
    queue::JobId id = 0;
    auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), id);
    if (ec != std::errc() || p != raw.data() + raw.size() || id < 1) {
        not_found("no such job");
    }
    return id;
}

boost::json::value time_ms_or_null(const std::optional<storage::UnixMillis>& t) {
    if (!t) {
        return nullptr;
    }
    return boost::json::value(format_rfc3339(*t / 1000));
}

queue::Queue& require_queue(Services& s) {
    if (s.queue == nullptr) {
        throw ErrorException(make_error(ErrorCode::not_ready, "the job queue is not running"));
    }
    return *s.queue;
}

}  // namespace

boost::json::object job_object(const queue::Job& j) {
    boost::json::object o;
    o["id"] = std::to_string(j.id);
    o["type"] = j.type;
    o["queue"] = j.queue;
    o["status"] = j.status;
    o["attempts"] = j.attempts;
    o["max_attempts"] = j.max_attempts;
    boost::system::error_code ec;
    if (j.result) {
        auto v = boost::json::parse(*j.result, ec);
        o["result"] = ec ? boost::json::value(*j.result) : std::move(v);
    } else {
        o["result"] = nullptr;
    }
    if (j.error) {
        o["error"] = *j.error;
    } else {
        o["error"] = nullptr;
    }
    o["created_at"] = format_rfc3339(j.created_at / 1000);
    o["run_at"] = format_rfc3339(j.run_at / 1000);
    o["started_at"] = time_ms_or_null(j.started_at);
    o["finished_at"] = time_ms_or_null(j.finished_at);
    return o;
}

void add_job_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::get, "/v1/jobs/{id}",
          require_user(s, [&s](http::Request& req, Caller& c) -> Task<http::Response> {
              const auto id = path_job_id(req);
              auto job = co_await require_queue(s).find(id);
              // Another user's job is as absent as a missing one.
              if (!job || (!c.is_admin() && job->user_id != c.user_id)) {
                  not_found("no such job");
              }
              co_return json_response(200, job_object(*job));
          }));

    r.add(http::bhttp::verb::delete_, "/v1/jobs/{id}",
          require_user(s, [&s](http::Request& req, Caller& c) -> Task<http::Response> {
              const auto id = path_job_id(req);
              const auto change = co_await require_queue(s).cancel(id, c.user_id);
              switch (change) {
                  case queue::JobChange::done:
                      co_return http::Response::no_content();
                  case queue::JobChange::not_found:
                      not_found("no such job");
                  case queue::JobChange::running:
                      throw ErrorException(
                          make_error(ErrorCode::conflict, "the job is running; it cannot be cancelled"));
                  case queue::JobChange::wrong_state:
                      throw ErrorException(make_error(ErrorCode::conflict, "the job has finished"));
              }
              throw std::logic_error("unreachable");
          }));

    r.add(http::bhttp::verb::get, "/admin/queue_stats",
          require_admin(s, [&s](http::Request&, Caller&) -> Task<http::Response> {
              auto& q = require_queue(s);
              const auto counts = co_await q.counts();
              const auto now_ms = static_cast<std::int64_t>(unix_now()) * 1000;
              boost::json::object queues;
              for (const auto& [name, c] : counts) {
                  boost::json::object o;
                  o["queued"] = c.queued;
                  o["running"] = c.running;
                  o["succeeded"] = c.succeeded;
                  o["failed"] = c.failed;
                  o["dead"] = c.dead;
                  o["oldest_queued_age_s"] =
                      c.oldest_queued_run_at
                          ? static_cast<double>(std::max<std::int64_t>(
                                0, now_ms - *c.oldest_queued_run_at)) /
                                1000.0
                          : 0.0;
                  queues[name] = std::move(o);
              }
              boost::json::object o;
              o["backend"] = q.backend();
              o["workers"] = s.workers != nullptr ? s.workers->concurrency() : 0;
              o["running_here"] = s.workers != nullptr ? s.workers->running() : 0;
              o["queues"] = std::move(queues);
              co_return json_response(200, o);
          }));

    r.add(http::bhttp::verb::get, "/admin/jobs",
          require_admin(s, [&s](http::Request& req, Caller&) -> Task<http::Response> {
              std::optional<std::string> status = req.query_param("status");
              if (status && *status != "queued" && *status != "running" &&
                  *status != "succeeded" && *status != "failed" && *status != "dead") {
                  bad_request(
                      "status must be one of queued, running, succeeded, failed, dead");
              }
              const int limit = parse_limit(req);
              std::optional<queue::JobId> before;
              if (auto b = req.query_param("before")) {
                  queue::JobId v = 0;
                  auto [p, ec] = std::from_chars(b->data(), b->data() + b->size(), v);
                  if (b->empty() || ec != std::errc() || p != b->data() + b->size() || v < 1) {
                      bad_request("before must be a job id (a positive integer)");
                  }
                  before = v;
              }
              auto page = co_await require_queue(s).list(std::move(status), limit, before);
              boost::json::array jobs;
              for (const auto& j : page.jobs) {
                  jobs.push_back(job_object(j));
              }
              boost::json::object o;
              o["jobs"] = std::move(jobs);
              o["has_more"] = page.has_more;
              co_return json_response(200, o);
          }));

    r.add(http::bhttp::verb::post, "/admin/jobs/{id}/retry",
          require_admin(s, [&s](http::Request& req, Caller&) -> Task<http::Response> {
              const auto id = path_job_id(req);
              auto& q = require_queue(s);
              // (Not a structured binding of the co_await: GCC 12 mis-destroys its temporaries.)
              auto retried = co_await q.retry(id);
              auto& [change, job] = retried;
              if (change == queue::JobChange::not_found || !job) {
                  not_found("no such job");
              }
              if (change != queue::JobChange::done) {
                  throw ErrorException(make_error(
                      ErrorCode::conflict, "only a dead or failed job can be retried"));
              }
              co_return json_response(202, job_object(*job));
          }));

    r.add(http::bhttp::verb::delete_, "/admin/jobs/{id}",
          require_admin(s, [&s](http::Request& req, Caller&) -> Task<http::Response> {
              const auto change = co_await require_queue(s).remove(path_job_id(req));
              if (change == queue::JobChange::not_found) {
                  not_found("no such job");
              }
              if (change == queue::JobChange::running) {
                  throw ErrorException(
                      make_error(ErrorCode::conflict, "the job is running; it cannot be deleted"));
              }
              co_return http::Response::no_content();
          }));
}

}  // namespace confidant::api
