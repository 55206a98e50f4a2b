#include "domain/speech.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "storage/ops/audio.hpp"
#include "tts/audio_library.hpp"
#include "tts/speaker.hpp"

namespace confidant::domain {

class Speech::Handler final : public queue::JobHandler {
  public:
    explicit Handler(Speech& speech) : speech_(speech) {}

    Task<Result<std::string>> run(queue::JobContext& ctx) override {
        const auto& job = ctx.job;
        boost::system::error_code ec;
        auto payload = boost::json::parse(job.payload, ec);
        const auto* text = !ec && payload.is_object() ? payload.as_object().if_contains("text")
                                                       : nullptr;
        if (text == nullptr || !text->is_string() || !job.user_id) {
            co_return make_error(ErrorCode::bad_request, "tts job without text or user");
        }
        tts::SpeechRequest request;
        request.text = std::string(text->as_string());
        if (const auto* voice = payload.as_object().if_contains("voice");
            voice != nullptr && voice->is_string()) {
            request.voice = std::string(voice->as_string());
        }
        auto stored = co_await speech_.library_.get_or_synthesize(speech_.speaker_, request);
        if (!stored) {
            co_return stored.error();
        }
        storage::AudioRow row;
        row.id = job.id;
        row.user_id = *job.user_id;
        row.file = stored->id;
        row.bytes = static_cast<std::int64_t>(stored->bytes);
        row.duration_ms = stored->duration_ms;
        row.created_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                             speech_.clock_.system_now().time_since_epoch())
                             .count();
        ctx.finish_with.add(storage::ops::StoreAudio{std::move(row), ctx.fence});
        boost::json::object result;
        result["audio_url"] = "/v1/audio/" + std::to_string(job.id);
        result["format"] = "audio/wav";
        result["duration_ms"] = stored->duration_ms;
        result["bytes"] = stored->bytes;
        co_return boost::json::serialize(result);
    }

  private:
    Speech& speech_;
};

Speech::Speech(tts::Speaker& speaker, tts::AudioLibrary& library, const Clock& clock)
    : speaker_(speaker), library_(library), clock_(clock) {}

storage::NewJob Speech::job_for(storage::UserId user, const std::string& text,
                                const std::optional<std::string>& voice) {
    boost::json::object payload;
    payload["text"] = text;
    if (voice) {
        payload["voice"] = *voice;
    }
    storage::NewJob job;
    job.type = kJobType;
    job.queue = "speech";
    job.payload = boost::json::serialize(payload);
    job.user_id = user;
    job.max_attempts = 3;
    return job;
}

queue::JobType Speech::job_type() {
    queue::JobType t;
    t.type = kJobType;
    t.handler = std::make_shared<Handler>(*this);
    t.timeout = std::chrono::minutes(3);
    t.backoff = queue::Backoff{std::chrono::seconds(2), std::chrono::minutes(1)};
    t.keep_result = std::chrono::hours(24 * 7);
    return t;
}

}  // namespace confidant::domain
