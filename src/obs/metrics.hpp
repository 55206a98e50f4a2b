#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace confidant::obs {

/// Appends Prometheus text-format samples for one subsystem to `out`.
using Collector = std::function<void(std::string& out)>;

/// The /metrics page: subsystems register collectors at wiring time; `render` calls them all.
/// Thread-safe.
class MetricsRegistry {
  public:
    void add(Collector collector);
    std::string render() const;

  private:
    mutable std::mutex mutex_;
    std::vector<Collector> collectors_;
};

/// Helpers for writing the text format 0.0.4.
void write_help(std::string& out, std::string_view name, std::string_view type,
                std::string_view help);
/// `name{labels} value\n`; `labels` is the inside of the braces, already escaped, or empty.
void write_sample(std::string& out, std::string_view name, std::string_view labels, double value);
/// Escapes a label value (backslash, quote, newline).
std::string escape_label(std::string_view value);

}  // namespace confidant::obs
