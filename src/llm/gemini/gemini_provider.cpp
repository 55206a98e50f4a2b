#include "llm/gemini/gemini_provider.hpp"

#include <fmt/format.h>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <stdexcept>
#include <utility>
#include <vector>

#include "http/client/client.hpp"
#include "llm/gemini/gemini_protocol.hpp"
#include "llm/http_support.hpp"
#include "llm/sse.hpp"

namespace confidant::llm {

namespace {

// Thrown from the body sink to stop reading a stream that already failed; never escapes.
struct StreamAborted {};

std::string normalise_base(std::string base) {
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    constexpr std::string_view kVersion = "/v1beta";
    if (std::string_view(base).ends_with(kVersion)) {
        base.resize(base.size() - kVersion.size());
    }
    return base;
}

}  // namespace

GeminiProvider::GeminiProvider(GeminiSettings settings, std::shared_ptr<http_client::Client> client)
    : settings_(std::move(settings)),
      base_url_(normalise_base(settings_.base_url)),
      client_(std::move(client)) {
    if (!client_) {
        throw std::invalid_argument("GeminiProvider: null http client");
    }
}

http_client::Request GeminiProvider::make_request(const CompletionRequest& request,
                                                  bool stream) const {
    http_client::Request r;
    r.method = "POST";
    r.url = fmt::format("{}/v1beta/models/{}:{}", base_url_, settings_.model,
                        stream ? "streamGenerateContent?alt=sse" : "generateContent");
    r.headers.push_back({"content-type", "application/json"});
    if (stream) {
        r.headers.push_back({"accept", "text/event-stream"});
    }
    if (!settings_.api_key.empty()) {
        r.headers.push_back({"x-goog-api-key", settings_.api_key});
    }
    r.body = gemini::build_request_body(request);
    r.connect_timeout = settings_.connect_timeout;
    r.read_timeout = settings_.read_timeout;
    return r;
}

Task<LlmResult<Completion>> GeminiProvider::complete(const CompletionRequest& request) {
    auto map_error = [](unsigned status, const std::string& body, auto retry_after) {
        return gemini::map_error(status, body, retry_after);
    };
    auto parse = [model = settings_.model](const std::string& body) {
        return gemini::parse_response(body, model);
    };
    co_return co_await detail::complete_over_http(client_, make_request(request, false), "gemini",
                                                  map_error, parse);
}

Task<LlmResult<Completion>> GeminiProvider::stream(const CompletionRequest& request,
                                                   DeltaSink on_delta) {
    auto client = client_;
    SseParser parser;
    std::vector<SseEvent> events;
    Completion completion;
    completion.model = settings_.model;
    std::optional<ProviderError> failure;
    bool any_chunk = false;

    // Parses complete events and forwards their text; sets `failure` on a bad or error chunk.
    auto handle_events = [&]() -> Task<void> {
        for (auto& event : events) {
            if (failure) {
                break;
            }
            auto chunk = gemini::parse_chunk(event.data);
            if (!chunk) {
                failure = chunk.error();
                if (failure->kind == FailureKind::protocol && any_chunk) {
                    failure->kind = FailureKind::unavailable;
                }
                break;
            }
            any_chunk = true;
            if (!chunk->finish_reason.empty()) {
                completion.finish_reason = std::move(chunk->finish_reason);
            }
            if (chunk->usage) {
                completion.usage = *chunk->usage;
            }
            if (!chunk->model_version.empty()) {
                completion.model = std::move(chunk->model_version);
            }
            if (!chunk->text.empty()) {
                completion.text += chunk->text;
                co_await on_delta(chunk->text);
            }
        }
        events.clear();
    };

    auto sink = [&](std::string_view bytes) -> Task<void> {
        if (!parser.feed(bytes, events)) {
            failure = ProviderError{FailureKind::unavailable, 0, "", "gemini: SSE event too large",
                                    std::nullopt};
        }
        co_await handle_events();
        if (failure) {
            throw StreamAborted{};
        }
    };

    http_client::Result<http_client::Response> response;
    try {
        response = co_await client->request_stream(make_request(request, true), sink);
    } catch (const StreamAborted&) {
        co_return *failure;
    } catch (const boost::system::system_error& e) {
        if (e.code() != boost::asio::error::operation_aborted) {
            throw;
        }
        co_return detail::cancelled_error("gemini");
    }
    if (!response) {
        co_return detail::from_transport_error(response.error(), "gemini");
    }
    if (response->status < 200 || response->status >= 300) {
        co_return gemini::map_error(response->status, response->body,
                                    detail::retry_after_from(*response));
    }
    // Be lenient with a last event that lacks its closing blank line.
    if (!parser.idle()) {
        parser.feed("\n\n", events);
        co_await handle_events();
    }
    if (failure) {
        co_return *failure;
    }
    if (!any_chunk) {
        ProviderError e;
        e.kind = FailureKind::protocol;
        e.http_status = static_cast<int>(response->status);
        e.message = "gemini: the stream carried no response chunk";
        co_return e;
    }
    co_return completion;
}

}  // namespace confidant::llm
