#include "dns/transfer.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "dns/zone.hpp"

namespace wgsd::dns {
namespace {

// Whether `name` is `zone` or below it, label by label (both lower-case wire).
bool inside(std::string_view name, std::string_view zone) {
  for (std::size_t at = 0; at < name.size(); at += 1U + static_cast<std::uint8_t>(name[at])) {
    if (name.substr(at) == zone) return true;
    if (name[at] == 0) break;
  }
  return false;
}

bool same_address(const wg::IpAddress& a, const sockaddr* source) {
  if (source == nullptr) return false;
  const wg::IpAddress want = a.unmapped();
  if (source->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, source, sizeof in);
    return want.is_v4() && std::memcmp(want.data(), &in.sin_addr, 4) == 0;
  }
  if (source->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, source, sizeof in6);
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), &in6.sin6_addr, 16);
    return wg::IpAddress::v6(b).unmapped() == want;
  }
  return false;
}

}  // namespace

const TransferRule* TransferPolicy::rule_for(std::string_view apex_wire) const noexcept {
  for (const TransferRule& r : rules) {
    for (const std::string& z : r.zones) {
      if (inside(apex_wire, z)) return &r;
    }
  }
  return nullptr;
}

bool TransferPolicy::allows(std::string_view apex_wire, const sockaddr* source) const noexcept {
  const TransferRule* r = rule_for(apex_wire);
  if (r == nullptr) return false;
  if (r->anyone) return true;
  for (const wg::Endpoint& e : r->to) {
    if (same_address(e.address, source)) return true;
  }
  return false;
}

const Zone* transfer_zone(const ZoneSet& zones, std::string_view qname, const sockaddr* source) noexcept {
  if (!zones.transfer) return nullptr;
  for (const auto& z : zones.zones) {
    if (z->apex_wire == qname) return zones.transfer->allows(qname, source) ? z.get() : nullptr;
  }
  return nullptr;
}

}  // namespace wgsd::dns
