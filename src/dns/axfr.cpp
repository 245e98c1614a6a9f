// Packing a transfer into messages: names compressed against the question (the apex) and the
// service name, each message filled up to 64 KB, every one signed when the request was.
#include "dns/axfr.hpp"

#include <cstring>

#include "dns/ixfr_journal.hpp"
#include "dns/responder.hpp"
#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

constexpr std::size_t pointer_limit = 0x3fff;  // a compression pointer reaches this far
constexpr std::uint16_t question_offset = header_size;

// Whether `name` ends with the complete labels of `suffix` (both uncompressed wire); `prefix`
// receives the length of the labels before it.
bool has_suffix(std::string_view name, std::string_view suffix, std::size_t& prefix) {
  for (std::size_t at = 0; at < name.size(); at += 1U + static_cast<std::uint8_t>(name[at])) {
    if (name.size() - at == suffix.size() && name.substr(at) == suffix) {
      prefix = at;
      return true;
    }
    if (name[at] == 0) break;
  }
  return false;
}

// One message being written; every put checks the room first and reports false when there is none.
class Packer {
public:
  Packer(std::span<std::uint8_t> out, std::size_t limit, std::string_view apex, std::string_view service)
      : out_(out), limit_(std::min(limit, out.size())), apex_(apex), service_(service) {}

  [[nodiscard]] std::size_t pos() const { return pos_; }
  void rewind(std::size_t pos, std::uint16_t anchor) {
    pos_ = pos;
    service_anchor_ = anchor;
  }
  [[nodiscard]] std::uint16_t anchor() const { return service_anchor_; }

  bool bytes(const void* p, std::size_t n) {
    if (pos_ + n > limit_) return false;
    if (n > 0) std::memcpy(out_.data() + pos_, p, n);
    pos_ += n;
    return true;
  }
  bool bytes(std::string_view s) { return bytes(s.data(), s.size()); }
  bool u16(std::uint16_t v) {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)};
    return bytes(b, 2);
  }
  bool pointer(std::uint16_t offset) { return u16(static_cast<std::uint16_t>(0xc000 | offset)); }

  // A name of the zone, compressed: the apex is the question's name; names below the service name
  // point at the first place the service name was written in this message.
  bool name(std::string_view n) {
    std::size_t prefix = 0;
    if (has_suffix(n, service_, prefix)) {
      if (!bytes(n.substr(0, prefix))) return false;
      if (service_anchor_ != 0) return pointer(service_anchor_);
      const std::size_t at = pos_;
      if (!bytes(service_.substr(0, service_.size() - apex_.size())) || !pointer(question_offset)) return false;
      if (at <= pointer_limit) service_anchor_ = static_cast<std::uint16_t>(at);
      return true;
    }
    if (has_suffix(n, apex_, prefix)) return bytes(n.substr(0, prefix)) && pointer(question_offset);
    return bytes(n);
  }

  // One record: the owner, then the tail, with a PTR's target compressed like an owner.
  bool record(std::string_view owner, std::string_view tail, std::string& scratch) {
    if (!name(owner)) return false;
    const std::uint16_t rrtype = get_u16(reinterpret_cast<const std::uint8_t*>(tail.data()));
    if (rrtype != type::ptr) return bytes(tail);
    // TYPE CLASS TTL, RDLENGTH written once the target's length is known.
    if (!bytes(tail.substr(0, 8))) return false;
    const std::size_t rdlength_at = pos_;
    if (!u16(0)) return false;
    std::string_view target = tail.substr(10);
    if (target.size() >= 2 && static_cast<std::uint8_t>(target[target.size() - 2]) == 0xc0 && target.back() == 0x0c) {
      // As the snapshot keeps it: the label, then a pointer to the service name a query asked.
      scratch.assign(target.substr(0, target.size() - 2));
      scratch += service_;
      target = scratch;
    }
    if (!name(target)) return false;
    const std::size_t rdlength = pos_ - rdlength_at - 2;
    out_[rdlength_at] = static_cast<std::uint8_t>(rdlength >> 8);
    out_[rdlength_at + 1] = static_cast<std::uint8_t>(rdlength & 0xff);
    return true;
  }

private:
  std::span<std::uint8_t> out_;
  std::size_t limit_;
  std::size_t pos_{};
  std::string_view apex_, service_;
  std::uint16_t service_anchor_{};
};

}  // namespace

std::string_view transfer_tail(std::string_view tail, std::string& buf) {
  if (tail.size() < 10 || get_u16(reinterpret_cast<const std::uint8_t*>(tail.data())) != type::txt) return tail;
  // Walk the character-strings; the last one is dropped when it is `handshake=`.
  constexpr std::string_view key = "handshake=";
  std::size_t at = 10, last = 10;
  while (at < tail.size()) {
    last = at;
    at += 1U + static_cast<std::uint8_t>(tail[at]);
  }
  if (at != tail.size() || tail.substr(last + 1, key.size()) != key) return tail;
  buf.assign(tail.substr(0, last));
  const std::size_t rdlength = last - 10;
  buf[8] = static_cast<char>(rdlength >> 8);
  buf[9] = static_cast<char>(rdlength & 0xff);
  return buf;
}

TransferStream::TransferStream(std::shared_ptr<const Zone> zone, std::span<const std::uint8_t> query,
                               std::optional<TransferSigning> signing)
    : zone_(std::move(zone)) {
  start(query, std::move(signing));
}

TransferStream::TransferStream(std::shared_ptr<const Zone> zone, std::vector<std::shared_ptr<const JournalDelta>> steps,
                               std::span<const std::uint8_t> query, std::optional<TransferSigning> signing)
    : zone_(std::move(zone)), steps_(std::move(steps)), incremental_(true) {
  start(query, std::move(signing));
}

void TransferStream::start(std::span<const std::uint8_t> query, std::optional<TransferSigning> signing) {
  signing_ = std::move(signing);
  id_ = get_u16(query.data());
  rd_ = (query[2] & 0x01) != 0;
  const std::size_t qname = uncompressed_name_length(query.subspan(header_size));
  question_.assign(query.begin() + header_size, query.begin() + static_cast<std::ptrdiff_t>(header_size + qname + 4));
  // "_wireguard._udp." in front of the apex: the name every peer's name ends with.
  service_wire_ = std::string("\x0a_wireguard\x04_udp", 16) + zone_->apex_wire;
  if (const RRsetRef soa = zone_->soa()) soa_tail_ = soa.rr(0);
  if (incremental_ && steps_.empty()) phase_ = 2;  // up to date: the current SOA alone
}

bool TransferStream::peek(Record& r) {
  const std::string_view apex = zone_->apex_wire;
  if (phase_ == 0 || phase_ == 2) {
    r = {apex, soa_tail_};
    return true;
  }
  if (incremental_) {
    while (node_ < steps_.size()) {
      const JournalDelta& d = *steps_[node_];
      const std::vector<JournalRecord>& part = rrset_ == 1 ? d.removed : d.added;
      if (rrset_ == 0 || rrset_ == 2) {
        r = {apex, rrset_ == 0 ? std::string_view(d.from_soa) : std::string_view(d.to_soa)};
        return true;
      }
      if (rrset_ <= 3 && rr_ < part.size()) {
        r = {part[rr_].owner, part[rr_].tail};
        return true;
      }
      rr_ = 0;
      if (++rrset_ > 3) {
        rrset_ = 0;
        ++node_;
      }
    }
    phase_ = 2;
    r = {apex, soa_tail_};
    return true;
  }
  while (node_ < zone_->nodes.size()) {
    const NodeRef node = zone_->nodes[node_]->ref();
    // A name the index gave to another node (never in a zone the builder made) is not answered.
    const bool answered = zone_->find(node.name()) == node;
    while (answered && rrset_ < node.rrset_count()) {
      const RRsetRef set = node.rrset(rrset_);
      if (set.type() != type::soa && rr_ < set.count()) {
        r = {node.name(), set.rr(rr_)};
        return true;
      }
      rr_ = 0;
      ++rrset_;
    }
    rrset_ = 0;
    ++node_;
  }
  phase_ = 2;
  r = {apex, soa_tail_};
  return true;
}

void TransferStream::advance() {
  ++records_;
  if (phase_ == 0) {
    phase_ = 1;
  } else if (phase_ == 2) {
    done_ = true;
  } else if (incremental_ && (rrset_ == 0 || rrset_ == 2)) {
    ++rrset_;
  } else {
    ++rr_;
  }
}

std::size_t TransferStream::next(std::span<std::uint8_t> out, std::uint64_t now) {
  if (done_ || out.size() < 512) return 0;
  const std::size_t reserve = signing_ ? tsig::record_size(signing_->key.name.size(), signing_->key.algorithm, false, 0) : 0;
  Packer p(out, std::min(out.size(), max_message) - reserve, zone_->apex_wire, service_wire_);
  // Header: this ID, QR AA, RD as asked, NOERROR; one question; the answer count comes last.
  const std::uint8_t header[header_size] = {static_cast<std::uint8_t>(id_ >> 8), static_cast<std::uint8_t>(id_ & 0xff),
                                            static_cast<std::uint8_t>(0x84 | (rd_ ? 1 : 0)), 0, 0, 1, 0, 0, 0, 0, 0, 0};
  p.bytes(header, sizeof header);
  p.bytes(question_.data(), question_.size());
  std::uint16_t count = 0;
  std::string scratch, view;
  Record r;
  while (!done_ && count < 0xffff && peek(r)) {
    const std::size_t at = p.pos();
    const std::uint16_t anchor = p.anchor();
    if (!p.record(r.owner, transfer_tail(r.tail, view), scratch)) {
      p.rewind(at, anchor);
      if (count == 0) {
        // A record that fits no message (cannot happen with the RDATA limits the builder keeps):
        // left out rather than stall the transfer.
        advance();
        continue;
      }
      break;
    }
    ++count;
    advance();
  }
  std::size_t size = p.pos();
  out[6] = static_cast<std::uint8_t>(count >> 8);
  out[7] = static_cast<std::uint8_t>(count & 0xff);
  if (signing_) {
    tsig::SignParams sp;
    const bool first = messages_ == 0;
    sp.request_mac = first ? std::span<const std::uint8_t>(signing_->request_mac) : std::span<const std::uint8_t>(prior_mac_.data(), prior_mac_size_);
    sp.timers_only = !first;
    sp.time_signed = now;
    sp.fudge = signing_->fudge;
    sp.original_id = signing_->original_id;
    const std::size_t signed_size = tsig::sign(out, size, signing_->key, sp);
    if (const auto rec = tsig::read_record(out.first(signed_size), size)) {
      prior_mac_size_ = rec->mac_length;
      std::memcpy(prior_mac_.data(), out.data() + rec->mac_offset, rec->mac_length);
    }
    size = signed_size;
  }
  ++messages_;
  return size;
}

std::optional<std::uint32_t> ixfr_serial(std::span<const std::uint8_t> q) {
  if (q.size() < header_size || get_u16(&q[4]) != 1 || get_u16(&q[8]) == 0) return std::nullopt;
  std::size_t pos = header_size;
  const std::size_t qname = skip_name(q, pos);
  if (qname == 0) return std::nullopt;
  pos += qname + 4;
  for (std::uint16_t i = 0; i < get_u16(&q[6]); ++i) {  // answers (none in a well-formed request)
    const std::size_t n = skip_name(q, pos);
    if (n == 0 || pos + n + 10 > q.size()) return std::nullopt;
    pos += n + 10 + get_u16(&q[pos + n + 8]);
  }
  const std::size_t owner = skip_name(q, pos);
  if (owner == 0 || pos + owner + 10 > q.size() || get_u16(&q[pos + owner]) != type::soa) return std::nullopt;
  std::size_t rdata = pos + owner + 10;
  for (int name = 0; name < 2; ++name) {  // MNAME, RNAME
    const std::size_t n = skip_name(q, rdata);
    if (n == 0) return std::nullopt;
    rdata += n;
  }
  if (rdata + 4 > q.size()) return std::nullopt;
  return get_u32(&q[rdata]);
}

std::unique_ptr<TransferStream> open_transfer(std::span<const std::uint8_t> query, const ZoneSet& zones, const ResponseInfo& info) {
  std::shared_ptr<const Zone> zone;
  for (const auto& z : zones.zones) {
    if (z.get() == info.transfer) zone = z;
  }
  if (!zone) return nullptr;
  std::optional<TransferSigning> signing;
  if (info.transfer_key != nullptr) {
    std::size_t owner = 0;
    if (tsig::locate(query, owner) != tsig::Found::last) return nullptr;
    const auto rec = tsig::read_record(query, owner);
    if (!rec) return nullptr;
    const auto mac = tsig::mac_of(query, *rec);
    signing = TransferSigning{*info.transfer_key, {mac.begin(), mac.end()}, rec->original_id, info.transfer_fudge};
  }
  if (info.qtype == type::ixfr) {
    std::vector<std::shared_ptr<const JournalDelta>> steps;
    if (const auto serial = ixfr_serial(query); serial && journal_steps(*zone, *serial, steps)) {
      return std::make_unique<TransferStream>(std::move(zone), std::move(steps), query, std::move(signing));
    }
  }
  return std::make_unique<TransferStream>(std::move(zone), query, std::move(signing));
}

}  // namespace wgsd::dns
