#include "dns/wire.hpp"

#include <cstdio>
#include <cstring>

namespace wgsd::dns {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '=';
}

}  // namespace

std::optional<std::string> name_to_wire(std::string_view text) {
  if (text == ".") return std::string(1, '\0');
  if (text.empty()) return std::nullopt;
  if (text.back() == '.') text.remove_suffix(1);
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    const auto label = text.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return std::nullopt;
    out.push_back(static_cast<char>(label.size()));
    for (char c : label) {
      if (!label_char(c)) return std::nullopt;
      out.push_back(lower(c));
    }
    start = dot + 1;
  }
  out.push_back('\0');
  if (out.size() > max_name) return std::nullopt;
  return out;
}

std::string wire_to_text(std::span<const std::uint8_t> wire) {
  std::string out;
  std::size_t pos = 0;
  while (pos < wire.size() && wire[pos] != 0) {
    const std::size_t len = wire[pos];
    for (std::size_t i = 1; i <= len && pos + i < wire.size(); ++i) {
      const auto c = static_cast<char>(wire[pos + i]);
      if (c == '.' || c == '\\') {
        out.push_back('\\');
        out.push_back(c);
      } else if (c > 0x20 && c < 0x7f) {
        out.push_back(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(wire[pos + i]));
        out += buf;
      }
    }
    out.push_back('.');
    pos += len + 1;
  }
  return out.empty() ? "." : out;
}

std::optional<std::string> normalize_zone(std::string_view text) {
  auto wire = name_to_wire(text);
  if (!wire) return std::nullopt;
  return wire_to_text({reinterpret_cast<const std::uint8_t*>(wire->data()), wire->size()});
}

std::size_t uncompressed_name_length(std::span<const std::uint8_t> data) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::uint8_t len = data[pos];
    if (len == 0) return pos + 1 <= max_name ? pos + 1 : 0;
    if (len > 63) return 0;  // a pointer or an extended label type
    pos += len + 1U;
    if (pos > max_name) return 0;
  }
  return 0;
}

std::size_t expand_name(std::span<const std::uint8_t> data, std::size_t pos, std::span<std::uint8_t, max_name> out) {
  std::size_t n = 0;
  std::size_t limit = pos;  // a pointer must go strictly before the label that holds it
  while (pos < data.size()) {
    const std::uint8_t len = data[pos];
    if ((len & 0xc0) == 0xc0) {
      if (pos + 2 > data.size()) return 0;
      const std::size_t target = static_cast<std::size_t>((len & 0x3f) << 8) | data[pos + 1];
      if (target >= limit) return 0;
      pos = limit = target;
      continue;
    }
    // A label leaves room for the root byte after it.
    if (len > 63 || pos + 1 + len > data.size() || n + 1 + len + (len != 0 ? 1 : 0) > max_name) return 0;
    std::memcpy(out.data() + n, data.data() + pos, 1U + len);
    n += 1U + len;
    if (len == 0) return n;
    pos += 1U + len;
  }
  return 0;
}

std::size_t skip_name(std::span<const std::uint8_t> data, std::size_t pos) {
  const std::size_t start = pos;
  while (pos < data.size()) {
    const std::uint8_t len = data[pos];
    if (len == 0) return pos + 1 - start;
    if ((len & 0xc0) == 0xc0) return pos + 2 <= data.size() ? pos + 2 - start : 0;
    if (len > 63) return 0;
    pos += len + 1U;
  }
  return 0;
}

std::string type_name(std::uint16_t qtype) {
  switch (qtype) {
    case type::a: return "A";
    case type::ns: return "NS";
    case type::soa: return "SOA";
    case type::ptr: return "PTR";
    case type::hinfo: return "HINFO";
    case type::txt: return "TXT";
    case type::aaaa: return "AAAA";
    case type::srv: return "SRV";
    case type::opt: return "OPT";
    case type::tkey: return "TKEY";
    case type::tsig: return "TSIG";
    case type::ixfr: return "IXFR";
    case type::axfr: return "AXFR";
    case type::mailb: return "MAILB";
    case type::maila: return "MAILA";
    case type::any: return "ANY";
    default: return "TYPE" + std::to_string(qtype);
  }
}

std::string class_name(std::uint16_t qclass) {
  switch (qclass) {
    case 1: return "IN";
    case 3: return "CH";
    case 4: return "HS";
    case 254: return "NONE";
    case 255: return "ANY";
    default: return "CLASS" + std::to_string(qclass);
  }
}

std::string rcode_name(std::uint16_t rc) {
  switch (rc) {
    case rcode::noerror: return "NOERROR";
    case rcode::formerr: return "FORMERR";
    case rcode::servfail: return "SERVFAIL";
    case rcode::nxdomain: return "NXDOMAIN";
    case rcode::notimp: return "NOTIMP";
    case rcode::refused: return "REFUSED";
    case rcode::notauth: return "NOTAUTH";
    case rcode::badvers: return "BADVERS";
    default: return "RCODE" + std::to_string(rc);
  }
}

}  // namespace wgsd::dns
