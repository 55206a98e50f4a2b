#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

namespace confidant::http {

/// How far parse_buffered takes a message: its head, or the whole of it.
enum class ParseUntil { head, whole };

/// Feeds the bytes already in `buffer` to `parser` until the head (or the whole message) is
/// parsed, consuming what the parser used. Returns success when it got that far, the parser's
/// error if the bytes are bad, or `need_more` when more bytes must be read first: Beast's
/// async_read_header / async_read then go on where this stopped.
///
/// Beast's async reads post their completion through the I/O queue even when every byte they
/// need is already buffered; under load that one more trip per step waits behind everything
/// queued. A request (or response) that arrived in one segment is parsed here without it.
template <bool IsRequest, class DynamicBuffer>
boost::beast::error_code parse_buffered(boost::beast::http::basic_parser<IsRequest>& parser,
                                        DynamicBuffer& buffer, ParseUntil until) {
    namespace bhttp = boost::beast::http;
    // As Beast's own reads do: the head alone without eagerness, so that the caller can look
    // at it (Expect: 100-continue, limits) before any body byte is taken.
    parser.eager(until == ParseUntil::whole);
    auto finished = [&] {
        return until == ParseUntil::whole ? parser.is_done() : parser.is_header_done();
    };
    boost::beast::error_code ec;
    while (!finished()) {
        if (buffer.size() == 0) {
            return bhttp::error::need_more;
        }
        const auto used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec) {
            return ec;  // need_more included: the rest of the head or the body is still on its way
        }
        if (used == 0) {
            return bhttp::error::need_more;
        }
    }
    return {};
}

}  // namespace confidant::http
