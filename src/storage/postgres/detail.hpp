#pragma once

// Internal to confidant_pg: helpers its .cpp files share (this header includes libpq).

#include <libpq-fe.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>

#include "storage/postgres/statement.hpp"

namespace confidant::storage::pg::detail {

inline constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

/// libpq's messages end with a newline and may span lines; logs and errors want one line.
inline std::string one_line(const char* text) {
    std::string s = text != nullptr ? text : "";
    for (auto& c : s) {
        if (c == '\n' || c == '\r' || c == '\t') {
            c = ' ';
        }
    }
    while (!s.empty() && s.back() == ' ') {
        s.pop_back();
    }
    return s;
}

inline TxStatus to_tx_status(PGTransactionStatusType t) {
    switch (t) {
        case PQTRANS_IDLE:
            return TxStatus::idle;
        case PQTRANS_INTRANS:
            return TxStatus::in_transaction;
        case PQTRANS_INERROR:
            return TxStatus::in_error;
        default:
            return TxStatus::unknown;
    }
}

inline std::string ms_text(std::chrono::milliseconds d) {
    return std::to_string(d.count()) + " ms";
}

}  // namespace confidant::storage::pg::detail
