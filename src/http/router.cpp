#include "http/router.hpp"

#include <boost/beast/http/verb.hpp>

namespace confidant::http {

namespace {
std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        const std::size_t j = path.find('/', i);
        const std::size_t end = j == std::string_view::npos ? path.size() : j;
        out.push_back(path.substr(i, end - i));
        i = end;
    }
    return out;
}

bool is_param(std::string_view seg) {
    return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

void add_allow(std::string& allow, bhttp::verb v) {
    const auto name = bhttp::to_string(v);
    if (allow.find(name) != std::string::npos) {
        return;
    }
    if (!allow.empty()) {
        allow += ", ";
    }
    allow.append(name.data(), name.size());
}
}  // namespace

void Router::add(bhttp::verb method, std::string pattern, Handler handler, RouteOptions options) {
    Route r{method, pattern, {}, std::move(handler), options};
    bool has_param = false;
    for (auto seg : split_path(pattern)) {
        has_param = has_param || is_param(seg);
        r.segments.emplace_back(seg);
    }
    routes_.push_back(std::move(r));
    const std::size_t idx = routes_.size() - 1;
    if (has_param) {
        parameterised_.push_back(idx);
    } else {
        exact_[pattern].push_back(idx);
    }
}

Router::Match Router::match(bhttp::verb method, std::string_view path) const {
    Match m;
    // A trailing slash is a different resource, as in most APIs; only "/" itself ends in one.
    if (auto it = exact_.find(path); it != exact_.end()) {
        for (std::size_t idx : it->second) {
            const Route& r = routes_[idx];
            if (r.method == method ||
                (method == bhttp::verb::head && r.method == bhttp::verb::get)) {
                m.route = &r;
                return m;
            }
            m.path_known = true;
            add_allow(m.allow, r.method);
        }
    }
    const auto segs = split_path(path);
    for (std::size_t idx : parameterised_) {
        const Route& r = routes_[idx];
        if (r.segments.size() != segs.size()) {
            continue;
        }
        std::vector<std::pair<std::string_view, std::string>> params;
        bool ok = true;
        for (std::size_t i = 0; i < segs.size() && ok; ++i) {
            const std::string& pat = r.segments[i];
            if (is_param(pat)) {
                if (segs[i].empty()) {
                    ok = false;
                } else {
                    params.emplace_back(std::string_view(pat).substr(1, pat.size() - 2),
                                        std::string(segs[i]));
                }
            } else {
                ok = pat == segs[i];
            }
        }
        if (!ok) {
            continue;
        }
        if (r.method == method || (method == bhttp::verb::head && r.method == bhttp::verb::get)) {
            m.route = &r;
            m.params = std::move(params);
            return m;
        }
        m.path_known = true;
        add_allow(m.allow, r.method);
    }
    return m;
}

}  // namespace confidant::http
