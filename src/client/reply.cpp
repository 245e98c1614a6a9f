#include "client/reply.hpp"

#include <ldns/ldns.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <map>
#include <string_view>
#include <memory>
#include <stdexcept>

#include "dns/wire.hpp"

namespace wgsd::client {
namespace {

struct PktDeleter {
  void operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktDeleter>;
struct RdfDeleter {
  void operator()(ldns_rdf* r) const noexcept { ldns_rdf_deep_free(r); }
};
using RdfPtr = std::unique_ptr<ldns_rdf, RdfDeleter>;

PktPtr parse(std::span<const std::uint8_t> reply) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, reply.data(), reply.size()) != LDNS_STATUS_OK || pkt == nullptr) return nullptr;
  return PktPtr(pkt);
}

// Case-insensitive, label-wise name equality (ldns_dname_compare).
bool same_name(const ldns_rdf* a, const ldns_rdf* b) { return a != nullptr && b != nullptr && ldns_dname_compare(a, b) == 0; }

RdfPtr name_rdf(const std::string& text) { return RdfPtr(ldns_dname_new_frm_str(text.c_str())); }

std::string lower_text(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s != nullptr ? s : "";
  std::free(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<wg::IpAddress> address_of(const ldns_rr* rr) {
  if (ldns_rr_rd_count(rr) != 1) return std::nullopt;
  const ldns_rdf* rdf = ldns_rr_rdf(rr, 0);
  if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && ldns_rdf_size(rdf) == 4) {
    std::array<std::uint8_t, 4> b{};
    std::memcpy(b.data(), ldns_rdf_data(rdf), 4);
    return wg::IpAddress::v4(b);
  }
  if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA && ldns_rdf_size(rdf) == 16) {
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), ldns_rdf_data(rdf), 16);
    return wg::IpAddress::v6(b);
  }
  return std::nullopt;
}

std::vector<std::string> strings_of(const ldns_rr* txt) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ldns_rr_rd_count(txt); ++i) {
    const ldns_rdf* rdf = ldns_rr_rdf(txt, i);
    if (ldns_rdf_size(rdf) < 1) continue;
    out.emplace_back(reinterpret_cast<const char*>(ldns_rdf_data(rdf)) + 1, ldns_rdf_size(rdf) - 1);
  }
  return out;
}

std::optional<std::int64_t> handshake_of(const std::vector<std::string>& strings) {
  for (const auto& s : strings) {
    constexpr std::string_view key = "handshake=";
    if (s.size() < key.size() || !std::equal(key.begin(), key.end(), s.begin(), [](char k, char c) {
          return k == std::tolower(static_cast<unsigned char>(c));
        })) {
      continue;  // keys are read without regard to case, as allowed= is
    }
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(s.data() + 10, s.data() + s.size(), value);
    if (ec == std::errc() && ptr == s.data() + s.size() && value >= 0) return value;
  }
  return std::nullopt;
}

// "allowed=" is number 1, "allowed7=" number 7; 0 for any other string.
unsigned allowed_number(const std::string& s, std::size_t& value_at) {
  constexpr std::string_view key = "allowed";
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq < key.size()) return 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != key[i]) return 0;
  }
  value_at = eq + 1;
  if (eq == key.size()) return 1;
  if (s[key.size()] == '0') return 0;  // "allowed02" is not "allowed2"
  unsigned n = 0;
  auto [ptr, ec] = std::from_chars(s.data() + key.size(), s.data() + eq, n);
  return ec == std::errc() && ptr == s.data() + eq && n >= 2 ? n : 0;
}

}  // namespace

std::vector<wg::Prefix> allowed_of_txt(const std::vector<std::string>& strings) {
  std::vector<std::string> parts;            // allowed= (repeated by older servers), in order
  std::map<unsigned, std::string> numbered;  // allowed2=, allowed3=, ...
  for (const auto& s : strings) {
    std::size_t at = 0;
    const unsigned n = allowed_number(s, at);
    if (n == 1) parts.push_back(s.substr(at));
    if (n >= 2) numbered.emplace(n, s.substr(at));  // a repeated numbered key: the first counts
  }
  for (unsigned n = 2; numbered.count(n) != 0; ++n) parts.push_back(numbered[n]);  // in order, up to a gap
  std::vector<wg::Prefix> out;
  for (const auto& part : parts) {
    for (std::size_t pos = 0; pos <= part.size();) {
      const auto comma = std::min(part.find(',', pos), part.size());
      if (auto p = wg::Prefix::parse(std::string_view(part).substr(pos, comma - pos))) out.push_back(*p);
      pos = comma + 1;
    }
  }
  return out;
}

SrvReply read_srv_reply(std::span<const std::uint8_t> reply, const std::string& qname) {
  SrvReply out;
  auto pkt = parse(reply);
  if (!pkt) {
    out.error = "unparsable reply";
    return out;
  }
  const auto rcode = ldns_pkt_get_rcode(pkt.get());
  if (rcode == LDNS_RCODE_NXDOMAIN) {
    out.kind = SrvReply::Kind::not_found;
    return out;
  }
  if (rcode != LDNS_RCODE_NOERROR) {
    out.error = "registry answered " + dns::rcode_name(rcode);
    return out;
  }
  auto wanted = name_rdf(qname);
  const ldns_rr* srv = nullptr;
  const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
  for (std::size_t i = 0; answer != nullptr && i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SRV && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN && ldns_rr_rd_count(rr) == 4 &&
        same_name(ldns_rr_owner(rr), wanted.get())) {
      srv = rr;
      break;
    }
  }
  if (srv == nullptr) {
    out.kind = SrvReply::Kind::not_found;  // NODATA
    return out;
  }
  out.port = ldns_rdf2native_int16(ldns_rr_rdf(srv, 2));
  const ldns_rdf* target = ldns_rr_rdf(srv, 3);
  out.target = lower_text(target);
  if (out.target == ".") {  // RFC 2782: the service is decidedly not available at this name
    out.kind = SrvReply::Kind::not_found;
    return out;
  }
  if (out.port == 0) {
    out.error = "SRV port is 0";
    return out;
  }
  bool seen_txt = false;
  const ldns_rr_list* extra = ldns_pkt_additional(pkt.get());
  for (std::size_t i = 0; extra != nullptr && i < ldns_rr_list_rr_count(extra); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(extra, i);
    if (!same_name(ldns_rr_owner(rr), target) || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) continue;  // glue for another name
    if (!out.address) out.address = address_of(rr);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT && !seen_txt) {
      seen_txt = true;
      const auto strings = strings_of(rr);
      out.handshake = handshake_of(strings);
      out.allowed = allowed_of_txt(strings);
    }
  }
  out.kind = SrvReply::Kind::found;
  return out;
}

std::optional<wg::IpAddress> read_address_reply(std::span<const std::uint8_t> reply, const std::string& target, std::uint16_t qtype) {
  auto pkt = parse(reply);
  if (!pkt) throw std::runtime_error("unparsable reply");
  const auto rcode = ldns_pkt_get_rcode(pkt.get());
  if (rcode == LDNS_RCODE_NXDOMAIN) return std::nullopt;
  if (rcode != LDNS_RCODE_NOERROR) throw std::runtime_error("registry answered " + dns::rcode_name(rcode));
  auto wanted = name_rdf(target);
  const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
  for (std::size_t i = 0; answer != nullptr && i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) != qtype || !same_name(ldns_rr_owner(rr), wanted.get())) continue;
    if (auto a = address_of(rr)) return a;
  }
  return std::nullopt;
}

TxtReply read_txt_reply(std::span<const std::uint8_t> reply, const std::string& qname) {
  auto pkt = parse(reply);
  if (!pkt) throw std::runtime_error("unparsable reply");
  const auto rcode = ldns_pkt_get_rcode(pkt.get());
  TxtReply out;
  if (rcode == LDNS_RCODE_NXDOMAIN) return out;
  if (rcode != LDNS_RCODE_NOERROR) throw std::runtime_error("registry answered " + dns::rcode_name(rcode));
  auto wanted = name_rdf(qname);
  const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
  for (std::size_t i = 0; answer != nullptr && i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || !same_name(ldns_rr_owner(rr), wanted.get())) {
      continue;
    }
    const auto strings = strings_of(rr);
    out.found = true;
    out.allowed = allowed_of_txt(strings);
    out.handshake = handshake_of(strings);
    break;
  }
  return out;
}

PtrReply read_ptr_reply(std::span<const std::uint8_t> reply, const std::string& service) {
  auto pkt = parse(reply);
  if (!pkt) throw std::runtime_error("unparsable reply");
  const auto rcode = ldns_pkt_get_rcode(pkt.get());
  PtrReply out;
  out.truncated = ldns_pkt_tc(pkt.get());
  if (rcode == LDNS_RCODE_NXDOMAIN) return out;
  if (rcode != LDNS_RCODE_NOERROR) throw std::runtime_error("registry answered " + dns::rcode_name(rcode));
  auto wanted = name_rdf(service);
  if (!wanted) throw std::runtime_error("invalid service name '" + service + "'");
  const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
  for (std::size_t i = 0; answer != nullptr && i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_PTR || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || ldns_rr_rd_count(rr) != 1 ||
        !same_name(ldns_rr_owner(rr), wanted.get())) {
      continue;
    }
    const ldns_rdf* target = ldns_rr_rdf(rr, 0);
    // The target must be one label under the service name, and that label a key in base32.
    RdfPtr parent(ldns_dname_left_chop(target));
    std::optional<wg::Key> key;
    const std::uint8_t* wire = ldns_rdf_data(target);
    if (parent && same_name(parent.get(), wanted.get()) && ldns_rdf_size(target) > 1u + wire[0]) {
      const std::string text(reinterpret_cast<const char*>(wire) + 1, wire[0]);
      const auto bytes = wg::base32_decode(text);
      if (bytes && bytes->size() == wg::key_size) {
        std::array<std::uint8_t, wg::key_size> b{};
        std::memcpy(b.data(), bytes->data(), b.size());
        key = wg::Key(b);
      }
    }
    if (!key) {
      ++out.ignored;
      continue;
    }
    if (std::find(out.keys.begin(), out.keys.end(), *key) == out.keys.end()) out.keys.push_back(*key);
  }
  return out;
}

}  // namespace wgsd::client
