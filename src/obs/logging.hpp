#pragma once

#include <string>

namespace confidant::obs {

struct LogSettings {
    std::string level = "info";   ///< LOG_LEVEL: trace, debug, info, warn, error
    std::string format = "text";  ///< LOG_FORMAT: text | json
};

/// Installs the process-wide spdlog logger (stderr). JSON format writes one object per line:
/// `{"ts","level","msg","logger"}`; messages are escaped.
void init_logging(const LogSettings& settings);

}  // namespace confidant::obs
