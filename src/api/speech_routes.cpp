#include <boost/json/object.hpp>
#include <charconv>

#include "api/context.hpp"
#include "api/json.hpp"
#include "domain/speech.hpp"
#include "http/range.hpp"
#include "queue/queue.hpp"
#include "storage/database.hpp"
#include "tts/audio_library.hpp"

namespace confidant::api {

namespace {

bool valid_voice(const std::string& v) {
    if (v.empty() || v.size() > 64) {
        return false;
    }
    for (char c : v) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '+';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// Audio is read in pieces of this size at most per request (a whole reply's WAV is a few MB).
constexpr std::uint64_t kMaxPiece = 8 << 20;

}  // namespace

void add_speech_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::post, "/v1/tts",
          require_user(s, [&s](http::Request& req, Caller& c) -> Task<http::Response> {
              auto body = parse_object(req.body());
              auto text = require_string(body, "text");
              check_length("text", text, 1, 2000);
              auto voice = optional_string(body, "voice");
              if (voice && !valid_voice(*voice)) {
                  bad_request("voice must be 1..64 characters of [A-Za-z0-9_+-]");
              }
              if (s.queue == nullptr || s.speech == nullptr) {
                  throw ErrorException(make_error(ErrorCode::not_ready, "speech is not running"));
              }
              storage::NewJob job = domain::Speech::job_for(c.user_id, text, voice);
              auto queued = co_await s.queue->enqueue(std::move(job));
              boost::json::object o;
              o["job_id"] = std::to_string(queued.id);
              o["status"] = "queued";
              co_return json_response(202, o);
          }));

    r.add(http::bhttp::verb::get, "/v1/audio/{id}",
          require_user(s, [&s](http::Request& req, Caller& c) -> Task<http::Response> {
              const auto raw = req.param("id");
              std::int64_t id = 0;
              auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), id);
              if (ec != std::errc() || p != raw.data() + raw.size() || id < 1 ||
                  s.speech == nullptr) {
                  throw ErrorException(make_error(ErrorCode::not_found, "no such audio"));
              }
              // Only the owner's audio exists for a caller: another user's is a plain 404.
              auto audio = co_await s.db->run<storage::ops::FindAudio>(id, c.user_id);
              if (!audio) {
                  throw ErrorException(make_error(ErrorCode::not_found, "no such audio"));
              }
              const auto size = static_cast<std::uint64_t>(audio->bytes);
              const auto decision = http::decide_range(req.header(http::bhttp::field::range), size);
              http::Response res;
              res.content_type = "audio/wav";
              res.with_header("Accept-Ranges", "bytes");
              res.with_header("Cache-Control", "private, max-age=86400");
              if (decision.kind == http::RangeDecision::Kind::not_satisfiable) {
                  res.status = 416;
                  res.content_type.clear();
                  res.with_header("Content-Range", http::unsatisfied_content_range(size));
                  co_return res;
              }
              std::uint64_t first = 0;
              std::uint64_t last = size == 0 ? 0 : size - 1;
              if (decision.kind == http::RangeDecision::Kind::partial) {
                  first = decision.range.first;
                  last = std::min(decision.range.last, first + kMaxPiece - 1);
                  res.status = 206;
                  res.with_header("Content-Range",
                                  http::content_range(http::ByteRange{first, last}, size));
              }
              auto piece = co_await s.speech->library().read(
                  audio->file, first, static_cast<std::size_t>(last - first + 1));
              if (!piece) {
                  throw ErrorException(piece.error());
              }
              res.body = std::move(*piece);
              co_return res;
          }));
}

}  // namespace confidant::api
