#include "redis/script.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace confidant::redis {

Script::Script(std::string source) : source_(std::move(source)) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(source_.data(), source_.size(), digest, &len, EVP_sha1(), nullptr) != 1) {
        throw std::runtime_error("SHA1 of a Lua script failed");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    sha1_.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        sha1_ += kHex[digest[i] >> 4];
        sha1_ += kHex[digest[i] & 0xF];
    }
}

}  // namespace confidant::redis
