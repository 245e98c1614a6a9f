#include "dns/responder.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <optional>

#include "dns/lookup.hpp"
#include "dns/pool.hpp"
#include "dns/query.hpp"
#include "dns/transfer.hpp"
#include "dns/tsig.hpp"
#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

constexpr std::size_t opt_size = 11;         // root name, type, class, ttl, rdlength
constexpr std::size_t max_answer_offsets = 32;
constexpr std::uint8_t ede_option = 15;         // RFC 8914: Extended DNS Error
constexpr std::uint8_t ede_size = 6;            // option code, length, INFO-CODE
constexpr std::uint16_t ede_prohibited = 18;

// Appends to the output buffer within a limit; everything checks before it writes.
class Writer {
public:
  Writer(std::span<std::uint8_t> out, std::size_t limit) : out_(out), limit_(std::min(limit, out.size())) {}

  [[nodiscard]] std::size_t pos() const { return pos_; }
  [[nodiscard]] bool fits(std::size_t n, std::size_t reserve) const { return pos_ + n + reserve <= limit_; }
  void bytes(const void* data, std::size_t n) {
    std::memcpy(out_.data() + pos_, data, n);
    pos_ += n;
  }
  void u16(std::uint16_t v) {
    out_[pos_++] = static_cast<std::uint8_t>(v >> 8);
    out_[pos_++] = static_cast<std::uint8_t>(v & 0xff);
  }
  void set_u16(std::size_t at, std::uint16_t v) {
    out_[at] = static_cast<std::uint8_t>(v >> 8);
    out_[at + 1] = static_cast<std::uint8_t>(v & 0xff);
  }
  // One RR: a compression pointer as owner, then the precomputed tail.
  void rr(std::uint16_t pointer, std::string_view tail) {
    u16(static_cast<std::uint16_t>(0xc000 | pointer));
    bytes(tail.data(), tail.size());
  }
  std::uint8_t& at(std::size_t i) { return out_[i]; }
  /// The buffer up to the limit, for signing in place.
  [[nodiscard]] std::span<std::uint8_t> buffer() const { return out_.first(limit_); }
  void rewind(std::size_t pos) { pos_ = pos; }

private:
  std::span<std::uint8_t> out_;
  std::size_t limit_;
  std::size_t pos_{};
};

// Whether a peer elsewhere could use `a` (unmapped) as an endpoint: not unspecified, "this network",
// loopback, link-local, multicast or broadcast, the addresses wgsd-client refuses to write. A query
// that arrived on such an address gives `self` without endpoint no address at all.
bool reachable_from_afar(const wg::IpAddress& a) {
  const std::uint8_t* b = a.data();
  if (a.is_v4()) {
    const bool broadcast = b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255;
    return b[0] != 0 && b[0] != 127 && !(b[0] == 169 && b[1] == 254) && !(b[0] >= 224 && b[0] <= 239) && !broadcast;
  }
  static constexpr std::uint8_t zero[15] = {};
  if (std::memcmp(b, zero, 15) == 0 && b[15] <= 1) return false;  // :: and ::1
  return b[0] != 0xff && !(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

class Response {
public:
  Response(std::span<const std::uint8_t> q, const Query& query, const QueryContext& ctx, std::span<std::uint8_t> out,
           ResponseInfo& info)
      : q_(q), query_(query), ctx_(ctx), info_(info),
        w_(out, ctx.transport == Transport::tcp ? max_message
                                                : (query.edns ? std::clamp<std::size_t>(query.udp_size, 512, max_udp_payload) : 512)),
        reserve_(query.edns ? opt_size : 0) {
    w_.u16(query.id);
    w_.u16(0);
    for (int i = 0; i < 4; ++i) w_.u16(0);
  }

  void question() {
    w_.bytes(q_.data() + header_size, query_.qname_length + 4);  // as asked: 0x20 case survives
    qdcount_ = 1;
  }

  std::size_t error(std::uint16_t rc, bool with_question) {
    if (with_question) question();
    return finish(rc, false);
  }

  // NOTAUTH with an unsigned TSIG record of error BADKEY, BADSIG or BADTRUNC (RFC 8945 §5.3.2): the
  // key is unknown or the request's MAC is wrong, so the reply is not signed, and it says so in the
  // form the requester checks. The TSIG repeats the request's key name, algorithm, time and fudge,
  // with an empty MAC (as Knot answers). The question goes when the record would not fit with it; if
  // it does not fit even then, TC sends the requester to TCP.
  std::size_t unsigned_error(bool with_question, std::uint16_t error, std::uint16_t original_id) {
    tsig_error_ = error;
    tsig_original_id_ = original_id;
    tsig_owner_len_ = expand_name(q_, query_.tsig_owner, tsig_owner_);
    tsig_algorithm_len_ = expand_name(q_, query_.tsig_algorithm, tsig_algorithm_);
    const std::size_t size = tsig_owner_len_ + 10 + tsig_algorithm_len_ + 16;
    if (with_question && w_.fits(query_.qname_length + 4 + size, reserve_)) question();
    if (w_.fits(size, reserve_)) tsig_ = true;
    else tc_ = true;
    return finish(rcode::notauth, false);
  }

  // REFUSED by an `acl` block statement, with RFC 8914 Extended DNS Error 18 "Prohibited" when the
  // query has EDNS (a requester without EDNS gets the bare REFUSED).
  std::size_t prohibited(bool with_question) {
    ede_ = ede_prohibited;
    if (query_.edns) reserve_ += ede_size;  // as the OPT is: a signed answer must still fit
    return error(rcode::refused, with_question);
  }

  // Writes a whole RRset as answer; partial RRsets only over TCP (a PTR set bigger than a message).
  // Returns false (and sets TC) when it did not fit whole.
  bool answer(RRsetRef set) {
    // Every RR is a 2-byte owner pointer plus its tail: the size is known without a walk, which
    // matters for a PTR set of 100,000 that is refused over UDP 5% of the time.
    const std::size_t total = set.wire().size() + 2 * set.count();
    if (!w_.fits(total, reserve_)) {
      if (ctx_.transport == Transport::tcp) {
        for (std::size_t i = 0; i < set.count() && w_.fits(2 + set.rr(i).size(), reserve_); ++i) put_answer(set.rr(i));
      }
      tc_ = true;
      return false;
    }
    for (std::size_t i = 0; i < set.count(); ++i) put_answer(set.rr(i));
    return true;
  }

  // A pool's RRset: at most `limit` (0: all) of its records in a weighted random order drawn for
  // this query, each with its additional records. Owners point to the question, so any order is valid.
  bool answer_pool(RRsetRef set, std::span<const std::uint16_t> weights, std::uint32_t limit) {
    std::array<std::uint16_t, max_pool_members> order;
    const std::size_t n = std::min({set.count(), weights.size(), max_pool_members});
    const std::size_t drawn = draw_order(weights.first(n), std::span(order).first(limit == 0 ? n : std::min<std::size_t>(limit, n)));
    std::size_t total = 0;
    for (std::size_t k = 0; k < drawn; ++k) total += 2 + set.rr(order[k]).size();
    if (!w_.fits(total, reserve_)) {
      tc_ = true;
      return false;
    }
    const std::size_t first = answer_offsets_count_;
    for (std::size_t k = 0; k < drawn; ++k) put_answer(set.rr(order[k]));
    // A pool's SRV record i has exactly one additional record, extra i (its target's address).
    if (set.extra_count() != set.count()) return true;
    for (std::size_t k = 0; k < drawn && first + k < answer_offsets_count_; ++k) {
      const RRsetRef::Extra extra = set.extra(order[k]);
      const std::size_t pointer = answer_offsets_[first + k] + 2 + extra.name_offset;
      if (pointer > 0x3fff || !w_.fits(2 + extra.tail.size(), reserve_)) break;
      w_.rr(static_cast<std::uint16_t>(pointer), extra.tail);
      ++arcount_;
    }
    return true;
  }

  bool answer_tail(std::string_view tail) {
    if (!w_.fits(2 + tail.size(), reserve_)) {
      tc_ = true;
      return false;
    }
    put_answer(tail);
    return true;
  }

  // Additional records never set TC: they are dropped first, one by one from the end (NSD style).
  void extras(RRsetRef set, const Zone& zone) {
    for (std::size_t e = 0; e < set.extra_count(); ++e) {
      const RRsetRef::Extra extra = set.extra(e);
      if (extra.answer_rr >= answer_offsets_count_) break;
      const std::size_t pointer = answer_offsets_[extra.answer_rr] + 2 + extra.name_offset;
      if (pointer > 0x3fff) break;
      std::array<std::uint8_t, 26> dynamic;  // not zeroed: written by dynamic_tail, only for `self`
      std::string_view tail = extra.tail;
      if (extra.dynamic_address) {
        const std::size_t n = dynamic_tail(dynamic, zone.data_ttl);
        if (n == 0) continue;
        tail = std::string_view(reinterpret_cast<const char*>(dynamic.data()), n);
      }
      if (!w_.fits(2 + tail.size(), reserve_)) break;
      w_.rr(static_cast<std::uint16_t>(pointer), tail);
      ++arcount_;
    }
  }

  void soa_authority(const Zone& zone, std::size_t apex_offset) {
    const std::string_view tail = zone.soa().rr(0);
    if (!w_.fits(2 + tail.size(), reserve_)) {
      tc_ = true;
      return;
    }
    w_.rr(static_cast<std::uint16_t>(header_size + apex_offset), tail);
    ++nscount_;
  }

  // A or AAAA of the local address, for `self` without a configured endpoint. 0 if none, or if it
  // is one no remote peer can reach.
  std::size_t dynamic_tail(std::array<std::uint8_t, 26>& out, std::uint32_t ttl) const {
    if (!ctx_.local_address) return 0;
    const wg::IpAddress a = ctx_.local_address->unmapped();
    if (!reachable_from_afar(a)) return 0;
    const std::uint16_t t = a.is_v4() ? type::a : type::aaaa;
    const std::size_t len = a.size();
    const std::uint8_t head[10] = {static_cast<std::uint8_t>(t >> 8),   static_cast<std::uint8_t>(t & 0xff),  0, 1,
                                   static_cast<std::uint8_t>(ttl >> 24), static_cast<std::uint8_t>(ttl >> 16),
                                   static_cast<std::uint8_t>(ttl >> 8),  static_cast<std::uint8_t>(ttl),       0,
                                   static_cast<std::uint8_t>(len)};
    std::memcpy(out.data(), head, sizeof head);
    std::memcpy(out.data() + sizeof head, a.data(), len);
    return sizeof head + len;
  }

  bool has_dynamic_address() const {
    std::array<std::uint8_t, 26> scratch{};
    return dynamic_tail(scratch, 0) > 0;
  }

  // From here on every reply is signed with `key` (RFC 8945 §4.3.2), the request's MAC chained in;
  // room for the record is kept free. BADTIME replies carry the server's time in other data.
  // What the reply needs of the request's record is kept here: the record may go before finish().
  void sign_with(const tsig::Key& key, const tsig::Record& rec, std::uint64_t now, std::uint16_t fudge, std::uint16_t error) {
    key_ = &key;
    request_mac_ = tsig::mac_of(q_, rec);
    request_time_ = rec.time_signed;
    request_id_ = rec.original_id;
    now_ = now;
    fudge_ = fudge;
    sign_error_ = error;
    reserve_ += tsig::record_size(key.name.size(), key.algorithm, false, error == tsig::badtime ? 6 : 0);
  }

  std::size_t finish(std::uint16_t rc, bool authoritative) {
    if (key_ != nullptr && !w_.fits(0, reserve_)) {
      // Only a long question with a long key name over 512 bytes gets here: the signed reply goes
      // without the question, and TC sends the requester to TCP.
      w_.rewind(header_size);
      qdcount_ = ancount_ = nscount_ = arcount_ = 0;
      tc_ = true;
    }
    if (query_.edns) {
      // OPT: root owner, our payload size, extended rcode and version 0, DO copied (RFC 3225).
      const std::uint8_t opt[opt_size] = {0, 0, type::opt, static_cast<std::uint8_t>(max_udp_payload >> 8),
                                          static_cast<std::uint8_t>(max_udp_payload & 0xff), static_cast<std::uint8_t>(rc >> 4), 0,
                                          static_cast<std::uint8_t>(query_.dnssec_ok ? 0x80 : 0), 0, 0,
                                          static_cast<std::uint8_t>(ede_ != 0 ? ede_size : 0)};
      w_.bytes(opt, sizeof opt);
      if (ede_ != 0) {
        // OPTION-CODE 15, OPTION-LENGTH 2, INFO-CODE, no EXTRA-TEXT (RFC 8914 §2).
        const std::uint8_t ede[ede_size] = {0, ede_option, 0, 2, static_cast<std::uint8_t>(ede_ >> 8), static_cast<std::uint8_t>(ede_ & 0xff)};
        w_.bytes(ede, sizeof ede);
      }
      ++arcount_;
    }
    if (tsig_) {
      // Owner, TYPE, CLASS ANY, TTL 0, RDLENGTH; algorithm, time signed and fudge as asked; MAC size
      // 0; original ID; error; other length 0. Last in the message.
      w_.bytes(tsig_owner_.data(), tsig_owner_len_);
      w_.u16(type::tsig);
      w_.u16(class_any);
      w_.u16(0);
      w_.u16(0);
      w_.u16(static_cast<std::uint16_t>(tsig_algorithm_len_ + 16));
      w_.bytes(tsig_algorithm_.data(), tsig_algorithm_len_);
      w_.bytes(q_.data() + query_.tsig_time, 8);
      w_.u16(0);
      w_.u16(tsig_original_id_);  // the request's, as RFC 8945 §5.3 asks
      w_.u16(tsig_error_);
      w_.u16(0);
      ++arcount_;
    }
    std::uint8_t flags1 = static_cast<std::uint8_t>(0x80 | (query_.opcode << 3));
    if (authoritative) flags1 |= 0x04;
    if (tc_) flags1 |= 0x02;
    if (query_.rd) flags1 |= 0x01;
    std::uint8_t flags2 = static_cast<std::uint8_t>(rc & 0x0f);
    if (query_.cd) flags2 |= 0x10;
    w_.at(2) = flags1;
    w_.at(3) = flags2;
    w_.set_u16(4, qdcount_);
    w_.set_u16(6, ancount_);
    w_.set_u16(8, nscount_);
    w_.set_u16(10, arcount_);
    if (key_ != nullptr) {
      std::uint8_t server_time[6];
      for (int i = 0; i < 6; ++i) server_time[i] = static_cast<std::uint8_t>(now_ >> (8 * (5 - i)));
      tsig::SignParams p;
      p.request_mac = request_mac_;
      p.time_signed = sign_error_ == tsig::badtime ? request_time_ : now_;
      p.fudge = fudge_;
      p.original_id = request_id_;
      p.error = sign_error_;
      if (sign_error_ == tsig::badtime) p.other = server_time;
      w_.rewind(tsig::sign(w_.buffer(), w_.pos(), *key_, p));  // room was reserved: it fits
    }
    info_.answered = true;
    info_.rcode = rc;
    info_.authoritative = authoritative;
    info_.truncated = tc_;
    info_.answers = ancount_;
    info_.size = w_.pos();
    return w_.pos();
  }

  bool truncated() const { return tc_; }

private:
  void put_answer(std::string_view tail) {
    if (answer_offsets_count_ < max_answer_offsets) answer_offsets_[answer_offsets_count_++] = w_.pos();
    w_.rr(header_size, tail);
    ++ancount_;
  }

  std::span<const std::uint8_t> q_;
  const Query& query_;
  const QueryContext& ctx_;
  ResponseInfo& info_;
  Writer w_;
  std::size_t reserve_;
  std::uint16_t qdcount_{}, ancount_{}, nscount_{}, arcount_{};
  bool tc_{};
  // Not zeroed: only the first answer_offsets_count_ are ever read.
  std::array<std::size_t, max_answer_offsets> answer_offsets_;
  std::size_t answer_offsets_count_{};
  bool tsig_{};
  std::uint16_t ede_{};  // an Extended DNS Error INFO-CODE for the OPT record; 0: none
  std::array<std::uint8_t, max_name> tsig_owner_, tsig_algorithm_;  // written only by badkey(): no cost per query
  std::size_t tsig_owner_len_{}, tsig_algorithm_len_{};
  std::uint16_t tsig_error_{rcode::badkey};
  std::uint16_t tsig_original_id_{};
  const tsig::Key* key_{};
  std::span<const std::uint8_t> request_mac_;
  std::uint64_t request_time_{};
  std::uint16_t request_id_{};
  std::uint64_t now_{};
  std::uint16_t fudge_{};
  std::uint16_t sign_error_{};
};

// The question name in lower case, in `buf`.
std::string_view lower_qname(std::span<const std::uint8_t> q, const Query& query, std::array<char, max_name>& buf) {
  for (std::size_t i = 0; i < query.qname_length; ++i) {
    const auto c = static_cast<char>(q[header_size + i]);
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {buf.data(), query.qname_length};
}

// A signed request's TSIG, checked before anything is answered (RFC 8945 §5.2): either the reply
// is an error, written here and its size returned, or nullopt: the answer goes on, `r` signs it,
// and `signed_with` is the request's key. Apart from respond() and never inlined, so that a request
// without TSIG does not make room for the record (about 600 bytes, zeroed) on every query.
[[gnu::noinline]] std::optional<std::size_t> check_signature(Response& r, std::span<const std::uint8_t> q, const Query& query,
                                                             const QueryContext& ctx, const tsig::Policy* policy,
                                                             std::string_view asked, ResponseInfo& info,
                                                             const tsig::Key*& signed_with) {
  const std::optional<tsig::Record> rec = tsig::read_record(q, query.tsig_owner);
  if (!rec) {
    info.tsig_error = rcode::formerr;
    return r.error(rcode::formerr, query.has_question);
  }
  if (policy == nullptr) {
    info.tsig_error = tsig::badkey;
    return r.unsigned_error(query.has_question, tsig::badkey, rec->original_id);
  }
  const std::uint64_t now = ctx.now != 0 ? ctx.now : static_cast<std::uint64_t>(std::time(nullptr));
  // Only the keys of the `tsig` that governs the name count; a message without a question is
  // judged as one for the root.
  const tsig::Rule* rule = policy->rule_for({reinterpret_cast<const std::uint8_t*>(asked.data()), asked.size()});
  const std::uint16_t fudge = rule != nullptr ? rule->fudge : tsig::default_fudge;
  const tsig::Key* key = rule != nullptr ? tsig::find_key(rule->keys, rec->name()) : nullptr;
  switch (tsig::verify_request(q, *rec, key, now, fudge)) {
    case tsig::Check::ok:
      r.sign_with(*key, *rec, now, fudge, 0);
      signed_with = key;
      info.tsig_verified = true;
      info.transfer_fudge = fudge;
      return std::nullopt;
    case tsig::Check::formerr: info.tsig_error = rcode::formerr; return r.error(rcode::formerr, query.has_question);
    case tsig::Check::badkey: info.tsig_error = tsig::badkey; return r.unsigned_error(query.has_question, tsig::badkey, rec->original_id);
    case tsig::Check::badsig: info.tsig_error = tsig::badsig; return r.unsigned_error(query.has_question, tsig::badsig, rec->original_id);
    case tsig::Check::badtrunc: info.tsig_error = tsig::badtrunc; return r.unsigned_error(query.has_question, tsig::badtrunc, rec->original_id);
    case tsig::Check::badtime:
      info.tsig_error = tsig::badtime;
      r.sign_with(*key, *rec, now, fudge, tsig::badtime);
      return r.error(rcode::notauth, query.has_question);
  }
  return std::nullopt;
}

// RFC 8482: a minimal answer to ANY over UDP.
constexpr char hinfo_tail[] = {0, type::hinfo, 0, 1, 0, 0, 0, 0, 0, 9, 7, 'R', 'F', 'C', '8', '4', '8', '2', 0};

}  // namespace

std::size_t respond(std::span<const std::uint8_t> q, const ZoneSet& zones, const QueryContext& ctx, std::span<std::uint8_t> out,
                    ResponseInfo* info_out) {
  if (info_out == nullptr) {
    ResponseInfo scratch;
    return respond(q, zones, ctx, out, &scratch);
  }
  ResponseInfo& info = *info_out;
  info = ResponseInfo{};
  if (q.size() < header_size || (q[2] & 0x80) != 0 || out.size() < 512) return 0;

  const Query query = parse_query(q);
  info.id = query.id;
  info.rd = query.rd;
  info.has_question = query.has_question;
  info.qname_offset = header_size;
  info.qname_length = query.qname_length;
  info.qtype = query.qtype;
  info.qclass = query.qclass;
  info.edns = query.edns;
  info.dnssec_ok = query.dnssec_ok;
  info.udp_size = query.edns ? query.udp_size : 512;

  Response r(q, query, ctx, out, info);
  // A malformed message first; then a signed one, which is never answered unsigned; then the rest.
  // A message that does not parse has no question for the acl to judge: its source alone decides
  // whether it is dropped (a dropped source learns nothing, not even that the server is there).
  if (query.formerr) {
    if (zones.acl && zones.acl->decide_source(ctx.source) == AclAction::drop) {
      info.acl_checked = true;
      info.acl = AclAction::drop;
      info.dropped_by_acl = true;
      return 0;
    }
    return r.error(rcode::formerr, query.has_question);
  }
  // A signed message is verified first, whatever the acl says of it: its TSIG errors are answered
  // as RFC 8945 says, and a REFUSED or empty answer the acl gives it afterwards is signed. Only
  // `drop` outranks the signature: a dropped source gets nothing, well signed or not.
  // A message without a question is judged as one for the root of type 0: only type-less acl
  // statements of a block for "." match it.
  std::array<char, max_name> lower;  // the question name in lower case, once: for acl, tsig and lookup
  std::string_view qname;
  const tsig::Policy* policy = zones.tsig.get();
  if (query.has_question && (zones.acl || policy != nullptr)) qname = lower_qname(q, query, lower);
  const std::string_view asked = query.has_question ? qname : std::string_view("\0", 1);
  const std::span<const std::uint8_t> qname_wire(reinterpret_cast<const std::uint8_t*>(qname.data()), qname.size());
  const AclAction action = zones.acl ? zones.acl->decide(ctx.source, query.has_question ? query.qtype : 0, asked) : AclAction::allow;
  info.acl_checked = zones.acl != nullptr;
  info.acl = action;
  if (action == AclAction::drop) {
    info.dropped_by_acl = true;
    return 0;
  }
  const tsig::Key* signed_with = nullptr;  // the request's key, once verified
  if (query.tsig) {
    if (const auto refused = check_signature(r, q, query, ctx, policy, asked, info, signed_with)) return *refused;
  }
  switch (action) {
    case AclAction::allow:
    case AclAction::drop: break;
    case AclAction::block: return r.prohibited(query.has_question);
    case AclAction::filter:  // NOERROR and nothing in it, as CoreDNS's filter: no SOA to cache
      if (query.has_question) r.question();
      return r.finish(rcode::noerror, true);
  }
  if (query.opcode != 0) return r.error(rcode::notimp, query.has_question);
  if (query.edns && query.edns_version > 0) return r.error(rcode::badvers, true);
  // Meta types are no data to ask for (RFC 6895 §3.1): the transaction records make the question
  // malformed, the obsolete mail types are not implemented (as BIND answers both).
  if (query.qtype == type::opt || query.qtype == type::tsig || query.qtype == type::tkey) return r.error(rcode::formerr, true);
  if (query.qtype == type::maila || query.qtype == type::mailb) return r.error(rcode::notimp, true);
  if (query.qclass != class_in) return r.error(rcode::refused, true);

  if (!query.tsig && policy != nullptr) {
    // `require`: these types only signed.
    const tsig::Rule* rule = policy->rule_for(qname_wire);
    if (rule != nullptr && (rule->require_all || std::find(rule->require.begin(), rule->require.end(), query.qtype) != rule->require.end())) {
      return r.error(rcode::refused, true);
    }
  }
  if (qname.empty()) qname = lower_qname(q, query, lower);
  // Zone transfers: only of a zone's apex, only to whom `transfer` lists.
  if (query.qtype == type::axfr || query.qtype == type::ixfr) {
    const Zone* zone = transfer_zone(zones, qname, ctx.source);
    if (zone == nullptr) return r.error(rcode::refused, true);
    if (!zone->loaded) return r.error(rcode::servfail, true);
    if (ctx.transport == Transport::udp) {
      // AXFR is TCP only (RFC 5936 §4.2); IXFR over UDP gets the current SOA alone, which tells an
      // up-to-date requester it is, and any other to come over TCP (RFC 1995 §2).
      if (query.qtype == type::axfr) return r.error(rcode::formerr, true);
      r.question();
      r.answer(zone->soa());
      return r.finish(rcode::noerror, true);
    }
    info.transfer = zone;
    info.transfer_key = signed_with;
    return 0;
  }
  const LookupResult found = lookup(zones, qname, query.qtype);
  info.zone = found.zone;
  switch (found.outcome) {
    case Outcome::refused: return r.error(rcode::refused, true);
    case Outcome::servfail: return r.error(rcode::servfail, true);
    case Outcome::nxdomain:
      r.question();
      r.soa_authority(*found.zone, found.apex_offset);
      return r.finish(rcode::nxdomain, true);
    case Outcome::nodata:
    case Outcome::answer: break;
  }
  r.question();
  const NodeRef node = found.node;
  const Zone* zone = found.zone;
  const std::size_t apex_offset = found.apex_offset;
  bool answered = false;
  if (found.outcome == Outcome::nodata) {
    // NODATA: nothing to answer
  } else if (found.rrset && found.rrset.type() == type::srv && node.dynamic_address() && !r.has_dynamic_address()) {
    // `self` without endpoint, asked on an address no peer can reach (loopback): an SRV without an
    // address to go with it would send the requester nowhere. NODATA, like a peer without endpoint.
  } else if (const PoolSnapshot* pool = found.rrset ? zone->pool_at(node.block()) : nullptr; pool != nullptr) {
    answered = true;
    r.answer_pool(found.rrset, pool->weights(node.block(), query.qtype), pool->answers);
  } else if (found.rrset) {
    answered = true;
    if (r.answer(found.rrset)) r.extras(found.rrset, *zone);
  } else if (query.qtype == type::any && ctx.transport == Transport::udp) {
    answered = true;
    r.answer_tail({hinfo_tail, sizeof hinfo_tail});
  } else if (query.qtype == type::any) {
    for (std::size_t i = 0; i < node.rrset_count(); ++i) {
      if (node.rrset(i).type() == type::srv && node.dynamic_address() && !r.has_dynamic_address()) continue;
      answered = true;
      if (!r.answer(node.rrset(i))) break;
    }
    std::array<std::uint8_t, 26> dynamic{};
    if (!r.truncated() && node.dynamic_address()) {
      if (const std::size_t n = r.dynamic_tail(dynamic, zone->data_ttl); n > 0) {
        answered = true;
        r.answer_tail({reinterpret_cast<const char*>(dynamic.data()), n});
      }
    }
  } else {
    // A or AAAA of self without endpoint: the local address, if it is of the asked family.
    std::array<std::uint8_t, 26> dynamic{};
    const std::size_t n = r.dynamic_tail(dynamic, zone->data_ttl);
    if (n > 0 && get_u16(dynamic.data()) == query.qtype) {
      answered = true;
      r.answer_tail({reinterpret_cast<const char*>(dynamic.data()), n});
    }
  }
  if (!answered) r.soa_authority(*zone, apex_offset);  // NODATA (RFC 2308)
  return r.finish(rcode::noerror, true);
}

void prefetch(std::span<const std::span<const std::uint8_t>> queries, const ZoneSet& zones) {
  struct Hint {
    const Zone* zone;
    std::uint64_t hash;
  };
  // Not zeroed: only the first `count` are read. Only the question is read, as respond() reads it
  // (an uncompressed first name); a query it would refuse costs a wasted hint at most.
  std::array<Hint, max_prefetch> hints;
  std::array<char, max_name> lower;
  std::size_t count = 0;
  for (const auto q : queries.first(std::min(queries.size(), max_prefetch))) {
    if (q.size() < header_size || (q[2] & 0x80) != 0 || get_u16(&q[4]) != 1) continue;
    const std::size_t length = uncompressed_name_length(q.subspan(header_size));
    if (length == 0) continue;
    for (std::size_t i = 0; i < length; ++i) {
      const auto c = static_cast<char>(q[header_size + i]);
      lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    const std::string_view qname(lower.data(), length);
    std::size_t apex_offset = 0;
    const Zone* zone = zones.match(qname, apex_offset);
    if (zone == nullptr || !zone->loaded) continue;
    hints[count++] = {zone, zone->prefetch_slot(qname)};
  }
  for (std::size_t i = 0; i < count; ++i) hints[i].zone->prefetch_block(hints[i].hash);
}

std::vector<std::uint8_t> respond(std::span<const std::uint8_t> query, const ZoneSet& zones, const QueryContext& ctx) {
  std::vector<std::uint8_t> out(max_message);
  out.resize(respond(query, zones, ctx, out));
  return out;
}

}  // namespace wgsd::dns
