#include "storage/postgres/params.hpp"

#include <stdexcept>

namespace confidant::storage::pg {

Params& Params::add(std::nullopt_t) {
    slots_.push_back(Slot{0, -1, false});
    return *this;
}

Params& Params::add(bool value) { return add_text_unchecked(value ? "t" : "f"); }

Params& Params::add(double value) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    return add_text_unchecked(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

Params& Params::add(std::string_view value) {
    if (value.find('\0') != std::string_view::npos) {
        throw std::invalid_argument("pg::Params: parameter $" + std::to_string(slots_.size() + 1) +
                                    " contains a NUL byte, which PostgreSQL text cannot hold");
    }
    return add_text_unchecked(value);
}

Params& Params::add_text_unchecked(std::string_view value) {
    slots_.push_back(Slot{static_cast<std::uint32_t>(data_.size()),
                          static_cast<std::int32_t>(value.size()), false});
    data_.append(value);
    data_.push_back('\0');
    return *this;
}

Params& Params::add_bytes(std::string_view bytes) {
    slots_.push_back(Slot{static_cast<std::uint32_t>(data_.size()),
                          static_cast<std::int32_t>(bytes.size()), true});
    data_.append(bytes);
    data_.push_back('\0');
    return *this;
}

void Params::fill(std::vector<const char*>& values, std::vector<int>& lengths,
                  std::vector<int>& formats) const {
    values.clear();
    lengths.clear();
    formats.clear();
    for (const auto& s : slots_) {
        values.push_back(s.length < 0 ? nullptr : data_.data() + s.offset);
        lengths.push_back(s.length < 0 ? 0 : s.length);
        formats.push_back(s.binary ? 1 : 0);
    }
}

}  // namespace confidant::storage::pg
