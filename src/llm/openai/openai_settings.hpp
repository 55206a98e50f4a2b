#pragma once

#include <chrono>
#include <string>

namespace confidant::llm {

/// An OpenAI-compatible chat completions server: OpenAI itself, llama.cpp's `llama-server`,
/// Ollama, vLLM, ...
struct OpenAiSettings {
    /// Without `/v1` (the provider appends `/v1/chat/completions`); a base URL ending in `/v1`
    /// is accepted too. llama.cpp: http://127.0.0.1:8080, Ollama: http://127.0.0.1:11434,
    /// vLLM: http://127.0.0.1:8000, OpenAI: https://api.openai.com.
    std::string base_url = "http://127.0.0.1:8080";
    std::string api_key;  ///< `Authorization: Bearer <key>` when not empty
    std::string model = "gpt-4o-mini";
    std::chrono::milliseconds connect_timeout{5000};
    /// Longest wait for the response head, and then between body bytes (a stream stall).
    std::chrono::milliseconds read_timeout{60000};
};

}  // namespace confidant::llm
