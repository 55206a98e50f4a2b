#include "redis/reply.hpp"

namespace confidant::redis {

std::string Reply::to_debug_string() const {
    switch (type_) {
        case Type::nil:
            return "(nil)";
        case Type::status:
            return str_;
        case Type::error:
            return "(error) " + str_;
        case Type::integer:
            return "(integer) " + std::to_string(integer_);
        case Type::string:
            return "\"" + str_ + "\"";
        case Type::array: {
            std::string out = "[";
            for (std::size_t i = 0; i < elements_.size(); ++i) {
                if (i > 0) {
                    out += ", ";
                }
                out += elements_[i].to_debug_string();
            }
            return out + "]";
        }
    }
    return "?";
}

void encode_command(const std::vector<std::string>& args, std::string& out) {
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (const auto& a : args) {
        out += '$';
        out += std::to_string(a.size());
        out += "\r\n";
        out += a;
        out += "\r\n";
    }
}

}  // namespace confidant::redis
