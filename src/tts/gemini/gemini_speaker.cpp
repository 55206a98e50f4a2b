#include "tts/gemini/gemini_speaker.hpp"

#include <fmt/format.h>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <stdexcept>
#include <utility>

#include "http/client/client.hpp"
#include "llm/gemini/gemini_protocol.hpp"
#include "llm/http_support.hpp"
#include "tts/gemini/gemini_speech_protocol.hpp"
#include "tts/text.hpp"

namespace confidant::tts {

namespace {

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

bool valid_language(std::string_view tag) {
    if (tag.empty() || tag.size() > 35) {
        return false;
    }
    for (const char c : tag) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// A name from a request, shortened for an error message.
std::string shown(std::string_view s) {
    return s.size() <= 64 ? std::string(s) : std::string(s.substr(0, 64)) + "...";
}

[[noreturn]] void throw_cancelled() {
    throw boost::system::system_error(boost::asio::error::operation_aborted, "gemini tts");
}

}  // namespace

GeminiSpeaker::GeminiSpeaker(GeminiSpeakerSettings settings,
                             std::shared_ptr<http_client::Client> client)
    : settings_(std::move(settings)),
      base_url_(normalise_base(settings_.base_url)),
      client_(std::move(client)) {
    if (!client_) {
        throw std::invalid_argument("GeminiSpeaker: null http client");
    }
    auto voice = gemini::canonical_voice(settings_.default_voice);
    if (!voice) {
        throw std::invalid_argument(
            fmt::format("gemini tts: unknown default voice '{}'", settings_.default_voice));
    }
    settings_.default_voice = std::move(*voice);
}

std::string GeminiSpeaker::voice_key(const SpeechRequest& request) const {
    std::string voice = settings_.default_voice;
    if (request.voice) {
        voice =
            gemini::canonical_voice(*request.voice).value_or("unknown:" + shown(*request.voice));
    }
    std::string key = fmt::format("{}/{}", settings_.model, voice);
    if (request.language) {
        key.push_back('/');
        key.append(shown(*request.language));
    }
    return key;
}

Task<Result<Audio>> GeminiSpeaker::speak(SpeechRequest request) {
    if (request.text.empty()) {
        co_return make_error(ErrorCode::bad_request, "gemini tts: text is empty");
    }
    if (request.text.size() > kMaxTextBytes) {
        co_return make_error(ErrorCode::bad_request,
                             fmt::format("gemini tts: text of {} bytes is over the {}-byte limit",
                                         request.text.size(), kMaxTextBytes));
    }
    std::string voice = settings_.default_voice;
    if (request.voice) {
        auto known = gemini::canonical_voice(*request.voice);
        if (!known) {
            co_return make_error(
                ErrorCode::bad_request,
                fmt::format("gemini tts: unknown voice '{}'", shown(*request.voice)));
        }
        voice = std::move(*known);
    }
    const std::string language = request.language.value_or("");
    if (request.language && !valid_language(language)) {
        co_return make_error(ErrorCode::bad_request,
                             fmt::format("gemini tts: invalid language '{}'", shown(language)));
    }

    http_client::Request http = llm::detail::json_post(
        fmt::format("{}/v1beta/models/{}:generateContent", base_url_, settings_.model),
        gemini::build_speech_body(plain_text(request.text), voice, language), false, settings_);
    if (!settings_.api_key.empty()) {
        http.headers.push_back({"x-goog-api-key", settings_.api_key});
    }

    http_client::Result<http_client::Response> response;
    try {
        response = co_await client_->request(std::move(http));
    } catch (const boost::system::system_error& e) {
        if (e.code() != boost::asio::error::operation_aborted) {
            throw;
        }
        throw_cancelled();
    }
    if (!response) {
        if (response.error().kind == http_client::ErrorKind::cancelled) {
            throw_cancelled();
        }
        co_return gemini::to_error(llm::detail::from_transport_error(response.error(), "gemini"));
    }
    if (response->status < 200 || response->status >= 300) {
        co_return gemini::to_error(llm::gemini::map_error(
            response->status, response->body, llm::detail::retry_after_from(*response)));
    }
    co_return gemini::parse_speech_response(response->body);
}

}  // namespace confidant::tts
