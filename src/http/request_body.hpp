#pragma once

#include <algorithm>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/optional.hpp>
#include <cstdint>
#include <cstring>
#include <string>

namespace confidant::http {

/// A request body held in a `std::string`, like Beast's `string_body`, except that its reader
/// does not reserve the announced Content-Length up front: the string grows with the bytes that
/// actually arrive (doubling), from at most `kInitialReserve`. A client that announces a large
/// body and trickles it in holds memory for what it sent, not for what it promised.
struct RequestBody {
    using value_type = std::string;

    /// Bytes reserved when a length is announced (or less, when less is announced): a typical
    /// JSON body fits, so the common case still costs one allocation.
    static constexpr std::size_t kInitialReserve = 4096;

    static std::uint64_t size(const value_type& body) { return body.size(); }

    class reader {
      public:
        template <bool IsRequest, class Fields>
        explicit reader(boost::beast::http::header<IsRequest, Fields>&, value_type& body)
            : body_(body) {}

        void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
            ec = {};
            if (length) {
                if (*length > body_.max_size()) {
                    ec = boost::beast::http::error::buffer_overflow;
                    return;
                }
                body_.reserve(
                    static_cast<std::size_t>(std::min<std::uint64_t>(*length, kInitialReserve)));
            }
        }

        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
            const auto extra = boost::asio::buffer_size(buffers);
            const auto size = body_.size();
            if (extra > body_.max_size() - size) {
                ec = boost::beast::http::error::buffer_overflow;
                return 0;
            }
            if (size + extra > body_.capacity()) {
                body_.reserve(std::max(size + extra, body_.capacity() * 2));
            }
            body_.resize(size + extra);
            char* dest = body_.data() + size;
            for (auto b : boost::beast::buffers_range_ref(buffers)) {
                std::memcpy(dest, b.data(), b.size());
                dest += b.size();
            }
            ec = {};
            return extra;
        }

        void finish(boost::system::error_code& ec) { ec = {}; }

      private:
        value_type& body_;
    };

    /// Bodies are only read with this type; serializing one is Beast's own string writer.
    using writer = boost::beast::http::string_body::writer;
};

}  // namespace confidant::http
