#include "llm/sse.hpp"

namespace confidant::llm {

namespace {
constexpr std::string_view kBom = "\xEF\xBB\xBF";
}

bool SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
    if (failed_) {
        return false;
    }
    if (at_start_) {
        // Hold back a possible partial BOM until we know.
        line_.append(bytes);
        if (line_.size() < kBom.size() && kBom.substr(0, line_.size()) == line_) {
            return true;
        }
        at_start_ = false;
        std::string pending = std::move(line_);
        line_.clear();
        std::string_view rest = pending;
        if (rest.substr(0, kBom.size()) == kBom) {
            rest.remove_prefix(kBom.size());
        }
        return feed(rest, out);
    }
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        if (after_cr_) {
            after_cr_ = false;
            if (bytes[pos] == '\n') {
                ++pos;
                continue;
            }
        }
        const auto end = bytes.find_first_of("\r\n", pos);
        if (end == std::string_view::npos) {
            line_.append(bytes.substr(pos));
            break;
        }
        std::string_view line = bytes.substr(pos, end - pos);
        if (!line_.empty()) {
            line_.append(line);
            line = line_;
        }
        after_cr_ = bytes[end] == '\r';
        process_line(line, out);
        line_.clear();
        pos = end + 1;
        if (failed_) {
            return false;
        }
    }
    if (line_.size() + current_.data.size() > max_pending_bytes_) {
        failed_ = true;
    }
    return !failed_;
}

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
    std::vector<SseEvent> out;
    feed(bytes, out);
    return out;
}

bool SseParser::idle() const noexcept { return line_.empty() && !has_fields_; }

void SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
    if (line.empty()) {
        if (has_data_) {
            if (!current_.data.empty() && current_.data.back() == '\n') {
                current_.data.pop_back();
            }
            out.push_back(std::move(current_));
        }
        current_ = SseEvent{};
        has_data_ = false;
        has_fields_ = false;
        return;
    }
    if (line.front() == ':') {
        return;  // comment (often a keep-alive)
    }
    std::string_view field = line;
    std::string_view value;
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        field = line.substr(0, colon);
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') {
            value.remove_prefix(1);
        }
    }
    has_fields_ = true;
    if (field == "data") {
        current_.data.append(value);
        current_.data.push_back('\n');
        has_data_ = true;
        if (current_.data.size() > max_pending_bytes_) {
            failed_ = true;
        }
    } else if (field == "event") {
        current_.event.assign(value);
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) {
            current_.id.assign(value);
        }
    }
    // "retry" and unknown fields are ignored.
}

}  // namespace confidant::llm
