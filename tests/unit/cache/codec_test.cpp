#include "cache/codec.hpp"

#include <gtest/gtest.h>

namespace confidant::cache {
namespace {

TEST(Codec, RoundTrips) {
    for (std::uint32_t version : {0u, 1u, 127u, 128u, 300u, 0xFFFFFFFFu}) {
        const std::string bytes = codec::encode(version, "payload:{\"a\":1}");
        auto back = codec::decode(version, bytes);
        ASSERT_TRUE(back.has_value()) << version;
        EXPECT_EQ(*back, "payload:{\"a\":1}");
    }
    EXPECT_EQ(codec::decode(3, codec::encode(3, "")), std::optional<std::string>(""));
}

TEST(Codec, VersionMismatchIsAMiss) {
    const std::string v1 = codec::encode(1, "old shape");
    EXPECT_FALSE(codec::decode(2, v1).has_value());
    EXPECT_FALSE(codec::decode(129, codec::encode(1, "x")).has_value());
    EXPECT_FALSE(codec::decode(1, codec::encode(129, "x")).has_value());
}

TEST(Codec, ForeignBytesAreAMiss) {
    EXPECT_FALSE(codec::decode(1, "").has_value());
    EXPECT_FALSE(codec::decode(1, "{\"json\":true}").has_value());
    EXPECT_FALSE(codec::decode(1, std::string(1, static_cast<char>(codec::kMagic))).has_value());
    // Varint continuation bit set and then the bytes run out.
    std::string truncated{static_cast<char>(codec::kMagic), static_cast<char>(0x81)};
    EXPECT_FALSE(codec::decode(1, truncated).has_value());
    // Over-long varint.
    std::string overlong(1, static_cast<char>(codec::kMagic));
    overlong.append(6, static_cast<char>(0xFF));
    overlong.push_back(0x01);
    EXPECT_FALSE(codec::decode(1, overlong).has_value());
}

}  // namespace
}  // namespace confidant::cache
