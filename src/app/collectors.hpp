#pragma once

#include "obs/metrics.hpp"

namespace confidant::cache {
class LocalCache;
}
namespace confidant::llm {
class ResilientProvider;
}

namespace confidant::app {

class RedisParts;

/// Registers the /metrics collectors of the cache, the LLM resilience layer and the Redis pool.
/// Null pointers are skipped. Everything passed must outlive the registry's use.
void add_collectors(obs::MetricsRegistry& registry, const cache::LocalCache* l1,
                    llm::ResilientProvider* llm, RedisParts* redis);

}  // namespace confidant::app
