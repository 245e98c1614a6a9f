// WireGuard keys and their text forms: base64 (wg(8)) and base32 (DNS-SD labels, RFC 4648 §6).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wgsd::wg {

inline constexpr std::size_t key_size = 32;

/// A public key: exactly 32 bytes. Value-initialised keys are all zero ("no key").
class Key {
public:
  Key() = default;
  explicit Key(const std::array<std::uint8_t, key_size>& bytes) : bytes_(bytes) {}

  /// Parses standard base64 (with padding) that decodes to exactly 32 bytes; nullopt otherwise.
  static std::optional<Key> from_base64(std::string_view text);
  /// Parses 64 hex digits (the UAPI form); nullopt otherwise.
  static std::optional<Key> from_hex(std::string_view text);

  [[nodiscard]] std::string to_base64() const;
  /// RFC 4648 §6 base32, standard alphabet, '=' padded: 56 characters. Lower case when `lower`.
  [[nodiscard]] std::string to_base32(bool lower = true) const;
  [[nodiscard]] const std::array<std::uint8_t, key_size>& bytes() const noexcept { return bytes_; }
  [[nodiscard]] bool is_zero() const noexcept;

  friend bool operator==(const Key&, const Key&) = default;
  friend auto operator<=>(const Key&, const Key&) = default;

private:
  std::array<std::uint8_t, key_size> bytes_{};
};

/// For hash containers of public keys: their first 8 bytes (keys are uniformly random).
struct KeyHash {
  std::size_t operator()(const Key& k) const noexcept {
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < 8; ++i) h = h << 8 | k.bytes()[i];
    return static_cast<std::size_t>(h);
  }
};

/// A private key. Wiped on destruction, never copied, never printed.
class SecretKey {
public:
  SecretKey() = default;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();

  /// Parses 64 hex digits; false (and the key stays zero) otherwise.
  bool assign_hex(std::string_view text);
  /// Curve25519 public key of this private key (crypto_scalarmult_base).
  [[nodiscard]] Key public_key() const;
  [[nodiscard]] bool is_zero() const noexcept;

private:
  std::array<std::uint8_t, key_size> bytes_{};
};

/// RFC 4648 §6 base32 of any byte string, standard alphabet A-Z2-7, '=' padded.
std::string base32_encode(std::span<const std::uint8_t> data, bool lower = false);
/// Inverse of base32_encode; case-insensitive; nullopt on any bad character or padding.
std::optional<std::string> base32_decode(std::string_view text);

/// Lower-case hex of any byte string.
std::string hex_encode(std::span<const std::uint8_t> data);

}  // namespace wgsd::wg
