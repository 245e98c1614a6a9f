#include "wg/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace wgsd::wg {
namespace {

std::optional<std::uint32_t> parse_number(std::string_view text, std::uint32_t max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  std::uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

}  // namespace

IpAddress IpAddress::v4(const std::array<std::uint8_t, 4>& bytes) {
  IpAddress a;
  a.family_ = Family::v4;
  std::memcpy(a.bytes_.data(), bytes.data(), 4);
  return a;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress a;
  a.family_ = Family::v6;
  a.bytes_ = bytes;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::array<std::uint8_t, 16> bytes{};
  if (inet_pton(AF_INET, buf, bytes.data()) == 1) {
    return v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  }
  if (inet_pton(AF_INET6, buf, bytes.data()) == 1) return v6(bytes);
  return std::nullopt;
}

bool IpAddress::is_v4_mapped() const noexcept {
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return is_v6() && std::memcmp(bytes_.data(), prefix, sizeof prefix) == 0;
}

IpAddress IpAddress::unmapped() const noexcept {
  if (!is_v4_mapped()) return *this;
  return v4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
}

bool IpAddress::is_unspecified() const noexcept {
  for (std::size_t i = 0; i < size(); ++i) {
    if (bytes_[i] != 0) return false;
  }
  return true;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  // "[v6]:port" or "v4:port". An unbracketed IPv6 address is ambiguous ("::1:53"): brackets are
  // required, as wg(8) requires them.
  const bool bracketed = !text.empty() && text.front() == '[';
  const auto colon = bracketed ? text.find("]:") + 1 : text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const auto host = bracketed ? text.substr(1, colon - 2) : text.substr(0, colon);
  auto address = IpAddress::parse(host);
  auto number = parse_number(text.substr(colon + 1), 65535);
  if (!address || address->is_v6() != bracketed || !number || *number == 0) return std::nullopt;
  return Endpoint{*address, static_cast<std::uint16_t>(*number)};
}

std::optional<Endpoint> Endpoint::from_sockaddr(const sockaddr* sa, std::size_t len) {
  if (sa == nullptr || len < sizeof(sa_family_t)) return std::nullopt;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in sin{};
    std::memcpy(&sin, sa, sizeof sin);
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &sin.sin_addr, 4);
    return Endpoint{IpAddress::v4(bytes), ntohs(sin.sin_port)};
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, sa, sizeof sin6);
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &sin6.sin6_addr, 16);
    return Endpoint{IpAddress::v6(bytes), ntohs(sin6.sin6_port)};
  }
  return std::nullopt;
}

std::size_t Endpoint::to_sockaddr(sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof out);
  if (address.is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&sin.sin_addr, address.data(), 4);
    std::memcpy(&out, &sin, sizeof sin);
    return sizeof sin;
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::memcpy(&sin6.sin6_addr, address.data(), 16);
  std::memcpy(&out, &sin6, sizeof sin6);
  return sizeof sin6;
}

std::string Endpoint::to_string() const {
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "[" + std::string&& at -O3.
  std::string out;
  if (address.is_v6()) out += '[';
  out += address.to_string();
  if (address.is_v6()) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

Prefix::Prefix(const IpAddress& address, std::uint8_t length) {
  const std::size_t bits = address.size() * 8;
  if (length > bits) length = static_cast<std::uint8_t>(bits);
  std::array<std::uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), address.data(), address.size());
  for (std::size_t i = 0; i < address.size(); ++i) {
    const std::size_t first_bit = i * 8;
    if (first_bit >= length) {
      bytes[i] = 0;
    } else if (length - first_bit < 8) {
      bytes[i] &= static_cast<std::uint8_t>(0xff << (8 - (length - first_bit)));
    }
  }
  address_ = address.is_v4() ? IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]}) : IpAddress::v6(bytes);
  length_ = length;
}

std::optional<Prefix> Prefix::parse(std::string_view text, bool allow_bare) {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const auto max = static_cast<std::uint32_t>(address->size() * 8);
  if (slash == std::string_view::npos) {
    if (!allow_bare) return std::nullopt;
    return Prefix(*address, static_cast<std::uint8_t>(max));
  }
  auto length = parse_number(text.substr(slash + 1), max);
  if (!length) return std::nullopt;
  return Prefix(*address, static_cast<std::uint8_t>(*length));
}

std::string Prefix::to_string() const { return address_.to_string() + "/" + std::to_string(length_); }

}  // namespace wgsd::wg
