#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace confidant::emulator {

/// The parts of a Gemini `GenerateContentRequest` the emulator uses.
struct GenerateRequest {
    std::string last_user_text;                     ///< Text parts of the last user turn, joined.
    std::optional<std::int64_t> max_output_tokens;  ///< generationConfig.maxOutputTokens.
    std::uint64_t hash = 0;          ///< Of the system instruction and every turn, in order.
    std::int64_t prompt_tokens = 0;  ///< Estimated like Gemini: about 4 bytes a token.
    /// generationConfig.responseModalities contains "AUDIO": a speech answer is wanted.
    bool audio = false;
    /// generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName; empty if unset.
    std::string voice_name;
    /// generationConfig.speechConfig.languageCode; empty if unset.
    std::string language_code;
};

/// Parses and validates a request body like Gemini does (camelCase or snake_case field
/// names, unknown top-level fields rejected). The error message is Gemini's wording for a
/// 400 INVALID_ARGUMENT.
Result<GenerateRequest> parse_generate_request(std::string_view body);

/// A deterministic answer: the same request always gets the same text.
struct Reply {
    std::string text;
    std::string finish_reason;  ///< "STOP", or "MAX_TOKENS" when maxOutputTokens cut it.
    std::int64_t prompt_tokens = 0;
    std::int64_t candidate_tokens = 0;
};

/// "You said: <last user text>. <tail>" where the tail's words come from the request hash.
/// `reply_words` = tail length; 0 picks 8..19 words from the hash.
Reply make_reply(const GenerateRequest& request, std::int64_t reply_words);

/// Splits `text` into consecutive pieces of `words_per_chunk` words (each piece keeps its
/// trailing space), so that joining the pieces gives `text` back exactly.
std::vector<std::string_view> split_chunks(std::string_view text, std::int64_t words_per_chunk);

/// Gemini-like token estimate: ceil(bytes / 4), at least 1 for non-empty text.
std::int64_t count_tokens(std::string_view text) noexcept;

}  // namespace confidant::emulator
