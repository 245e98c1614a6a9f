// Small DNS wire-format helpers shared by the snapshot builder, the responder and the client.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wgsd::dns {

namespace type {
inline constexpr std::uint16_t a = 1, ns = 2, soa = 6, ptr = 12, hinfo = 13, txt = 16, aaaa = 28, srv = 33, opt = 41,
                               tkey = 249, tsig = 250, ixfr = 251, axfr = 252, mailb = 253, maila = 254, any = 255;
}
namespace rcode {
inline constexpr std::uint8_t noerror = 0, formerr = 1, servfail = 2, nxdomain = 3, notimp = 4, refused = 5, notauth = 9;
inline constexpr std::uint16_t badvers = 16;
inline constexpr std::uint16_t badkey = 17;  ///< a TSIG error (RFC 8945 §5.2), never a header rcode
}
inline constexpr std::uint16_t class_any = 255;
inline constexpr std::uint16_t class_in = 1;
inline constexpr std::size_t header_size = 12;
inline constexpr std::size_t max_name = 255;

inline void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
inline void put_u32(std::string& out, std::uint32_t v) {
  put_u16(out, static_cast<std::uint16_t>(v >> 16));
  put_u16(out, static_cast<std::uint16_t>(v & 0xffff));
}
inline std::uint16_t get_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
inline std::uint32_t get_u32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(get_u16(p)) << 16) | get_u16(p + 2);
}

/// Text name ("Example.COM", "example.com.", ".") to uncompressed lower-case wire form. nullopt if a
/// label is empty or over 63 bytes, the name is over 255 bytes, or it has characters other than
/// letters, digits, '-', '_' and '=' (the base32 padding of peer names).
std::optional<std::string> name_to_wire(std::string_view text);
/// Wire name (uncompressed, complete) to text with a trailing dot; non-printable bytes as \DDD.
std::string wire_to_text(std::span<const std::uint8_t> wire);
/// Lower-case text form of a zone: "Example.COM" -> "example.com."; nullopt if not a valid name.
std::optional<std::string> normalize_zone(std::string_view text);

/// Length of an uncompressed name at the start of `data` (labels and the root byte), or 0 if it is
/// malformed, compressed, or runs past the end.
std::size_t uncompressed_name_length(std::span<const std::uint8_t> data);
/// Copies the possibly compressed name at `data[pos]` into `out` uncompressed, labels as they are
/// (case kept); returns its length, or 0 if it is malformed, loops, or passes 255 bytes. Pointers
/// must point backwards, so every name ends.
std::size_t expand_name(std::span<const std::uint8_t> data, std::size_t pos, std::span<std::uint8_t, max_name> out);
/// Bytes taken by a possibly compressed name at `data[pos]` (a pointer ends it), or 0 if malformed.
std::size_t skip_name(std::span<const std::uint8_t> data, std::size_t pos);

/// Type mnemonic ("SRV") or "TYPE123".
std::string type_name(std::uint16_t qtype);
/// Class mnemonic ("IN") or "CLASS3".
std::string class_name(std::uint16_t qclass);
/// Rcode mnemonic ("NXDOMAIN") or "RCODE21".
std::string rcode_name(std::uint16_t rcode);

}  // namespace wgsd::dns
