#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include "api/context.hpp"
#include "api/json.hpp"
#include "domain/users.hpp"

namespace confidant::api {

namespace {

void check_username(const std::string& u) {
    if (u.size() < 3 || u.size() > 32) {
        bad_request("username must be 3..32 characters of [A-Za-z0-9_.-]");
    }
    for (char c : u) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok) {
            bad_request("username must be 3..32 characters of [A-Za-z0-9_.-]");
        }
    }
}

http::Response auth_answer(unsigned status, domain::Users& users, const domain::AuthResult& r) {
    boost::json::object o;
    o["user"] = boost::json::parse(users.render(r.profile));
    o["access_token"] = r.access_token;
    o["token_type"] = "Bearer";
    o["expires_in"] = r.expires_in;
    return json_response(status, o);
}

}  // namespace

void add_auth_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::post, "/v1/auth/register",
          [&s](http::Request& req) -> Task<http::Response> {
              auto body = parse_object(req.body());
              auto username = require_string(body, "username");
              auto password = require_string(body, "password");
              check_username(username);
              check_length("password", password, 8, 128);
              auto result = co_await s.users->register_user(std::move(username),
                                                            std::move(password), req.client_address);
              const auto& registered = result.value();
              co_return auth_answer(201, *s.users, registered);
          });
    r.add(http::bhttp::verb::post, "/v1/auth/login",
          [&s](http::Request& req) -> Task<http::Response> {
              auto body = parse_object(req.body());
              auto username = require_string(body, "username");
              auto password = require_string(body, "password");
              // Checked before any hashing: no valid password is longer.
              check_length("password", password, 1, 128);
              auto result = co_await s.users->login(std::move(username), std::move(password),
                                                    req.client_address);
              const auto& logged_in = result.value();
              co_return auth_answer(200, *s.users, logged_in);
          });
}

}  // namespace confidant::api
