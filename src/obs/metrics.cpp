#include "obs/metrics.hpp"

#include <fmt/format.h>

#include <cmath>

namespace confidant::obs {

void MetricsRegistry::add(Collector collector) {
    std::lock_guard lock(mutex_);
    collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::render() const {
    std::vector<Collector> copy;
    {
        std::lock_guard lock(mutex_);
        copy = collectors_;
    }
    std::string out;
    out.reserve(16 << 10);
    for (const auto& c : copy) {
        c(out);
    }
    return out;
}

void write_help(std::string& out, std::string_view name, std::string_view type,
                std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void write_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
    out.append(name);
    if (!labels.empty()) {
        out += '{';
        out.append(labels);
        out += '}';
    }
    out += ' ';
    if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else if (std::isnan(value)) {
        out += "NaN";
    } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
        fmt::format_to(std::back_inserter(out), "{}", static_cast<long long>(value));
    } else {
        fmt::format_to(std::back_inserter(out), "{}", value);
    }
    out += '\n';
}

std::string escape_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace confidant::obs
