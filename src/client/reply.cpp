#include "client/reply.hpp"

#include <ldns/ldns.h>

#include <algorithm>
#include <charconv>
#include <cstring>
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

std::optional<std::int64_t> handshake_of(const ldns_rr* txt) {
  for (std::size_t i = 0; i < ldns_rr_rd_count(txt); ++i) {
    const ldns_rdf* rdf = ldns_rr_rdf(txt, i);
    if (ldns_rdf_size(rdf) < 1) continue;
    const std::string s(reinterpret_cast<const char*>(ldns_rdf_data(rdf)) + 1, ldns_rdf_size(rdf) - 1);
    if (s.rfind("handshake=", 0) != 0) continue;
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(s.data() + 10, s.data() + s.size(), value);
    if (ec == std::errc() && ptr == s.data() + s.size() && value >= 0) return value;
  }
  return std::nullopt;
}

}  // namespace

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
  if (out.port == 0) {
    out.error = "SRV port is 0";
    return out;
  }
  const ldns_rr_list* extra = ldns_pkt_additional(pkt.get());
  for (std::size_t i = 0; extra != nullptr && i < ldns_rr_list_rr_count(extra); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(extra, i);
    if (!same_name(ldns_rr_owner(rr), target) || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) continue;  // glue for another name
    if (!out.address) out.address = address_of(rr);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT && !out.handshake) out.handshake = handshake_of(rr);
  }
  if (out.address && out.address->unmapped().is_unspecified()) {
    out.error = "registry gave the unspecified address " + out.address->to_string();
    return out;
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
    auto a = address_of(rr);
    if (a && !a->unmapped().is_unspecified()) return a;
  }
  return std::nullopt;
}

}  // namespace wgsd::client
