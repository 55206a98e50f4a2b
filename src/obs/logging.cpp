#include "obs/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/json_writer.hpp"

namespace confidant::obs {

namespace {
// Escapes the message payload as a JSON string body so every log line is valid JSON.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        append_json_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonMessageFlag>();
    }
};
// Text lines: control characters in the payload (a newline from user input, an escape sequence)
// are written as \n, \r, \t or \xNN, so one event is always one line and nobody can forge
// a log line or drive the reader's terminal.
class TextMessageFlag final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        append_text_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<TextMessageFlag>();
    }
};
}  // namespace

void init_logging(const LogSettings& settings) {
    spdlog::drop("confidant");
    auto logger = spdlog::stderr_logger_mt("confidant");
    if (settings.format == "json") {
        auto formatter =
            std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
        formatter->add_flag<JsonMessageFlag>('*').set_pattern(
            R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%*"})");
        logger->set_formatter(std::move(formatter));
    } else {
        auto formatter =
            std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
        formatter->add_flag<TextMessageFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %*");
        logger->set_formatter(std::move(formatter));
    }
    logger->set_level(spdlog::level::from_str(settings.level));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
}

}  // namespace confidant::obs
