#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include "api/context.hpp"
#include "api/json.hpp"
#include "domain/chat.hpp"
#include "domain/users.hpp"

namespace confidant::api {

void add_me_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::get, "/v1/me",
          require_user(s, [](http::Request&, Caller& c) -> Task<http::Response> {
              co_return http::Response::json(200, std::move(c.profile_json));
          }));

    r.add(http::bhttp::verb::patch, "/v1/me",
          require_user(s, [&s](http::Request& req, Caller& c) -> Task<http::Response> {
              auto body = parse_object(req.body());
              storage::ProfilePatch patch;
              patch.display_name = optional_string(body, "display_name");
              patch.companion_persona = optional_string(body, "companion_persona");
              if (patch.display_name) {
                  check_length("display_name", *patch.display_name, 0, 64);
              }
              if (patch.companion_persona) {
                  check_length("companion_persona", *patch.companion_persona, 0, 4000);
              }
              // Fields a client may not set (role, id, is_premium, ...) are ignored.
              auto json = co_await s.users->update_profile(c.user_id, std::move(patch));
              if (!json) {
                  throw ErrorException(make_error(ErrorCode::unauthorized, "unknown user"));
              }
              co_return http::Response::json(200, std::move(*json));
          }));

    r.add(http::bhttp::verb::get, "/v1/subscription",
          require_user(s, [&s](http::Request&, Caller& c) -> Task<http::Response> {
              // Everything comes from the cache: the plan from the cached profile, the day's
              // usage from the cached counter (both invalidated by the writes that change them).
              boost::system::error_code ec;
              auto profile = boost::json::parse(c.profile_json, ec);
              if (ec || !profile.is_object()) {
                  throw std::runtime_error("unreadable cached profile");
              }
              const auto& p = profile.as_object();
              const bool premium = p.contains("is_premium") && p.at("is_premium").is_bool() &&
                                   p.at("is_premium").as_bool();
              boost::json::object o;
              o["plan"] = premium ? "premium" : "free";
              o["premium_until"] = premium && p.contains("premium_until")
                                       ? p.at("premium_until")
                                       : boost::json::value(nullptr);
              o["messages_per_day"] = s.users->messages_per_day(premium);
              const long used = co_await s.chat->used_today(c.user_id);
              o["used_today"] = used;
              co_return json_response(200, o);
          }));
}

}  // namespace confidant::api
