#pragma once

// Helpers shared by the HTTP providers (Gemini, OpenAI-compatible): transport failures and
// Retry-After hints mapped to ProviderError. Header-only on purpose.

#include <fmt/format.h>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/client/client.hpp"
#include "llm/provider.hpp"
#include "llm/sse.hpp"

namespace confidant::llm::detail {

/// A failure that produced no usable HTTP answer. `started` = the 2xx stream had begun.
inline ProviderError from_transport_error(const http_client::Error& e, std::string_view provider) {
    ProviderError out;
    out.message = fmt::format("{}: {}", provider, e.message);
    switch (e.kind) {
        case http_client::ErrorKind::timeout:
            out.kind = FailureKind::timeout;
            out.message =
                fmt::format("{}: {} ({})", provider,
                            e.response_started ? "stream stalled" : "timed out", e.message);
            break;
        case http_client::ErrorKind::cancelled:
            out.kind = FailureKind::cancelled;
            break;
        case http_client::ErrorKind::invalid_url:
            out.kind = FailureKind::rejected;
            break;
        case http_client::ErrorKind::protocol:
            out.kind = e.response_started ? FailureKind::unavailable : FailureKind::protocol;
            break;
        case http_client::ErrorKind::connect_failed:
        case http_client::ErrorKind::closed:
            out.kind = FailureKind::unavailable;
            if (e.response_started) {
                out.message = fmt::format("{}: stream interrupted ({})", provider, e.message);
            }
            break;
    }
    return out;
}

/// Parses a non-negative decimal number of seconds ("57", "1.5"), optionally followed by `s`
/// (google.protobuf.Duration's JSON form: "57s", "1.5s").
inline std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text) {
    while (!text.empty() && text.front() == ' ') {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == 's')) {
        text.remove_suffix(1);
    }
    if (text.empty()) {
        return std::nullopt;
    }
    double seconds = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc{} || ptr != text.data() + text.size() || !(seconds >= 0) ||
        seconds > 7 * 24 * 3600.0) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000)));
}

/// `Retry-After: <seconds>` (the HTTP-date form is ignored), or OpenAI's `retry-after-ms`.
inline std::optional<std::chrono::milliseconds> retry_after_from(
    const http_client::Response& response) {
    if (auto ms = response.header("retry-after-ms")) {
        if (auto v = parse_seconds(*ms)) {
            return std::chrono::milliseconds(v->count() / 1000);
        }
    }
    if (auto s = response.header("retry-after")) {
        return parse_seconds(*s);
    }
    return std::nullopt;
}

/// The failure kind an HTTP error status means when the body says nothing more specific.
inline FailureKind kind_for_status(unsigned status) {
    if (status == 429) {
        return FailureKind::rate_limited;
    }
    if (status == 408) {
        return FailureKind::timeout;
    }
    if (status >= 500) {
        return FailureKind::unavailable;
    }
    return FailureKind::rejected;
}

/// At most `max` bytes of `body`, for error messages.
inline std::string excerpt(std::string_view body, std::size_t max = 300) {
    if (body.size() <= max) {
        return std::string(body);
    }
    return std::string(body.substr(0, max)) + "...";
}

/// A model call's request: a JSON POST (asking for SSE when `stream`) with the provider's
/// timeouts. The caller adds its credentials header.
template <class ProviderSettings>
http_client::Request json_post(std::string url, std::string body, bool stream,
                               const ProviderSettings& settings) {
    http_client::Request r;
    r.method = "POST";
    r.url = std::move(url);
    r.headers.push_back({"content-type", "application/json"});
    if (stream) {
        r.headers.push_back({"accept", "text/event-stream"});
    }
    r.body = std::move(body);
    r.connect_timeout = settings.connect_timeout;
    r.read_timeout = settings.read_timeout;
    return r;
}

inline ProviderError cancelled_error(std::string_view provider) {
    ProviderError e;
    e.kind = FailureKind::cancelled;
    e.message = fmt::format("{}: cancelled", provider);
    return e;
}

/// One non-streamed call, the same for every HTTP provider: cancellation, transport failures
/// and non-2xx answers become ProviderErrors (`map_error(status, body, retry_after)`), a 2xx
/// body is handed to `parse(body)`. `client` is held for the whole call.
template <class MapError, class Parse>
Task<LlmResult<Completion>> complete_over_http(std::shared_ptr<http_client::Client> client,
                                               http_client::Request request,
                                               std::string_view provider, MapError map_error,
                                               Parse parse) {
    http_client::Result<http_client::Response> response;
    try {
        response = co_await client->request(std::move(request));
    } catch (const boost::system::system_error& e) {
        if (e.code() != boost::asio::error::operation_aborted) {
            throw;
        }
        co_return cancelled_error(provider);
    }
    if (!response) {
        co_return from_transport_error(response.error(), provider);
    }
    if (response->status < 200 || response->status >= 300) {
        co_return map_error(response->status, response->body, retry_after_from(*response));
    }
    co_return parse(response->body);
}

/// One SSE event of a provider's stream, in the shape both protocols share.
struct StreamPiece {
    std::string text;  ///< the delta, may be empty
    std::string finish_reason;
    std::optional<Usage> usage;
    std::string model;  ///< the model that answered, when the event names it
    bool done = false;  ///< the stream's end marker (OpenAI's `[DONE]`): nothing after it counts
};

/// Thrown from the body sink to stop reading a stream that already failed; never escapes.
struct StreamAborted {};

/// One streamed call, the same for every HTTP provider: the body is cut into SSE events,
/// `parse(data)` turns each into a StreamPiece (or a ProviderError), deltas go to `on_delta` as
/// they arrive. A bad event after good ones is `unavailable` (the stream broke), a stream with
/// no event at all is `protocol` (`no_chunk_message`). After a `done` piece the rest of the body
/// is ignored, and a connection dropped after it still completes the answer. Errors before the
/// stream, cancellation and non-2xx answers as in complete_over_http.
template <class MapError, class Parse>
Task<LlmResult<Completion>> stream_over_http(std::shared_ptr<http_client::Client> client,
                                             http_client::Request request,
                                             std::string_view provider, std::string model,
                                             DeltaSink on_delta, MapError map_error, Parse parse,
                                             std::string_view no_chunk_message) {
    SseParser parser;
    std::vector<SseEvent> events;
    Completion completion;
    completion.model = std::move(model);
    std::optional<ProviderError> failure;
    bool done = false;
    bool any_chunk = false;

    // Parses complete events and forwards their text; sets `failure` on a bad or error event.
    auto handle_events = [&]() -> Task<void> {
        for (auto& event : events) {
            if (failure || done) {
                break;
            }
            LlmResult<StreamPiece> piece = parse(std::string_view(event.data));
            if (!piece) {
                failure = piece.error();
                if (failure->kind == FailureKind::protocol && any_chunk) {
                    failure->kind = FailureKind::unavailable;
                }
                break;
            }
            if (piece->done) {
                done = true;
                break;
            }
            any_chunk = true;
            if (!piece->finish_reason.empty()) {
                completion.finish_reason = std::move(piece->finish_reason);
            }
            if (piece->usage) {
                completion.usage = *piece->usage;
            }
            if (!piece->model.empty()) {
                completion.model = std::move(piece->model);
            }
            if (!piece->text.empty()) {
                completion.text += piece->text;
                co_await on_delta(piece->text);
            }
        }
        events.clear();
    };

    auto sink = [&](std::string_view bytes) -> Task<void> {
        if (done) {
            co_return;  // ignore anything after the end marker until the server ends the body
        }
        if (!parser.feed(bytes, events)) {
            failure = ProviderError{FailureKind::unavailable, 0, "",
                                    fmt::format("{}: SSE event too large", provider), std::nullopt};
        }
        co_await handle_events();
        if (failure) {
            throw StreamAborted{};
        }
    };

    http_client::Result<http_client::Response> response;
    try {
        response = co_await client->request_stream(std::move(request), sink);
    } catch (const StreamAborted&) {
        co_return *failure;
    } catch (const boost::system::system_error& e) {
        if (e.code() != boost::asio::error::operation_aborted) {
            throw;
        }
        co_return cancelled_error(provider);
    }
    if (!response) {
        // Some servers drop the connection right after the end marker: the answer is complete.
        if (!done) {
            co_return from_transport_error(response.error(), provider);
        }
    } else if (response->status < 200 || response->status >= 300) {
        co_return map_error(response->status, response->body, retry_after_from(*response));
    }
    // Be lenient with a last event that lacks its closing blank line.
    if (!done && !parser.idle()) {
        parser.feed("\n\n", events);
        co_await handle_events();
    }
    if (failure) {
        co_return *failure;
    }
    if (!done && !any_chunk) {
        ProviderError e;
        e.kind = FailureKind::protocol;
        e.http_status = static_cast<int>(response->status);
        e.message = std::string(no_chunk_message);
        co_return e;
    }
    co_return completion;
}

}  // namespace confidant::llm::detail
