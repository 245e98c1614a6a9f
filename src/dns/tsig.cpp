#include "dns/tsig.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace wgsd::dns::tsig {
namespace {

constexpr std::uint8_t sha256_wire[] = {11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0};
constexpr std::uint8_t sha512_wire[] = {11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '5', '1', '2', 0};

std::span<const std::uint8_t> alg_wire(Algorithm a) {
  return a == Algorithm::hmac_sha256 ? std::span<const std::uint8_t>(sha256_wire) : std::span<const std::uint8_t>(sha512_wire);
}

std::uint8_t lower(std::uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c - 'A' + 'a') : c; }

// Label length bytes are at most 63, below 'A': lowering every byte lowers only the letters.
void lower_all(std::span<std::uint8_t> s) {
  for (auto& c : s) c = lower(c);
}

bool same(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// One HMAC in progress; the state is on the stack of whoever holds it.
static_assert(sizeof(crypto_auth_hmacsha256_state) <= sizeof(Key::keyed_state));
static_assert(sizeof(crypto_auth_hmacsha512_state) <= sizeof(Key::keyed_state));

class Hmac {
public:
  // From the key's precomputed state: a copy, no hashing of the key.
  explicit Hmac(const Key& key) : alg_(key.algorithm) {
    if (alg_ == Algorithm::hmac_sha256) std::memcpy(&s256_, key.keyed_state.data(), sizeof s256_);
    else std::memcpy(&s512_, key.keyed_state.data(), sizeof s512_);
  }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  ~Hmac() { sodium_memzero(this, sizeof *this); }

  void update(const std::uint8_t* p, std::size_t n) {
    if (n == 0) return;
    if (alg_ == Algorithm::hmac_sha256) crypto_auth_hmacsha256_update(&s256_, p, n);
    else crypto_auth_hmacsha512_update(&s512_, p, n);
  }
  void update(std::span<const std::uint8_t> s) { update(s.data(), s.size()); }
  void u16(std::uint16_t v) {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v & 0xff)};
    update(b, 2);
  }
  void final(std::uint8_t* out) {
    if (alg_ == Algorithm::hmac_sha256) crypto_auth_hmacsha256_final(&s256_, out);
    else crypto_auth_hmacsha512_final(&s512_, out);
  }

private:
  Algorithm alg_;
  union {
    crypto_auth_hmacsha256_state s256_;
    crypto_auth_hmacsha512_state s512_;
  };
};

void put48(std::uint8_t* p, std::uint64_t v) {
  for (int i = 5; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v & 0xff);
    v >>= 8;
  }
}

std::uint64_t get48(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 6; ++i) v = (v << 8) | p[i];
  return v;
}

// The message part of the digest (RFC 8945 §4.3.1): the header with the original ID and the
// ARCOUNT the message had before its TSIG was added, then the rest of the message up to `end`.
void feed_message(Hmac& h, std::span<const std::uint8_t> msg, std::size_t end, std::uint16_t original_id, std::uint16_t arcount) {
  std::uint8_t header[header_size];
  std::memcpy(header, msg.data(), header_size);
  header[0] = static_cast<std::uint8_t>(original_id >> 8);
  header[1] = static_cast<std::uint8_t>(original_id & 0xff);
  header[10] = static_cast<std::uint8_t>(arcount >> 8);
  header[11] = static_cast<std::uint8_t>(arcount & 0xff);
  h.update(header, header_size);
  h.update(msg.data() + header_size, end - header_size);
}

// The TSIG variables (RFC 8945 §4.3.3), names in canonical (lower case, uncompressed) form.
void feed_variables(Hmac& h, std::span<const std::uint8_t> name, std::span<const std::uint8_t> alg, std::uint64_t time,
                    std::uint16_t fudge, std::uint16_t error, std::span<const std::uint8_t> other) {
  h.update(name);
  h.u16(class_any);
  h.u16(0);
  h.u16(0);  // TTL
  h.update(alg);
  std::uint8_t t[6];
  put48(t, time);
  h.update(t, 6);
  h.u16(fudge);
  h.u16(error);
  h.u16(static_cast<std::uint16_t>(other.size()));
  h.update(other);
}

bool time_ok(std::uint64_t signed_at, std::uint16_t fudge, std::uint64_t now) {
  const std::uint64_t skew = signed_at > now ? signed_at - now : now - signed_at;
  return skew <= fudge;
}

// Time signed and fudge alone: what follows the message in every MAC of a multi-message answer but
// the first (RFC 8945 §5.3.1).
void feed_timers(Hmac& h, std::uint64_t time, std::uint16_t fudge) {
  std::uint8_t t[6];
  put48(t, time);
  h.update(t, 6);
  h.u16(fudge);
}

// Key, MAC size, MAC: the checks shared by requests and responses.
Check check_mac(std::span<const std::uint8_t> msg, const Record& rec, const Key& key, std::span<const std::uint8_t> request_mac,
                bool timers_only = false) {
  const std::size_t full = mac_size(key.algorithm);
  if (rec.mac_length > full) return Check::formerr;
  // Shorter than the RFC allows is a malformed message (RFC 8945 §5.2.2.1), as longer than the hash;
  // BADTRUNC would be for a MAC the RFC allows but local policy finds too short, and there is none.
  if (rec.mac_length < min_mac_size(key.algorithm)) return Check::formerr;
  Hmac h(key);
  if (!request_mac.empty()) {
    h.u16(static_cast<std::uint16_t>(request_mac.size()));
    h.update(request_mac);
  }
  feed_message(h, msg, rec.start, rec.original_id, static_cast<std::uint16_t>(get_u16(&msg[10]) - 1));
  if (timers_only) feed_timers(h, rec.time_signed, rec.fudge);
  else feed_variables(h, rec.name(), rec.algorithm_wire(), rec.time_signed, rec.fudge, rec.error, msg.subspan(rec.other_offset, rec.other_length));
  std::array<std::uint8_t, max_mac> mac{};
  h.final(mac.data());
  const int diff = sodium_memcmp(mac.data(), msg.data() + rec.mac_offset, rec.mac_length);
  sodium_memzero(mac.data(), mac.size());
  return diff == 0 ? Check::ok : Check::badsig;
}

bool key_matches(const Record& rec, const Key& key) {
  const auto alg = algorithm_from_wire(rec.algorithm_wire());
  return alg && *alg == key.algorithm && same(rec.name(), {reinterpret_cast<const std::uint8_t*>(key.name.data()), key.name.size()});
}

std::size_t write_record(std::span<std::uint8_t> buf, std::size_t pos, std::span<const std::uint8_t> name,
                         std::span<const std::uint8_t> alg, const SignParams& p, const std::uint8_t* mac, std::size_t mac_len) {
  auto u16 = [&](std::uint16_t v) {
    buf[pos++] = static_cast<std::uint8_t>(v >> 8);
    buf[pos++] = static_cast<std::uint8_t>(v & 0xff);
  };
  auto bytes = [&](const std::uint8_t* d, std::size_t n) {
    if (n > 0) std::memcpy(buf.data() + pos, d, n);
    pos += n;
  };
  bytes(name.data(), name.size());
  u16(type::tsig);
  u16(class_any);
  u16(0);
  u16(0);
  u16(static_cast<std::uint16_t>(alg.size() + 16 + mac_len + p.other.size()));
  bytes(alg.data(), alg.size());
  put48(buf.data() + pos, p.time_signed);
  pos += 6;
  u16(p.fudge);
  u16(static_cast<std::uint16_t>(mac_len));
  bytes(mac, mac_len);
  u16(p.original_id);
  u16(p.error);
  u16(static_cast<std::uint16_t>(p.other.size()));
  bytes(p.other.data(), p.other.size());
  const std::uint16_t arcount = get_u16(&buf[10]) + 1;
  buf[10] = static_cast<std::uint8_t>(arcount >> 8);
  buf[11] = static_cast<std::uint8_t>(arcount & 0xff);
  return pos;
}

}  // namespace

Key::Key(std::string wire_name, Algorithm alg, std::vector<std::uint8_t> bytes)
    : name(std::move(wire_name)), algorithm(alg), secret(std::move(bytes)) {
  if (algorithm == Algorithm::hmac_sha256) {
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, secret.data(), secret.size());
    std::memcpy(keyed_state.data(), &st, sizeof st);
    sodium_memzero(&st, sizeof st);
  } else {
    crypto_auth_hmacsha512_state st;
    crypto_auth_hmacsha512_init(&st, secret.data(), secret.size());
    std::memcpy(keyed_state.data(), &st, sizeof st);
    sodium_memzero(&st, sizeof st);
  }
}

Key::~Key() {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
  sodium_memzero(keyed_state.data(), keyed_state.size());
}

std::optional<Algorithm> algorithm_from_name(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  std::string l(text);
  for (auto& c : l) c = static_cast<char>(lower(static_cast<std::uint8_t>(c)));
  if (l == "hmac-sha256") return Algorithm::hmac_sha256;
  if (l == "hmac-sha512") return Algorithm::hmac_sha512;
  return std::nullopt;
}

std::optional<Algorithm> algorithm_from_wire(std::span<const std::uint8_t> wire) {
  if (wire.size() != sizeof sha256_wire) return std::nullopt;
  std::array<std::uint8_t, sizeof sha256_wire> l{};
  std::copy(wire.begin(), wire.end(), l.begin());
  lower_all(l);
  if (same(l, sha256_wire)) return Algorithm::hmac_sha256;
  if (same(l, sha512_wire)) return Algorithm::hmac_sha512;
  return std::nullopt;
}

std::string_view algorithm_name(Algorithm a) { return a == Algorithm::hmac_sha256 ? "hmac-sha256" : "hmac-sha512"; }
std::size_t mac_size(Algorithm a) { return a == Algorithm::hmac_sha256 ? 32 : 64; }
std::size_t min_mac_size(Algorithm a) { return std::max<std::size_t>(10, mac_size(a) / 2); }

std::optional<Key> make_key(std::string_view name, std::string_view algorithm, std::string_view base64, std::string& error) {
  const auto alg = algorithm_from_name(algorithm);
  if (!alg) {
    error = "unsupported TSIG algorithm '" + std::string(algorithm) + "' (hmac-sha256 or hmac-sha512)";
    return std::nullopt;
  }
  auto wire = name_to_wire(name);
  if (!wire || *wire == std::string(1, '\0')) {
    error = "bad TSIG key name '" + std::string(name) + "'";
    return std::nullopt;
  }
  std::vector<std::uint8_t> secret(base64.size());
  std::size_t len = 0;
  if (base64.empty() || sodium_base642bin(secret.data(), secret.size(), base64.data(), base64.size(), nullptr, &len, nullptr,
                                          sodium_base64_VARIANT_ORIGINAL) != 0 || len == 0) {
    sodium_memzero(secret.data(), secret.size());
    error = "the secret of TSIG key '" + std::string(name) + "' is not base64";
    return std::nullopt;
  }
  secret.resize(len);
  return Key(std::move(*wire), *alg, std::move(secret));
}

const Key* find_key(std::span<const Key> keys, std::span<const std::uint8_t> wire_name) {
  for (const Key& k : keys) {
    if (same(wire_name, {reinterpret_cast<const std::uint8_t*>(k.name.data()), k.name.size()})) return &k;
  }
  return nullptr;
}

std::optional<Record> read_record(std::span<const std::uint8_t> msg, std::size_t owner) {
  if (owner < header_size || owner >= msg.size()) return std::nullopt;
  Record rec;
  rec.start = owner;
  rec.key_name_length = expand_name(msg, owner, rec.key_name);
  const std::size_t owner_len = skip_name(msg, owner);
  if (rec.key_name_length == 0 || owner_len == 0) return std::nullopt;
  std::size_t pos = owner + owner_len;
  if (pos + 10 > msg.size()) return std::nullopt;
  if (get_u16(&msg[pos]) != type::tsig || get_u16(&msg[pos + 2]) != class_any || get_u32(&msg[pos + 4]) != 0) return std::nullopt;
  const std::size_t end = pos + 10 + get_u16(&msg[pos + 8]);
  if (end != msg.size()) return std::nullopt;
  pos += 10;
  rec.algorithm_length = expand_name(msg, pos, rec.algorithm);
  const std::size_t alg_len = skip_name(msg, pos);
  if (rec.algorithm_length == 0 || alg_len == 0) return std::nullopt;
  pos += alg_len;
  if (pos + 10 > end) return std::nullopt;
  rec.time_signed = get48(&msg[pos]);
  rec.fudge = get_u16(&msg[pos + 6]);
  rec.mac_length = get_u16(&msg[pos + 8]);
  rec.mac_offset = pos + 10;
  pos = rec.mac_offset + rec.mac_length;
  if (pos + 6 > end) return std::nullopt;
  rec.original_id = get_u16(&msg[pos]);
  rec.error = get_u16(&msg[pos + 2]);
  rec.other_length = get_u16(&msg[pos + 4]);
  rec.other_offset = pos + 6;
  if (rec.other_offset + rec.other_length != end) return std::nullopt;
  lower_all({rec.key_name.data(), rec.key_name_length});
  lower_all({rec.algorithm.data(), rec.algorithm_length});
  return rec;
}

Found locate(std::span<const std::uint8_t> msg, std::size_t& owner) {
  if (msg.size() < header_size) return Found::malformed;
  std::size_t pos = header_size;
  for (std::uint16_t i = 0; i < get_u16(&msg[4]); ++i) {
    const std::size_t len = skip_name(msg, pos);
    if (len == 0 || pos + len + 4 > msg.size()) return Found::malformed;
    pos += len + 4;
  }
  const std::size_t records = std::size_t{get_u16(&msg[6])} + get_u16(&msg[8]) + get_u16(&msg[10]);
  const std::size_t first_additional = std::size_t{get_u16(&msg[6])} + get_u16(&msg[8]);
  Found found = Found::none;
  for (std::size_t i = 0; i < records; ++i) {
    const std::size_t start = pos;
    const std::size_t len = skip_name(msg, pos);
    if (len == 0 || pos + len + 10 > msg.size()) return Found::malformed;
    const std::size_t fixed = pos + len;
    const std::size_t end = fixed + 10 + get_u16(&msg[fixed + 8]);
    if (end > msg.size()) return Found::malformed;
    if (get_u16(&msg[fixed]) == type::tsig) {
      if (i + 1 != records || i < first_additional) return Found::malformed;
      owner = start;
      found = Found::last;
    }
    pos = end;
  }
  if (found == Found::last && pos != msg.size()) return Found::malformed;
  return found;
}

std::uint16_t error_code(Check c) {
  switch (c) {
    case Check::badkey: return badkey;
    case Check::badsig: return badsig;
    case Check::badtrunc: return badtrunc;
    case Check::badtime: return badtime;
    case Check::ok:
    case Check::formerr: return 0;
  }
  return 0;
}

Check verify_request(std::span<const std::uint8_t> msg, const Record& rec, const Key* key, std::uint64_t now,
                     std::uint16_t max_fudge) {
  if (key == nullptr || !key_matches(rec, *key)) return Check::badkey;
  if (const Check c = check_mac(msg, rec, *key, {}); c != Check::ok) return c;
  return time_ok(rec.time_signed, std::min(rec.fudge, max_fudge), now) ? Check::ok : Check::badtime;
}

Check verify_response(std::span<const std::uint8_t> msg, const Record& rec, const Key& key,
                      std::span<const std::uint8_t> request_mac, std::uint64_t now, bool timers_only) {
  if (!key_matches(rec, key)) return Check::badkey;
  // BADKEY, BADSIG and BADTRUNC answers are unsigned (RFC 8945 §5.3.2): the error is all they say.
  if (rec.mac_length == 0 && rec.error != 0) {
    if (rec.error == badkey) return Check::badkey;
    if (rec.error == badtrunc) return Check::badtrunc;
    return Check::badsig;
  }
  if (const Check c = check_mac(msg, rec, key, request_mac, timers_only); c != Check::ok) return c;
  if (rec.error == badtime) return Check::badtime;
  if (rec.error != 0) return Check::badsig;
  return time_ok(rec.time_signed, rec.fudge, now) ? Check::ok : Check::badtime;
}

std::size_t record_size(std::size_t key_name_length, Algorithm alg, bool unsigned_error, std::size_t other_length) {
  return key_name_length + 10 + sizeof sha256_wire + 16 + (unsigned_error ? 0 : mac_size(alg)) + other_length;
}

std::size_t sign(std::span<std::uint8_t> buf, std::size_t length, const Key& key, const SignParams& p) {
  if (p.unsigned_error) {
    return sign_unsigned(buf, length, {reinterpret_cast<const std::uint8_t*>(key.name.data()), key.name.size()},
                         alg_wire(key.algorithm), p);
  }
  const std::span<const std::uint8_t> name(reinterpret_cast<const std::uint8_t*>(key.name.data()), key.name.size());
  if (length < header_size || length + record_size(name.size(), key.algorithm, false, p.other.size()) > buf.size()) return 0;
  Hmac h(key);
  if (!p.request_mac.empty()) {
    h.u16(static_cast<std::uint16_t>(p.request_mac.size()));
    h.update(p.request_mac);
  }
  feed_message(h, buf, length, p.original_id, get_u16(&buf[10]));
  if (p.timers_only) feed_timers(h, p.time_signed, p.fudge);
  else feed_variables(h, name, alg_wire(key.algorithm), p.time_signed, p.fudge, p.error, p.other);
  std::array<std::uint8_t, max_mac> mac{};
  h.final(mac.data());
  const std::size_t n = write_record(buf, length, name, alg_wire(key.algorithm), p, mac.data(), mac_size(key.algorithm));
  sodium_memzero(mac.data(), mac.size());
  return n;
}

std::size_t sign_unsigned(std::span<std::uint8_t> buf, std::size_t length, std::span<const std::uint8_t> key_name,
                          std::span<const std::uint8_t> alg, const SignParams& p) {
  const std::size_t size = key_name.size() + 10 + alg.size() + 16 + p.other.size();
  if (length < header_size || length + size > buf.size()) return 0;
  return write_record(buf, length, key_name, alg, p, nullptr, 0);
}

namespace {

// The octets of the longest of `zones` that holds `qname`, plus one (the root counts 2); 0: none.
std::size_t longest_zone(const std::vector<std::string>& zones, std::span<const std::uint8_t> qname) {
  std::size_t best = 0;
  for (const std::string& z : zones) {
    if (z.size() == 1) {  // the root holds every name
      best = std::max<std::size_t>(best, 2);
      continue;
    }
    // Label by label: a suffix that starts on a label boundary.
    for (std::size_t at = 0; at < qname.size() && qname[at] != 0; at += 1 + qname[at]) {
      if (qname.size() - at == z.size() && std::memcmp(qname.data() + at, z.data(), z.size()) == 0) {
        best = std::max(best, z.size() + 1);
        break;
      }
    }
  }
  return best;
}

}  // namespace

const Rule* Policy::rule_for(std::span<const std::uint8_t> qname) const {
  std::uint32_t block = 0;
  if (!blocks.empty()) {
    std::size_t best_key = 0, best_served = 0;
    bool found = false;
    for (std::uint32_t b = 0; b < blocks.size(); ++b) {
      const std::size_t key = longest_zone(blocks[b].keys, qname);
      if (key == 0) continue;
      const std::size_t served = longest_zone(blocks[b].served, qname);
      if (!found || key > best_key || (key == best_key && served > best_served)) {
        found = true;
        block = b;
        best_key = key;
        best_served = served;
      }
    }
    if (!found) return nullptr;
  }
  const Rule* best = nullptr;
  std::size_t best_length = 0;
  for (const Rule& r : rules) {
    if (!blocks.empty() && r.block != block) continue;
    const std::size_t length = r.zones.empty() ? 1 : longest_zone(r.zones, qname);
    if (length > best_length) {
      best = &r;
      best_length = length;
    }
  }
  return best;
}

std::span<const std::uint8_t> mac_of(std::span<const std::uint8_t> msg, const Record& rec) {
  return msg.subspan(rec.mac_offset, rec.mac_length);
}

}  // namespace wgsd::dns::tsig
