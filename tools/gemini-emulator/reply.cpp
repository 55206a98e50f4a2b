#include "reply.hpp"

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <initializer_list>

#include "behavior.hpp"

namespace confidant::emulator {
namespace json = boost::json;
namespace {

constexpr std::array<std::string_view, 64> kWords = {
    "quiet",   "river",   "lantern", "morning",    "gentle", "harbor",  "meadow",  "silver",
    "thought", "window",  "garden",  "echo",       "sunlit", "story",   "patient", "warm",
    "compass", "evening", "cedar",   "breeze",     "kindly", "orchard", "pebble",  "steady",
    "journey", "candle",  "valley",  "whisper",    "amber",  "horizon", "curious", "tide",
    "feather", "hollow",  "bright",  "willow",     "signal", "marble",  "drift",   "cloud",
    "ember",   "golden",  "rain",    "lighthouse", "listen", "softly",  "path",    "season",
    "harvest", "mirror",  "open",    "north",      "ripple", "shelter", "spark",   "tender",
    "thread",  "upward",  "velvet",  "wander",     "yonder", "zephyr",  "anchor",  "bloom",
};

class Fnv {
  public:
    void add(std::string_view s) noexcept {
        for (unsigned char c : s) {
            h_ = (h_ ^ c) * 0x100'0000'01b3ULL;
        }
    }
    void sep(char c) noexcept { add(std::string_view(&c, 1)); }
    std::uint64_t value() const noexcept { return mix64(h_); }

  private:
    std::uint64_t h_ = 0xcbf2'9ce4'8422'2325ULL;
};

Error invalid(std::string message) {
    return make_error(ErrorCode::bad_request, std::move(message));
}

// Proto JSON accepts both the lowerCamelCase and the original snake_case field name.
const json::value* field(const json::object& o, std::string_view camel, std::string_view snake) {
    if (auto* v = o.if_contains(camel)) {
        return v;
    }
    return snake.empty() ? nullptr : o.if_contains(snake);
}

bool is_known(std::string_view key, std::initializer_list<std::string_view> names) {
    for (auto n : names) {
        if (key == n) {
            return true;
        }
    }
    return false;
}

// Parses `parts` of one Content; appends its text to `text` and to the hash.
std::optional<Error> read_parts(const json::value& parts_value, const std::string& where,
                                std::string& text, Fnv& fnv, std::int64_t& tokens) {
    if (!parts_value.is_array()) {
        return invalid("Invalid JSON payload received. Expected a list for \"" + where +
                       ".parts\".");
    }
    const auto& parts = parts_value.get_array();
    if (parts.empty()) {
        return invalid("* GenerateContentRequest." + where +
                       ".parts: contents.parts must not "
                       "be empty.\n");
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const std::string at = where + ".parts[" + std::to_string(i) + "]";
        if (!parts[i].is_object()) {
            return invalid("Invalid value at '" + at +
                           "' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part)");
        }
        const auto& part = parts[i].get_object();
        bool has_data = false;
        for (const auto& [key, value] : part) {
            if (key == "text") {
                if (!value.is_string()) {
                    return invalid("Invalid value at '" + at + ".text' (TYPE_STRING), " +
                                   json::serialize(value));
                }
                has_data = true;
                text += value.get_string();
                fnv.add(value.get_string());
                fnv.sep('\x1d');
                tokens += count_tokens(value.get_string());
            } else if (is_known(key, {"inlineData", "inline_data", "fileData", "file_data",
                                      "functionCall", "function_call", "functionResponse",
                                      "function_response", "executableCode", "executable_code",
                                      "codeExecutionResult", "code_execution_result"})) {
                has_data = true;
                fnv.add(json::serialize(value));
                fnv.sep('\x1d');
            } else if (!is_known(key, {"thought", "thoughtSignature", "thought_signature",
                                       "videoMetadata", "video_metadata"})) {
                return invalid("Invalid JSON payload received. Unknown name \"" + std::string(key) +
                               "\" at '" + at + "': Cannot find field.");
            }
        }
        if (!has_data) {
            return invalid("* GenerateContentRequest." + at +
                           ".data: required oneof field 'data' must have one initialized "
                           "field\n");
        }
    }
    return std::nullopt;
}

// A string field of a nested config object; `where` names it in Google's snake_case path.
std::optional<Error> read_string(const json::object& o, std::string_view camel,
                                 std::string_view snake, const std::string& where,
                                 std::string& out) {
    const auto* v = field(o, camel, snake);
    if (!v || v->is_null()) {
        return std::nullopt;
    }
    if (!v->is_string()) {
        return invalid("Invalid value at '" + where + "' (TYPE_STRING), " + json::serialize(*v));
    }
    out = std::string(v->get_string());
    return std::nullopt;
}

// An object-valued field, or nullptr when absent; an error when it is not an object.
Result<const json::object*> read_object(const json::object& o, std::string_view camel,
                                        std::string_view snake, const std::string& where,
                                        std::string_view type) {
    const auto* v = field(o, camel, snake);
    if (!v || v->is_null()) {
        return static_cast<const json::object*>(nullptr);
    }
    if (!v->is_object()) {
        return invalid("Invalid value at '" + where +
                       "' (type.googleapis.com/google.ai.generativelanguage.v1beta." +
                       std::string(type) + "), " + json::serialize(*v));
    }
    return &v->get_object();
}

// generationConfig.responseModalities and generationConfig.speechConfig.
std::optional<Error> read_speech_config(const json::object& g, GenerateRequest& req) {
    if (const auto* m = field(g, "responseModalities", "response_modalities"); m && !m->is_null()) {
        if (!m->is_array()) {
            return invalid(
                "Invalid JSON payload received. Expected a list for "
                "\"generation_config.response_modalities\".");
        }
        const auto& list = m->get_array();
        for (std::size_t i = 0; i < list.size(); ++i) {
            const auto& v = list[i];
            const bool known =
                v.is_string() &&
                is_known(v.get_string(), {"MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"});
            if (!known) {
                return invalid("Invalid value at 'generation_config.response_modalities[" +
                               std::to_string(i) +
                               "]' (type.googleapis.com/"
                               "google.ai.generativelanguage.v1beta.GenerationConfig.Modality), " +
                               json::serialize(v));
            }
            if (v.get_string() == "AUDIO") {
                req.audio = true;
            }
        }
    }
    std::string where = "generation_config.speech_config";
    auto speech = read_object(g, "speechConfig", "speech_config", where, "SpeechConfig");
    if (!speech) {
        return speech.error();
    }
    if (!*speech) {
        return std::nullopt;
    }
    if (auto err = read_string(**speech, "languageCode", "language_code", where + ".language_code",
                               req.language_code)) {
        return err;
    }
    where += ".voice_config";
    auto voice = read_object(**speech, "voiceConfig", "voice_config", where, "VoiceConfig");
    if (!voice) {
        return voice.error();
    }
    if (!*voice) {
        return std::nullopt;
    }
    where += ".prebuilt_voice_config";
    auto prebuilt = read_object(**voice, "prebuiltVoiceConfig", "prebuilt_voice_config", where,
                                "PrebuiltVoiceConfig");
    if (!prebuilt) {
        return prebuilt.error();
    }
    if (!*prebuilt) {
        return std::nullopt;
    }
    return read_string(**prebuilt, "voiceName", "voice_name", where + ".voice_name",
                       req.voice_name);
}

}  // namespace

std::int64_t count_tokens(std::string_view text) noexcept {
    return static_cast<std::int64_t>((text.size() + 3) / 4);
}

Result<GenerateRequest> parse_generate_request(std::string_view body) {
    boost::system::error_code ec;
    json::value root = json::parse(body, ec);
    if (ec) {
        return invalid("Invalid JSON payload received. Unexpected token.");
    }
    if (!root.is_object()) {
        return invalid("Invalid JSON payload received. Expected an object.");
    }
    const auto& o = root.get_object();
    for (const auto& [key, value] : o) {
        if (!is_known(key,
                      {"contents", "systemInstruction", "system_instruction", "generationConfig",
                       "generation_config", "safetySettings", "safety_settings", "tools",
                       "toolConfig", "tool_config", "cachedContent", "cached_content", "model"})) {
            return invalid("Invalid JSON payload received. Unknown name \"" + std::string(key) +
                           "\": Cannot find field.");
        }
    }

    GenerateRequest req;
    Fnv fnv;
    if (const auto* sys = field(o, "systemInstruction", "system_instruction");
        sys && !sys->is_null()) {
        if (!sys->is_object()) {
            return invalid(
                "Invalid value at 'system_instruction' "
                "(type.googleapis.com/google.ai.generativelanguage.v1beta.Content)");
        }
        std::string ignored;
        fnv.add("system");
        fnv.sep('\x1e');
        if (const auto* parts = sys->get_object().if_contains("parts")) {
            if (auto err =
                    read_parts(*parts, "system_instruction", ignored, fnv, req.prompt_tokens)) {
                return *err;
            }
        }
    }

    const auto* contents = o.if_contains("contents");
    if (!contents || contents->is_null() ||
        (contents->is_array() && contents->get_array().empty())) {
        return invalid("* GenerateContentRequest.contents: contents is not specified\n");
    }
    if (!contents->is_array()) {
        return invalid("Invalid JSON payload received. Expected a list for \"contents\".");
    }
    const auto& list = contents->get_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string where = "contents[" + std::to_string(i) + "]";
        if (!list[i].is_object()) {
            return invalid("Invalid value at '" + where +
                           "' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content)");
        }
        const auto& content = list[i].get_object();
        std::string role = "user";
        if (const auto* r = content.if_contains("role"); r && !r->is_null()) {
            if (!r->is_string()) {
                return invalid("Invalid value at '" + where + ".role' (TYPE_STRING), " +
                               json::serialize(*r));
            }
            role = std::string(r->get_string());
            if (role.empty()) {
                role = "user";
            }
            if (role != "user" && role != "model" && role != "function") {
                return invalid("Please use a valid role: user, model.");
            }
        }
        const auto* parts = content.if_contains("parts");
        if (!parts) {
            return invalid("* GenerateContentRequest." + where +
                           ".parts: contents.parts must not be empty.\n");
        }
        fnv.add(role);
        fnv.sep('\x1e');
        std::string text;
        if (auto err = read_parts(*parts, where, text, fnv, req.prompt_tokens)) {
            return *err;
        }
        if (role == "user") {
            req.last_user_text = std::move(text);
        }
    }

    if (const auto* gc = field(o, "generationConfig", "generation_config"); gc && !gc->is_null()) {
        if (!gc->is_object()) {
            return invalid(
                "Invalid value at 'generation_config' "
                "(type.googleapis.com/google.ai.generativelanguage.v1beta."
                "GenerationConfig)");
        }
        const auto& g = gc->get_object();
        if (const auto* t = g.if_contains("temperature"); t && !t->is_null() && !t->is_number()) {
            return invalid("Invalid value at 'generation_config.temperature' (TYPE_FLOAT), " +
                           json::serialize(*t));
        }
        if (const auto* m = field(g, "maxOutputTokens", "max_output_tokens"); m && !m->is_null()) {
            if (!m->is_int64() && !m->is_uint64()) {
                return invalid(
                    "Invalid value at 'generation_config.max_output_tokens' "
                    "(TYPE_INT32), " +
                    json::serialize(*m));
            }
            const auto n =
                m->is_int64() ? m->get_int64() : static_cast<std::int64_t>(m->get_uint64());
            if (n > 0) {
                req.max_output_tokens = n;
            }
        }
        if (auto err = read_speech_config(g, req)) {
            return *err;
        }
    }
    req.hash = fnv.value();
    req.prompt_tokens = std::max<std::int64_t>(req.prompt_tokens, 1);
    return req;
}

Reply make_reply(const GenerateRequest& request, std::int64_t reply_words) {
    Reply r;
    const std::int64_t n =
        reply_words > 0 ? reply_words : 8 + static_cast<std::int64_t>(request.hash % 12);
    std::string tail;
    for (std::int64_t i = 0; i < n; ++i) {
        auto word = kWords[mix64(request.hash + static_cast<std::uint64_t>(i)) % kWords.size()];
        if (i > 0) {
            tail += ' ';
        }
        tail += word;
    }
    tail[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(tail[0])));
    tail += '.';
    r.text = "You said: " + request.last_user_text + ". " + tail;
    r.finish_reason = "STOP";

    if (request.max_output_tokens && count_tokens(r.text) > *request.max_output_tokens) {
        // Cut at the last word boundary that fits; keep at least the first word.
        const auto max_bytes = static_cast<std::size_t>(*request.max_output_tokens) * 4;
        std::size_t cut = r.text.rfind(' ', max_bytes);
        if (cut == std::string::npos || cut == 0) {
            cut = r.text.find(' ');
        }
        r.text.resize(cut);
        r.finish_reason = "MAX_TOKENS";
    }
    r.prompt_tokens = request.prompt_tokens;
    r.candidate_tokens = count_tokens(r.text);
    return r;
}

std::vector<std::string_view> split_chunks(std::string_view text, std::int64_t words_per_chunk) {
    std::vector<std::string_view> chunks;
    std::size_t start = 0;
    std::int64_t spaces = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == ' ' && ++spaces == words_per_chunk) {
            chunks.push_back(text.substr(start, i + 1 - start));
            start = i + 1;
            spaces = 0;
        }
    }
    if (start < text.size() || chunks.empty()) {
        chunks.push_back(text.substr(start));
    }
    return chunks;
}

}  // namespace confidant::emulator
