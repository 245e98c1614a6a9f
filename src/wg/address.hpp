// IP addresses, endpoints (ip:port) and CIDR prefixes, with their canonical text forms.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

namespace wgsd::wg {

/// An IPv4 or IPv6 address. IPv4 is stored in the first 4 bytes. Value-initialised: 0.0.0.0.
class IpAddress {
public:
  enum class Family : std::uint8_t { v4, v6 };

  IpAddress() = default;
  static IpAddress v4(const std::array<std::uint8_t, 4>& bytes);
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);
  /// Parses dotted-quad IPv4 or any inet_pton IPv6 form (no brackets, no zone); nullopt otherwise.
  static std::optional<IpAddress> parse(std::string_view text);

  [[nodiscard]] Family family() const noexcept { return family_; }
  [[nodiscard]] bool is_v4() const noexcept { return family_ == Family::v4; }
  [[nodiscard]] bool is_v6() const noexcept { return family_ == Family::v6; }
  /// ::ffff:a.b.c.d. Such an address is published as IPv4, an A record (docs/records.md).
  [[nodiscard]] bool is_v4_mapped() const noexcept;
  /// The IPv4 form of a v4-mapped address; the address itself otherwise.
  [[nodiscard]] IpAddress unmapped() const noexcept;
  [[nodiscard]] bool is_unspecified() const noexcept;
  /// 4 or 16 bytes, network order.
  [[nodiscard]] const std::uint8_t* data() const noexcept { return bytes_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return is_v4() ? 4 : 16; }
  /// inet_ntop form: "192.0.2.1", "2001:db8::1" (compressed).
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

private:
  Family family_{Family::v4};
  std::array<std::uint8_t, 16> bytes_{};
};

/// A UDP endpoint: address and port.
struct Endpoint {
  IpAddress address;
  std::uint16_t port{};

  /// "192.0.2.1:51820" or "[2001:db8::1]:51820"; the port must be 1-65535. nullopt otherwise.
  static std::optional<Endpoint> parse(std::string_view text);
  /// From a sockaddr_in/sockaddr_in6; nullopt for other families or a short length.
  static std::optional<Endpoint> from_sockaddr(const sockaddr* sa, std::size_t len);
  /// Fills `out`; returns the length used.
  std::size_t to_sockaddr(sockaddr_storage& out) const;
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

/// A CIDR prefix. Always canonical: host bits are zero.
class Prefix {
public:
  Prefix() = default;
  /// Masks host bits. `length` must be <= 32 (v4) or 128 (v6); it is clamped otherwise.
  Prefix(const IpAddress& address, std::uint8_t length);
  /// "10.0.0.1/24" (host bits masked), or a bare address as /32 or /128 when `allow_bare`. nullopt otherwise.
  static std::optional<Prefix> parse(std::string_view text, bool allow_bare = false);

  [[nodiscard]] const IpAddress& address() const noexcept { return address_; }
  [[nodiscard]] std::uint8_t length() const noexcept { return length_; }
  /// "10.0.0.0/24", "fd00::/64".
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const Prefix&, const Prefix&) = default;
  friend auto operator<=>(const Prefix&, const Prefix&) = default;

private:
  IpAddress address_;
  std::uint8_t length_{};
};

}  // namespace wgsd::wg
