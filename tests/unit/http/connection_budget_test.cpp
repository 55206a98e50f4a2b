#include "http/connection_budget.hpp"

#include <gtest/gtest.h>

using confidant::http::default_max_connections;
using confidant::http::DescriptorBudget;

TEST(ConnectionBudget, OfflineProviderLeavesTheRestToClients) {
    EXPECT_EQ(
        default_max_connections(
            {.file_limit = 1024, .reserved = 100, .backend_connections = 30, .upstream_max = 0}),
        894u);
}

TEST(ConnectionBudget, EachClientMayNeedAnUpstreamConnection) {
    // A small limit: half of what is left goes to clients, half to their model calls.
    EXPECT_EQ(
        default_max_connections(
            {.file_limit = 1024, .reserved = 100, .backend_connections = 24, .upstream_max = 4096}),
        450u);
    // A large limit: the model connections are capped by the bulkhead, the rest is clients'.
    EXPECT_EQ(default_max_connections({.file_limit = 1 << 20,
                                       .reserved = 100,
                                       .backend_connections = 81,
                                       .upstream_max = 4096}),
              (1u << 20) - 100 - 81 - 4096);
}

TEST(ConnectionBudget, NeverZero) {
    EXPECT_EQ(
        default_max_connections(
            {.file_limit = 64, .reserved = 100, .backend_connections = 30, .upstream_max = 0}),
        1u);
    EXPECT_EQ(default_max_connections({.file_limit = 0}), 1u);
    EXPECT_EQ(
        default_max_connections(
            {.file_limit = 132, .reserved = 100, .backend_connections = 30, .upstream_max = 10}),
        1u);
}
