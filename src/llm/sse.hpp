#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace confidant::llm {

/// One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html).
struct SseEvent {
    std::string event;  ///< the `event:` field; empty means "message"
    std::string data;   ///< the `data:` lines joined with '\n'
    std::string id;     ///< the last `id:` field seen in the event, if any
};

/// An incremental SSE parser: feed it bytes as they arrive, in any split, and it returns the
/// events completed so far. Lines may end with "\r\n", "\n" or "\r"; lines starting with ':'
/// are comments; an event is dispatched at a blank line and only if it carried `data:`
/// (as the spec says). A leading UTF-8 BOM is skipped. Not thread-safe (one per stream).
class SseParser {
  public:
    /// `max_pending_bytes` bounds the partial line plus the event being assembled.
    explicit SseParser(std::size_t max_pending_bytes = 16 << 20)
        : max_pending_bytes_(max_pending_bytes) {}

    /// Appends the events completed by `bytes` to `out`. Returns false (and stops parsing for
    /// good) when a line or an event grows beyond `max_pending_bytes`.
    bool feed(std::string_view bytes, std::vector<SseEvent>& out);

    /// Convenience form of `feed` returning the completed events.
    std::vector<SseEvent> feed(std::string_view bytes);

    /// True when the parser holds no partial line or event: a stream that ends here ended on an
    /// event boundary.
    bool idle() const noexcept;

    bool failed() const noexcept { return failed_; }

  private:
    void process_line(std::string_view line, std::vector<SseEvent>& out);

    std::size_t max_pending_bytes_;
    std::string line_;
    SseEvent current_;
    bool has_data_ = false;
    bool has_fields_ = false;
    bool after_cr_ = false;  // the previous byte was '\r': a following '\n' is part of it
    bool at_start_ = true;   // for the BOM check
    bool failed_ = false;
};

}  // namespace confidant::llm
