#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include "api/context.hpp"
#include "api/json.hpp"
#include "domain/chat.hpp"
#include "domain/users.hpp"

namespace confidant::api {

void add_me_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::get, "/v1/me",
          require_user(s, [&s](http::Request&, Caller& c) -> Task<http::Response> {
              co_return http::Response::json(200, s.users->render(c.profile));
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
              auto updated = co_await s.users->update_profile(c.user_id, std::move(patch));
              if (!updated) {
                  throw ErrorException(make_error(ErrorCode::unauthorized, "unknown user"));
              }
              co_return http::Response::json(200, s.users->render(*updated));
          }));

    r.add(http::bhttp::verb::get, "/v1/subscription",
          require_user(s, [&s](http::Request&, Caller& c) -> Task<http::Response> {
              // The plan from the cached profile (as of now), the day's usage from the
              // durable counter (cached; invalidated by every stored exchange).
              const bool premium = c.profile.is_premium(s.users->now());
              boost::json::object o;
              o["plan"] = premium ? "premium" : "free";
              if (premium) {
                  o["premium_until"] = format_rfc3339(*c.profile.premium_until);
              } else {
                  o["premium_until"] = nullptr;
              }
              o["messages_per_day"] = s.users->messages_per_day(premium);
              const long used = co_await s.chat->used_today(c.user_id);
              o["used_today"] = used;
              co_return json_response(200, o);
          }));
}

}  // namespace confidant::api
