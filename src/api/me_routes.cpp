#include <boost/json/object.hpp>

#include "api/context.hpp"
#include "api/json.hpp"
#include "domain/chat.hpp"
#include "domain/users.hpp"

namespace confidant::api {

void add_me_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::get, "/v1/me", require_user(s, [](http::Request&, Caller& c) -> Task<http::Response> {
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
              auto user = co_await s.users->find(c.user_id);
              if (!user) {
                  throw ErrorException(make_error(ErrorCode::unauthorized, "unknown user"));
              }
              const auto now = unix_now();
              boost::json::object o;
              o["plan"] = user->is_premium(now) ? "premium" : "free";
              if (user->is_premium(now)) {
                  o["premium_until"] = format_rfc3339(*user->premium_until);
              } else {
                  o["premium_until"] = nullptr;
              }
              o["messages_per_day"] = s.users->messages_per_day(*user);
              o["used_today"] = co_await s.chat->used_today(c.user_id);
              co_return json_response(200, o);
          }));
}

}  // namespace confidant::api
