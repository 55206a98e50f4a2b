#include "storage/postgres/conninfo.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "storage/postgres/detail.hpp"

namespace confidant::storage::pg {

namespace {

constexpr std::string_view kPrefix = "DATABASE_URL: ";
using detail::one_line;

bool valid_port_list(std::string_view ports) {
    // libpq allows one port per host, comma-separated; an empty entry means the default.
    std::size_t start = 0;
    while (start <= ports.size()) {
        const auto end = std::min(ports.find(',', start), ports.size());
        const auto item = ports.substr(start, end - start);
        if (!item.empty()) {
            if (item.size() > 5 || !std::all_of(item.begin(), item.end(), [](char c) {
                    return std::isdigit(static_cast<unsigned char>(c)) != 0;
                })) {
                return false;
            }
            const int port = std::stoi(std::string(item));
            if (port < 1 || port > 65535) {
                return false;
            }
        }
        start = end + 1;
    }
    return true;
}

}  // namespace

std::string ConnInfo::get(std::string_view key) const {
    for (const auto& [k, v] : options) {
        if (k == key) {
            return v;
        }
    }
    return {};
}

bool ConnInfo::has(std::string_view key) const {
    return std::any_of(options.begin(), options.end(),
                       [key](const auto& kv) { return kv.first == key; });
}

void ConnInfo::set(std::string_view key, std::string value) {
    for (auto& [k, v] : options) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    options.emplace_back(std::string(key), std::move(value));
}

std::string ConnInfo::describe() const {
    std::string host = get("host");
    if (host.empty()) {
        host = get("hostaddr");
    }
    if (host.empty()) {
        host = "(default socket)";
    }
    std::string out;
    if (const auto user = get("user"); !user.empty()) {
        out += user + "@";
    }
    out += host;
    if (const auto port = get("port"); !port.empty()) {
        out += ":" + port;
    }
    if (const auto db = get("dbname"); !db.empty()) {
        out += "/" + db;
    }
    return out;
}

bool looks_like_conninfo(std::string_view text) {
    return text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0 ||
           (text.find("://") == std::string_view::npos && text.find('=') != std::string_view::npos);
}

boost::system::result<ConnInfo, std::string> parse_conninfo(std::string_view text) {
    if (text.find_first_not_of(" \t") == std::string_view::npos) {
        return std::string(kPrefix) + "empty; expected postgresql://... or host=... dbname=...";
    }
    if (!looks_like_conninfo(text)) {
        return std::string(kPrefix) +
               "expected postgresql://..., postgres://... or keyword=value pairs, got \"" +
               std::string(text.substr(0, std::min<std::size_t>(text.size(), 80))) + "\"";
    }
    const std::string copy(text);
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(copy.c_str(), &err);
    if (opts == nullptr) {
        std::string why = err != nullptr ? one_line(err) : "out of memory";
        if (err != nullptr) {
            PQfreemem(err);
        }
        return std::string(kPrefix) + why;
    }
    ConnInfo info;
    for (auto* o = opts; o->keyword != nullptr; ++o) {
        if (o->val != nullptr) {
            info.options.emplace_back(o->keyword, o->val);
        }
    }
    PQconninfoFree(opts);

    // libpq checks these only when connecting; a start-up check is kinder.
    if (const auto mode = info.get("sslmode"); !mode.empty()) {
        static constexpr std::array<std::string_view, 6> kModes = {
            "disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
        if (std::find(kModes.begin(), kModes.end(), mode) == kModes.end()) {
            return std::string(kPrefix) + "invalid sslmode \"" + mode +
                   "\" (expected disable, allow, prefer, require, verify-ca or verify-full)";
        }
    }
    if (const auto port = info.get("port"); !port.empty() && !valid_port_list(port)) {
        return std::string(kPrefix) + "invalid port \"" + port + "\"";
    }
    return info;
}

}  // namespace confidant::storage::pg
