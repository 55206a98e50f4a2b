#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/message.hpp"

namespace confidant::http {

struct RouteOptions {
    /// POST/PATCH/PUT bodies must be `application/json` (else 415).
    bool json_body = true;
};

struct Route {
    bhttp::verb method;
    std::string pattern;  ///< e.g. "/v1/jobs/{id}"; also the metrics label
    std::vector<std::string> segments;
    Handler handler;
    RouteOptions options;
};

/// Maps (method, path) to a handler. Patterns are literal segments and `{name}` parameters.
/// Built once before the server starts; `match` is then read-only and thread-safe.
class Router {
  public:
    void add(bhttp::verb method, std::string pattern, Handler handler, RouteOptions options = {});

    struct Match {
        const Route* route = nullptr;
        std::vector<std::pair<std::string_view, std::string>> params;
        /// True when the path exists with other methods (→ 405 with `Allow`).
        bool path_known = false;
        std::string allow;
    };
    Match match(bhttp::verb method, std::string_view path) const;

    const std::vector<Route>& routes() const { return routes_; }

  private:
    std::vector<Route> routes_;
    struct PathHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    // Routes without parameters, by exact path, for an O(1) lookup of the hot paths (no
    // allocation per lookup: heterogeneous find by string_view).
    std::unordered_map<std::string, std::vector<std::size_t>, PathHash, std::equal_to<>> exact_;
    std::vector<std::size_t> parameterised_;
};

}  // namespace confidant::http
