#include "dns/query.hpp"

#include <algorithm>
#include <array>

#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

// TSIG RDATA: Algorithm Name, Time Signed (6), Fudge (2), MAC Size (2), MAC, Original ID (2),
// Error (2), Other Len (2), Other Data. True when those add up to exactly `rdlen`.
bool tsig_rdata_ok(std::span<const std::uint8_t> q, std::size_t rdata, std::size_t rdlen) {
  const std::size_t end = rdata + rdlen;
  std::array<std::uint8_t, max_name> scratch{};
  if (expand_name(q, rdata, scratch) == 0) return false;
  std::size_t pos = rdata + skip_name(q, rdata);
  if (pos + 10 > end) return false;
  pos += 8;
  pos += 2 + get_u16(&q[pos]);  // MAC
  if (pos + 6 > end) return false;
  pos += 4;
  pos += 2 + get_u16(&q[pos]);  // Other Data
  return pos == end;
}

// OPT RDATA (RFC 6891 §6.1.2): options of code (2), length (2) and data, which fill it exactly.
bool opt_rdata_ok(std::span<const std::uint8_t> q, std::size_t rdata, std::size_t rdlen) {
  const std::size_t end = rdata + rdlen;
  std::size_t pos = rdata;
  while (pos < end) {
    if (end - pos < 4) return false;
    pos += 4 + get_u16(&q[pos + 2]);
  }
  return pos == end;
}

}  // namespace

Query parse_query(std::span<const std::uint8_t> q) {
  Query out;
  out.id = get_u16(&q[0]);
  out.opcode = static_cast<std::uint8_t>((q[2] >> 3) & 0x0f);
  out.rd = (q[2] & 0x01) != 0;
  out.cd = (q[3] & 0x10) != 0;
  out.qdcount = get_u16(&q[4]);
  out.ancount = get_u16(&q[6]);
  out.nscount = get_u16(&q[8]);
  out.arcount = get_u16(&q[10]);
  // RFC 1035 §4.1.1 allows answer and authority records in any message; a QUERY carries one question
  // and no answers. The authority section is read and skipped: an IXFR puts the requester's SOA there.
  if (out.opcode == 0 && (out.qdcount != 1 || out.ancount != 0)) out.formerr = true;

  std::size_t pos = header_size;
  for (std::uint16_t i = 0; i < out.qdcount; ++i) {
    // The first question name has nothing before it to point to: compression there is malformed.
    const std::size_t len = i == 0 ? uncompressed_name_length(q.subspan(pos)) : skip_name(q, pos);
    if (len == 0 || pos + len + 4 > q.size()) {
      out.formerr = true;
      return out;
    }
    if (i == 0 && out.qdcount == 1) {
      out.has_question = true;
      out.qname_length = len;
      out.qtype = get_u16(&q[pos + len]);
      out.qclass = get_u16(&q[pos + len + 2]);
    }
    pos += len + 4;
  }

  // A record that breaks a rule marks the message malformed and the walk goes on, so that an OPT
  // after it is still found; a record that runs past the end stops it.
  const std::size_t records = std::size_t{out.ancount} + out.nscount + out.arcount;
  const std::size_t first_additional = std::size_t{out.ancount} + out.nscount;
  std::size_t read = 0;
  for (; read < records; ++read) {
    const std::size_t owner = pos;
    const std::size_t name_len = skip_name(q, pos);
    if (name_len == 0 || pos + name_len + 10 > q.size()) break;
    const std::size_t fixed = pos + name_len;
    const std::uint16_t rrtype = get_u16(&q[fixed]);
    const std::size_t rdata = fixed + 10;
    const std::uint16_t rdlen = get_u16(&q[fixed + 8]);
    if (rdata + rdlen > q.size()) break;
    const bool additional = read >= first_additional;
    if (rrtype == type::opt) {
      // RFC 6891 §6.1.1: one OPT, owned by the root, in the additional section, its options filling
      // its RDATA. When the OPT itself is wrong the FORMERR still carries one (§7): the first OPT
      // found is the requester's, wherever it is.
      if (out.edns || !additional || name_len != 1 || q[owner] != 0 || !opt_rdata_ok(q, rdata, rdlen)) out.formerr = true;
      if (!out.edns) {
        out.edns = true;
        out.udp_size = std::max<std::uint16_t>(512, get_u16(&q[fixed + 2]));
        out.edns_version = q[fixed + 5];
        out.dnssec_ok = (q[fixed + 6] & 0x80) != 0;
      }
    } else if (rrtype == type::tsig) {
      // RFC 8945 §5.1: the TSIG is the last record of the additional section, and there is one;
      // §4.2: of CLASS ANY and TTL 0.
      std::array<std::uint8_t, max_name> scratch{};
      const bool fixed_ok = get_u16(&q[fixed + 2]) == class_any && get_u16(&q[fixed + 4]) == 0 && get_u16(&q[fixed + 6]) == 0;
      if (!additional || read + 1 != records || !fixed_ok || expand_name(q, owner, scratch) == 0 || !tsig_rdata_ok(q, rdata, rdlen)) {
        out.formerr = true;
      } else {
        out.tsig = true;
        out.tsig_owner = owner;
        out.tsig_algorithm = rdata;
        out.tsig_time = rdata + skip_name(q, rdata);
      }
    }
    pos = rdata + rdlen;
  }
  if (read < records) out.formerr = true;
  if (out.formerr) out.tsig = false;
  return out;
}

}  // namespace wgsd::dns
