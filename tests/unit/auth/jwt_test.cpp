#include "auth/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <string>
#include <vector>

namespace confidant::auth {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kT0 = 1'800'000'000;  // ManualClock's initial system time
const std::string kSecret = "confidant-test-secret";

// Computed when the test was written, independently of this code:
//   H=base64url('{"alg":"HS256","typ":"JWT"}')
//   P=base64url('{"sub":"42","role":"user","iat":1800000000,"exp":1800003600,
//               "jti":"00112233445566778899aabbccddeeff"}')
//   printf '%s' "$H.$P" | openssl dgst -sha256 -hmac confidant-test-secret -binary | base64url
const std::string kKnownToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiI0MiIsInJvbGUiOiJ1c2VyIiwiaWF0IjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDM2MDAsImp0aSI6IjAw"
    "MTEyMjMzNDQ1NTY2Nzc4ODk5YWFiYmNjZGRlZWZmIn0."
    "MRd4HlK6V7iN0FZ77d2jDX4NtvlNMdWnrFS4yDVY9Ek";
// Same secret, made the same way: header keys in another order, no iat/role/jti, an extra claim.
const std::string kForeignToken =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."
    "eyJleHAiOjE4MDAwMDAxMDAsInN1YiI6IjciLCJhZG1pbiI6dHJ1ZX0."
    "gxL4NH4E-ZBitDeSHkd-vjYInN_59fW30giDRLH2-Xw";
// The jwt.io example (secret "your-256-bit-secret"): a valid signature but no exp.
const std::string kJwtIoToken =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

std::string mac(const EVP_MD* md, const std::string& key, const std::string& data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
    return std::string(reinterpret_cast<const char*>(out), size);
}

// A token with any header and payload, correctly signed with `md` (a forger who knows the key
// but not our rules).
std::string forge(const std::string& header, const std::string& payload,
                  const std::string& key = kSecret, const EVP_MD* md = EVP_sha256()) {
    std::string signing_input = base64url_encode(header) + "." + base64url_encode(payload);
    return signing_input + "." + base64url_encode(mac(md, key, signing_input));
}

const std::string kHs256 = R"({"alg":"HS256","typ":"JWT"})";
const std::string kPayload = R"({"sub":"42","role":"user","iat":1800000000,"exp":1800003600})";

void expect_unauthorized(const Result<Claims>& r, const char* what) {
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_EQ(r.error().code, ErrorCode::unauthorized) << what;
    EXPECT_FALSE(r.error().message.empty()) << what;
    EXPECT_EQ(r.error().message.find(kSecret), std::string::npos) << what;
}

class JwtTest : public ::testing::Test {
  protected:
    ManualClock clock_;
    JwtCodec codec_{kSecret, 30s, clock_};
};

TEST_F(JwtTest, RoundTrip) {
    const Claims issued = codec_.issue("42", "admin", 1h);
    EXPECT_EQ(issued.iat, kT0);
    EXPECT_EQ(issued.exp, kT0 + 3600);
    const std::string token = codec_.sign(issued);
    auto verified = codec_.verify(token);
    ASSERT_TRUE(verified.has_value()) << verified.error().message;
    EXPECT_EQ(verified->sub, "42");
    EXPECT_EQ(verified->role, "admin");
    EXPECT_EQ(verified->iat, kT0);
    EXPECT_EQ(verified->exp, kT0 + 3600);
    EXPECT_EQ(verified->jti, issued.jti);
    EXPECT_EQ(issued.jti.size(), 32u);
    EXPECT_EQ(issued.jti.find_first_not_of("0123456789abcdef"), std::string::npos);
    // Every token gets its own id.
    EXPECT_NE(codec_.issue("42", "admin", 1h).jti, issued.jti);
    Claims no_jti = issued;
    no_jti.jti.clear();
    auto filled = codec_.verify(codec_.sign(no_jti));
    ASSERT_TRUE(filled.has_value());
    EXPECT_EQ(filled->jti.size(), 32u);
}

TEST_F(JwtTest, SignsTheKnownVectorByteForByte) {
    const Claims claims{"42", "user", 1'800'000'000, 1'800'003'600,
                        "00112233445566778899aabbccddeeff"};
    EXPECT_EQ(codec_.sign(claims), kKnownToken);
    auto verified = codec_.verify(kKnownToken);
    ASSERT_TRUE(verified.has_value()) << verified.error().message;
    EXPECT_EQ(verified->sub, "42");
    EXPECT_EQ(verified->role, "user");
    EXPECT_EQ(verified->jti, "00112233445566778899aabbccddeeff");
}

TEST_F(JwtTest, AcceptsOtherWellFormedHs256Tokens) {
    auto verified = codec_.verify(kForeignToken);
    ASSERT_TRUE(verified.has_value()) << verified.error().message;
    EXPECT_EQ(verified->sub, "7");
    EXPECT_EQ(verified->exp, kT0 + 100);
    EXPECT_EQ(verified->role, "");
    // typ is optional; fractional NumericDates are allowed.
    EXPECT_TRUE(codec_.verify(forge(R"({"alg":"HS256"})", kPayload)).has_value());
    EXPECT_TRUE(codec_.verify(forge(kHs256, R"({"sub":"1","exp":1800000010.5})")).has_value());
}

TEST_F(JwtTest, RejectsAlgNone) {
    const std::string payload = base64url_encode(kPayload);
    expect_unauthorized(
        codec_.verify(base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + payload + "."),
        "none, empty signature");
    expect_unauthorized(codec_.verify(forge(R"({"alg":"none","typ":"JWT"})", kPayload)),
                        "none, HS256 signature");
    expect_unauthorized(codec_.verify(forge(R"({"alg":"None"})", kPayload)), "None");
}

TEST_F(JwtTest, RejectsOtherAlgorithms) {
    expect_unauthorized(
        codec_.verify(forge(R"({"alg":"HS512","typ":"JWT"})", kPayload, kSecret, EVP_sha512())),
        "HS512 signed with HS512");
    expect_unauthorized(codec_.verify(forge(R"({"alg":"HS512","typ":"JWT"})", kPayload)),
                        "HS512 header, HS256 signature");
    expect_unauthorized(codec_.verify(forge(R"({"alg":"HS384"})", kPayload, kSecret, EVP_sha384())),
                        "HS384");
    expect_unauthorized(codec_.verify(forge(R"({"alg":"RS256"})", kPayload)), "RS256");
    expect_unauthorized(codec_.verify(forge(R"({"alg":"hs256"})", kPayload)), "lowercase");
    expect_unauthorized(codec_.verify(forge(R"({"typ":"JWT"})", kPayload)), "missing alg");
    expect_unauthorized(codec_.verify(forge(R"({"alg":256})", kPayload)), "numeric alg");
    expect_unauthorized(codec_.verify(forge(R"({"alg":"HS256","typ":"JWE"})", kPayload)), "typ");
    expect_unauthorized(codec_.verify(forge(R"({"alg":"HS256","crit":["exp"]})", kPayload)),
                        "crit");
}

TEST_F(JwtTest, RejectsAnyChangedSignatureByte) {
    ASSERT_TRUE(codec_.verify(kKnownToken).has_value());
    const std::size_t dot = kKnownToken.rfind('.');
    const std::string signing_input = kKnownToken.substr(0, dot);
    const std::string signature = *base64url_decode(kKnownToken.substr(dot + 1));
    ASSERT_EQ(signature.size(), 32u);
    for (std::size_t i = 0; i < signature.size(); ++i) {
        std::string flipped = signature;
        flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
        expect_unauthorized(codec_.verify(signing_input + "." + base64url_encode(flipped)),
                            "flipped byte");
    }
    expect_unauthorized(
        codec_.verify(signing_input + "." + base64url_encode(signature.substr(0, 31))),
        "truncated");
    expect_unauthorized(codec_.verify(signing_input + "." + base64url_encode(signature + "x")),
                        "extended");
    expect_unauthorized(codec_.verify(signing_input + "."), "empty signature");
}

TEST_F(JwtTest, RejectsChangedPayload) {
    const std::size_t dot1 = kKnownToken.find('.');
    const std::size_t dot2 = kKnownToken.rfind('.');
    const std::string escalated =
        base64url_encode(R"({"sub":"42","role":"admin","iat":1800000000,"exp":1800003600,)"
                         R"("jti":"00112233445566778899aabbccddeeff"})");
    expect_unauthorized(
        codec_.verify(kKnownToken.substr(0, dot1 + 1) + escalated + kKnownToken.substr(dot2)),
        "role changed");
    const std::string other_sub = base64url_encode(R"({"sub":"43","exp":1800003600})");
    expect_unauthorized(
        codec_.verify(kKnownToken.substr(0, dot1 + 1) + other_sub + kKnownToken.substr(dot2)),
        "sub changed");
}

TEST_F(JwtTest, RejectsTokensSignedWithAnotherSecret) {
    const JwtCodec other("another-secret", 30s, clock_);
    const std::string token = other.sign(other.issue("42", "user", 1h));
    ASSERT_TRUE(other.verify(token).has_value());
    expect_unauthorized(codec_.verify(token), "other secret");
    expect_unauthorized(codec_.verify(forge(kHs256, kPayload, kSecret + "x")), "longer secret");
}

TEST_F(JwtTest, ExpiryHonoursTheLeeway) {
    const std::string token = codec_.sign(Claims{"42", "user", kT0, kT0 + 60, "j"});
    const JwtCodec strict(kSecret, 0s, clock_);
    const JwtCodec generous(kSecret, 10min, clock_);  // clamped to 30 s

    clock_.advance(59s);
    EXPECT_TRUE(codec_.verify(token).has_value());
    EXPECT_TRUE(strict.verify(token).has_value());
    clock_.advance(1s);  // now == exp
    EXPECT_TRUE(codec_.verify(token).has_value());
    expect_unauthorized(strict.verify(token), "expired without leeway");
    clock_.advance(29s);  // exp + 29
    EXPECT_TRUE(codec_.verify(token).has_value());
    EXPECT_TRUE(generous.verify(token).has_value());
    clock_.advance(1s);  // exp + 30: past the leeway
    expect_unauthorized(codec_.verify(token), "beyond leeway");
    expect_unauthorized(generous.verify(token), "leeway is clamped to 30 s");
    clock_.advance(24h);
    expect_unauthorized(codec_.verify(token), "long expired");
}

TEST_F(JwtTest, NotBeforeHonoursTheLeeway) {
    const auto with_nbf = [](std::int64_t nbf) {
        return forge(kHs256, R"({"sub":"1","exp":1800003600,"nbf":)" + std::to_string(nbf) + "}");
    };
    EXPECT_TRUE(codec_.verify(with_nbf(kT0)).has_value());
    EXPECT_TRUE(codec_.verify(with_nbf(kT0 + 30)).has_value());
    expect_unauthorized(codec_.verify(with_nbf(kT0 + 31)), "not yet valid");
    expect_unauthorized(codec_.verify(forge(kHs256, R"({"sub":"1","exp":1800003600,"nbf":"x"})")),
                        "string nbf");
}

TEST_F(JwtTest, RequiresNumericExpAndStringSub) {
    expect_unauthorized(codec_.verify(forge(kHs256, R"({"sub":"42","iat":1800000000})")),
                        "missing exp");
    expect_unauthorized(codec_.verify(forge(kHs256, R"({"sub":"42","exp":"1800003600"})")),
                        "string exp");
    expect_unauthorized(codec_.verify(forge(kHs256, R"({"sub":"42","exp":null})")), "null exp");
    expect_unauthorized(codec_.verify(forge(kHs256, R"({"sub":"42","exp":1e300})")), "huge exp");
    expect_unauthorized(codec_.verify(forge(kHs256, R"({"exp":1800003600})")), "missing sub");
    expect_unauthorized(codec_.verify(forge(kHs256, R"({"sub":42,"exp":1800003600})")),
                        "numeric sub");
    expect_unauthorized(
        codec_.verify(forge(kHs256, R"({"sub":"42","exp":1800003600,"role":["admin"]})")),
        "array role");
    expect_unauthorized(codec_.verify(forge(kHs256, R"({"sub":"42","exp":1800003600,"iat":"x"})")),
                        "string iat");
    // A real third-party token: the signature is right, the missing exp is not.
    const JwtCodec jwt_io("your-256-bit-secret", 30s, clock_);
    auto r = jwt_io.verify(kJwtIoToken);
    expect_unauthorized(r, "jwt.io token without exp");
    EXPECT_EQ(r.error().message, "token without expiry");
}

// Signs already-encoded segments as they are, so only the decoding rules can reject them.
std::string sign_segments(const std::string& header_b64, const std::string& payload_b64) {
    const std::string input = header_b64 + "." + payload_b64;
    return input + "." + base64url_encode(mac(EVP_sha256(), kSecret, input));
}

std::string padded(std::string b64) {
    while (b64.size() % 4 != 0) {
        b64 += '=';
    }
    return b64;
}

TEST_F(JwtTest, RejectsMalformedTokens) {
    const std::string h = base64url_encode(kHs256);
    const std::string short_payload = R"({"sub":"42","exp":1800003600})";  // 29 bytes: 4n+3
    const std::string p = base64url_encode(short_payload);
    const std::string good = sign_segments(h, p);
    ASSERT_TRUE(codec_.verify(good).has_value());
    const std::string s = good.substr(good.rfind('.') + 1);
    ASSERT_NE(padded(p), p);
    ASSERT_NE(padded(s), s);

    // Each of these is signed over exactly the segments it carries.
    const std::vector<std::string> bad_signed = {
        sign_segments(h, padded(p)),                        // padding
        sign_segments(h, p.substr(0, p.size() - 1) + "+"),  // standard-base64 alphabet
        sign_segments(h, "/" + p.substr(1)),
        sign_segments(h, p + "AA"),                         // impossible length (4n+1)
        sign_segments(h, p.substr(0, p.size() - 1) + "1"),  // non-zero trailing bits
        sign_segments(h, " " + p),
        sign_segments(h, ""),
        sign_segments("", p),
    };
    for (const auto& token : bad_signed) {
        expect_unauthorized(codec_.verify(token), token.c_str());
    }
    const std::vector<std::string> bad = {
        "",         "abc",          h + "." + p,
        good + ".", good + "." + s, h + "." + p + "." + padded(s),
        " " + good, good + "\n",    std::string(10000, 'a') + "." + p + "." + s,
    };
    for (const auto& token : bad) {
        expect_unauthorized(codec_.verify(token), token.substr(0, 80).c_str());
    }
    // Correctly signed, but not JSON objects.
    expect_unauthorized(codec_.verify(forge(kHs256, "not json")), "payload not JSON");
    expect_unauthorized(codec_.verify(forge(kHs256, R"(["sub","42"])")), "payload array");
    expect_unauthorized(codec_.verify(forge(kHs256, kPayload + "garbage")), "trailing garbage");
    expect_unauthorized(codec_.verify(forge("{alg:HS256}", kPayload)), "header not JSON");
    expect_unauthorized(codec_.verify(forge(R"("HS256")", kPayload)), "header string");
}

TEST(Base64Url, RoundTripsAndDecodesStrictly) {
    std::string bytes;
    for (int i = 0; i < 40; ++i) {
        const std::string encoded = base64url_encode(bytes);
        EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
        EXPECT_EQ(base64url_decode(encoded), bytes);
        bytes += static_cast<char>(i * 37 + 250);
    }
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff"));
    EXPECT_EQ(base64url_decode(""), std::string());
    EXPECT_FALSE(base64url_decode("-_9").has_value());  // non-zero trailing bits
    EXPECT_FALSE(base64url_decode("QQ==").has_value());
    EXPECT_FALSE(base64url_decode("QR").has_value());  // "QQ" is the canonical form of "A"
    EXPECT_EQ(base64url_decode("QQ"), std::string("A"));
    EXPECT_FALSE(base64url_decode("Q").has_value());
    EXPECT_FALSE(base64url_decode("a+b/").has_value());
}

TEST(JwtSecrets, RandomSecretsAndIds) {
    const std::string a = random_secret();
    const std::string b = random_secret();
    EXPECT_EQ(a.size(), 43u);
    EXPECT_NE(a, b);
    auto decoded = base64url_decode(a);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->size(), 32u);
    EXPECT_NE(random_jti(), random_jti());
    EXPECT_THROW(JwtCodec(""), std::invalid_argument);
}

}  // namespace
}  // namespace confidant::auth
