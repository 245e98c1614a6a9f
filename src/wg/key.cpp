#include "wg/key.hpp"

#include <sodium.h>

#include <cstring>

namespace wgsd::wg {
namespace {

constexpr char base32_upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr char base32_lower[] = "abcdefghijklmnopqrstuvwxyz234567";

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

bool decode_hex32(std::string_view text, std::array<std::uint8_t, key_size>& out) {
  if (text.size() != key_size * 2) return false;
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end) != 0) return false;
  return len == key_size && end == text.data() + text.size();
}

}  // namespace

std::optional<Key> Key::from_base64(std::string_view text) {
  // 32 bytes are always 44 characters with one '=': reject anything else before decoding.
  if (text.size() != 44 || text[43] != '=') return std::nullopt;
  std::array<std::uint8_t, key_size> bytes{};
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(bytes.data(), bytes.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != key_size || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return Key(bytes);
}

std::optional<Key> Key::from_hex(std::string_view text) {
  // A public key is no secret: a table lookup (no branch per digit to mispredict) beats the
  // constant-time decoder several times over, which matters when a refresh reads 100,000 of
  // them. decode_hex32 stays for private keys.
  static constexpr auto table = [] {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<std::int8_t>(i);
    for (int i = 0; i < 6; ++i) t['a' + i] = t['A' + i] = static_cast<std::int8_t>(10 + i);
    return t;
  }();
  if (text.size() != key_size * 2) return std::nullopt;
  std::array<std::uint8_t, key_size> bytes{};
  int bad = 0;
  for (std::size_t i = 0; i < key_size; ++i) {
    const int hi = table[static_cast<unsigned char>(text[2 * i])];
    const int lo = table[static_cast<unsigned char>(text[2 * i + 1])];
    bad |= hi | lo;  // negative if either was not a hex digit
    bytes[i] = static_cast<std::uint8_t>((hi & 0xf) << 4 | (lo & 0xf));
  }
  if (bad < 0) return std::nullopt;
  return Key(bytes);
}

std::string Key::to_base64() const {
  char buf[sodium_base64_ENCODED_LEN(key_size, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(buf, sizeof buf, bytes_.data(), bytes_.size(), sodium_base64_VARIANT_ORIGINAL);
  return buf;
}

std::string Key::to_base32(bool lower) const { return base32_encode(bytes_, lower); }

bool Key::is_zero() const noexcept {
  return sodium_is_zero(bytes_.data(), bytes_.size()) == 1;
}

SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

bool SecretKey::assign_hex(std::string_view text) {
  if (decode_hex32(text, bytes_)) return true;
  sodium_memzero(bytes_.data(), bytes_.size());
  return false;
}

Key SecretKey::public_key() const {
  std::array<std::uint8_t, key_size> pub{};
  crypto_scalarmult_base(pub.data(), bytes_.data());
  return Key(pub);
}

bool SecretKey::is_zero() const noexcept { return sodium_is_zero(bytes_.data(), bytes_.size()) == 1; }

std::string base32_encode(std::span<const std::uint8_t> data, bool lower) {
  const char* alphabet = lower ? base32_lower : base32_upper;
  std::string out;
  out.reserve((data.size() + 4) / 5 * 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out.push_back(alphabet[(buffer >> (bits - 5)) & 0x1f]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(alphabet[(buffer << (5 - bits)) & 0x1f]);
  while (out.size() % 8 != 0) out.push_back('=');
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  if (text.size() % 8 != 0) return std::nullopt;
  std::size_t data_len = text.size();
  while (data_len > 0 && text[data_len - 1] == '=') --data_len;
  // Only these amounts of padding are possible in a block of 8 (RFC 4648 §6).
  const std::size_t pad = text.size() - data_len;
  if (pad != 0 && pad != 1 && pad != 3 && pad != 4 && pad != 6) return std::nullopt;
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < data_len; ++i) {
    const int v = base32_value(text[i]);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  // Leftover bits must be zero, or the text is not the canonical encoding of any bytes.
  if ((buffer & ((1U << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string hex_encode(std::span<const std::uint8_t> data) {
  std::string out(data.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data.data(), data.size());
  out.pop_back();
  return out;
}

}  // namespace wgsd::wg
