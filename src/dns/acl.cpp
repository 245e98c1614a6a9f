#include "dns/acl.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

constexpr std::uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

template <typename T>
std::uint32_t index_of(const std::vector<T>& v) {
  return static_cast<std::uint32_t>(v.size());
}

// Whether `zone` (lower-case wire form) is `name` or one of its label-wise suffixes.
bool suffix_of(std::string_view name, std::string_view zone) {
  for (std::size_t pos = 0; pos < name.size();) {
    if (name.size() - pos == zone.size() && name.substr(pos) == zone) return true;
    if (name[pos] == 0) break;
    pos += static_cast<std::uint8_t>(name[pos]) + 1U;
  }
  return false;
}

}  // namespace

bool AclNet::contains(bool v6_source, const std::uint8_t* address) const noexcept {
  if (v6_source != v6) return false;
  const std::size_t whole = length / 8;
  if (std::memcmp(address, bytes.data(), whole) != 0) return false;
  const unsigned rest = length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address[whole] & mask) == bytes[whole];
}

std::optional<AclNet> parse_acl_net(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = wg::IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned max = address->is_v4() ? 32 : 128;
  unsigned length = max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || length > max) return std::nullopt;
  }
  AclNet net;
  net.v6 = address->is_v6();
  net.length = static_cast<std::uint8_t>(length);
  std::memcpy(net.bytes.data(), address->data(), address->size());
  // Masked once here, so that a match compares whole bytes and one partial byte.
  for (std::size_t i = 0; i < net.bytes.size(); ++i) {
    const unsigned bits = i * 8 >= length ? 0 : std::min(8U, length - static_cast<unsigned>(i * 8));
    net.bytes[i] &= static_cast<std::uint8_t>(bits == 0 ? 0 : 0xff << (8 - bits));
  }
  return net;
}

Acl::Acl(const std::vector<Block>& blocks) {
  auto add_zones = [this](const std::vector<std::string>& zones) {
    Range r{index_of(zones_), 0};
    for (const auto& z : zones) {
      auto wire = name_to_wire(z);
      if (!wire) throw std::invalid_argument("acl: not a valid zone name: " + z);
      zones_.push_back(std::move(*wire));
    }
    r.end = index_of(zones_);
    return r;
  };
  for (const auto& b : blocks) {
    CompiledBlock cb;
    cb.keys = add_zones(b.keys);
    cb.served = add_zones(b.served);
    cb.rules.begin = index_of(rules_);
    for (const auto& rule : b.rules) {
      Rule r;
      r.zones = add_zones(rule.zones);
      r.statements.begin = index_of(statements_);
      for (const auto& s : rule.statements) {
        Statement st{s.action, {index_of(types_), 0}, {index_of(nets_), 0}};
        types_.insert(types_.end(), s.types.begin(), s.types.end());
        nets_.insert(nets_.end(), s.nets.begin(), s.nets.end());
        st.types.end = index_of(types_);
        st.nets.end = index_of(nets_);
        statements_.push_back(st);
      }
      r.statements.end = index_of(statements_);
      rules_.push_back(r);
    }
    cb.rules.end = index_of(rules_);
    blocks_.push_back(cb);
  }
}

std::size_t Acl::longest(Range r, std::string_view qname) const noexcept {
  std::size_t best = 0;
  for (std::uint32_t i = r.begin; i < r.end; ++i) {
    if (zones_[i].size() + 1 > best && suffix_of(qname, zones_[i])) best = zones_[i].size() + 1;
  }
  return best;
}

AclAction Acl::decide(bool known, bool v6, const std::uint8_t* address, std::uint16_t qtype, std::string_view qname) const noexcept {
  // The block the query goes to, as CoreDNS picks a server block: the longest key.
  const CompiledBlock* block = nullptr;
  std::size_t best_key = 0, best_served = 0;
  for (const auto& b : blocks_) {
    const std::size_t key = longest(b.keys, qname);
    if (key == 0 || key < best_key) continue;
    const std::size_t served = longest(b.served, qname);
    if (key == best_key && served <= best_served) continue;
    block = &b;
    best_key = key;
    best_served = served;
  }
  if (block == nullptr) return AclAction::allow;
  for (std::uint32_t r = block->rules.begin; r < block->rules.end; ++r) {
    const Rule& rule = rules_[r];
    if (longest(rule.zones, qname) == 0) continue;
    if (const Statement* st = first_match(rule, false, qtype, known, v6, address)) return st->action;  // allow ends it too, as in CoreDNS
  }
  return AclAction::allow;
}

const Acl::Statement* Acl::first_match(const Rule& rule, bool any_type, std::uint16_t qtype, bool known, bool v6,
                                       const std::uint8_t* address) const noexcept {
  for (std::uint32_t s = rule.statements.begin; s < rule.statements.end; ++s) {
    const Statement& st = statements_[s];
    bool type_ok = st.types.begin == st.types.end;
    for (std::uint32_t t = st.types.begin; t < st.types.end && !type_ok && !any_type; ++t) type_ok = types_[t] == qtype;
    if (!type_ok) continue;
    bool net_ok = st.nets.begin == st.nets.end;
    for (std::uint32_t n = st.nets.begin; n < st.nets.end && !net_ok && known; ++n) net_ok = nets_[n].contains(v6, address);
    if (net_ok) return &st;
  }
  return nullptr;
}

AclAction Acl::decide_source(bool known, bool v6, const std::uint8_t* address) const noexcept {
  // No name, so no block or zone to go by: every rule is asked, by its statements without a type.
  for (const Rule& rule : rules_) {
    const Statement* st = first_match(rule, true, 0, known, v6, address);
    if (st != nullptr && st->action == AclAction::drop) return AclAction::drop;
  }
  return AclAction::allow;
}

AclAction Acl::decide_source(const sockaddr* source) const noexcept {
  if (source != nullptr && source->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(source);
    return decide_source(true, false, reinterpret_cast<const std::uint8_t*>(&in->sin_addr));
  }
  if (source != nullptr && source->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(source);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr);
    if (std::memcmp(b, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) return decide_source(true, false, b + 12);
    return decide_source(true, true, b);
  }
  return decide_source(false, false, nullptr);
}

AclAction Acl::decide(const wg::IpAddress& source, std::uint16_t qtype, std::string_view qname) const noexcept {
  const wg::IpAddress a = source.unmapped();
  return decide(true, a.is_v6(), a.data(), qtype, qname);
}

AclAction Acl::decide(const sockaddr* source, std::uint16_t qtype, std::string_view qname) const noexcept {
  if (source != nullptr && source->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(source);
    return decide(true, false, reinterpret_cast<const std::uint8_t*>(&in->sin_addr), qtype, qname);
  }
  if (source != nullptr && source->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(source);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr);
    if (std::memcmp(b, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) return decide(true, false, b + 12, qtype, qname);
    return decide(true, true, b, qtype, qname);
  }
  return decide(false, false, nullptr, qtype, qname);
}

}  // namespace wgsd::dns
