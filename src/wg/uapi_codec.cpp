#include "wg/uapi_codec.hpp"

#include <charconv>
#include <limits>
#include <unordered_set>

#include "wg/error.hpp"

namespace wgsd::wg {
namespace {

// Seconds since the epoch that still fit in nanoseconds as int64 (year 2242): more is corruption.
constexpr std::uint64_t max_handshake_sec = 1ULL << 33;

template <typename T>
bool parse_unsigned(std::string_view text, T& out) {
  if (text.empty()) return false;
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value > std::numeric_limits<T>::max()) return false;
  out = static_cast<T>(value);
  return true;
}

std::string quote(std::string_view value) {
  // Values are quoted in messages but cut short: a hostile daemon must not flood the log.
  constexpr std::size_t max = 64;
  std::string out = "'";
  for (char c : value.substr(0, max)) out.push_back((c >= 0x20 && c < 0x7f) ? c : '?');
  if (value.size() > max) out += "...";
  return out + "'";
}

// Reads `errno=N` lines; returns N, or throws if the reply has no such line where it must.
class LineReader {
public:
  LineReader(std::string_view text, const std::string& device) : text_(text), device_(device) {}

  // Next "key=value" line; false at the blank line that ends the reply.
  bool next(std::string_view& key, std::string_view& value) {
    const auto nl = text_.find('\n', pos_);
    if (nl == std::string_view::npos) fail("truncated reply (no end of line after byte " + std::to_string(pos_) + ")");
    const std::string_view line = text_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    ++line_;
    if (line.empty()) return false;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) fail("malformed line " + quote(line));
    key = line.substr(0, eq);
    value = line.substr(eq + 1);
    return true;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(std::errc::bad_message, "uapi: device '" + device_ + "': line " + std::to_string(line_) + ": " + what);
  }

  void check_end() const {
    if (pos_ != text_.size()) fail("unexpected data after the end of the reply");
  }

private:
  std::string_view text_;
  const std::string& device_;
  std::size_t pos_{};
  std::size_t line_{};
};

void check_errno(LineReader& reader, std::string_view value, const std::string& device, const char* op) {
  int code = 0;
  if (!parse_unsigned(value, code)) reader.fail("bad errno " + quote(value));
  if (code != 0) {
    throw Error(code, std::string("uapi: ") + op + " device '" + device + "'");
  }
}

}  // namespace

Device parse_uapi_get(std::string_view reply, const std::string& device) {
  Device dev;
  dev.name = device;
  LineReader reader(reply, device);
  std::unordered_set<Key, KeyHash> seen;
  {
    // One allocation each rather than ~17 regrowths at 100,000 peers. Capped: a hostile reply full
    // of short "public_key=" lines must not make this reserve gigabytes before the parse rejects it.
    constexpr std::size_t reserve_cap = 1 << 17;
    std::size_t peers = 0;
    for (auto at = reply.find("public_key="); at != std::string_view::npos && peers < reserve_cap; at = reply.find("public_key=", at + 11)) ++peers;
    seen.reserve(peers);
    dev.peers.reserve(peers);
  }
  Peer* peer = nullptr;
  std::uint64_t handshake_sec = 0;
  bool seen_handshake_sec = false;
  std::uint64_t handshake_nsec = 0;
  bool seen_listen_port = false;
  bool seen_fwmark = false;
  bool seen_private_key = false;
  bool got_errno = false;

  auto finish_peer = [&] {
    if (peer != nullptr && (handshake_sec != 0 || handshake_nsec != 0)) {
      peer->last_handshake = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
          std::chrono::seconds(handshake_sec) + std::chrono::nanoseconds(handshake_nsec)));
    }
    handshake_sec = 0;
    seen_handshake_sec = false;
    handshake_nsec = 0;
  };

  std::string_view key;
  std::string_view value;
  while (reader.next(key, value)) {
    if (key == "errno") {
      check_errno(reader, value, device, "get");
      got_errno = true;
      continue;
    }
    if (got_errno) reader.fail("key " + quote(key) + " after errno");
    if (key == "public_key") {
      finish_peer();
      auto k = Key::from_hex(value);
      if (!k) reader.fail("bad public_key " + quote(value));
      if (!seen.insert(*k).second) reader.fail("duplicate peer " + k->to_base64());
      dev.peers.push_back(Peer{});
      peer = &dev.peers.back();
      peer->public_key = *k;
    } else if (peer == nullptr) {
      if (key == "private_key") {
        if (seen_private_key) reader.fail("duplicate private_key");
        seen_private_key = true;
        SecretKey secret;
        if (!secret.assign_hex(value)) reader.fail("bad private_key (not 64 hex digits)");
        if (!secret.is_zero()) dev.public_key = secret.public_key();
      } else if (key == "listen_port") {
        if (seen_listen_port || !parse_unsigned(value, dev.listen_port)) reader.fail("bad or duplicate listen_port " + quote(value));
        seen_listen_port = true;
      } else if (key == "fwmark") {
        if (seen_fwmark || !parse_unsigned(value, dev.fwmark)) reader.fail("bad or duplicate fwmark " + quote(value));
        seen_fwmark = true;
      }
      // Other device keys are skipped: newer daemons may add some.
    } else if (key == "endpoint") {
      auto ep = Endpoint::parse(value);
      if (!ep || peer->endpoint) reader.fail("bad or duplicate endpoint " + quote(value));
      peer->endpoint = *ep;
    } else if (key == "allowed_ip") {
      auto prefix = Prefix::parse(value);
      if (!prefix) reader.fail("bad allowed_ip " + quote(value));
      peer->allowed_ips.push_back(*prefix);
    } else if (key == "last_handshake_time_sec") {
      if (seen_handshake_sec || !parse_unsigned(value, handshake_sec) || handshake_sec > max_handshake_sec) {
        reader.fail("bad last_handshake_time_sec " + quote(value));
      }
      seen_handshake_sec = true;
    } else if (key == "last_handshake_time_nsec") {
      if (!parse_unsigned(value, handshake_nsec) || handshake_nsec >= 1'000'000'000) reader.fail("bad last_handshake_time_nsec " + quote(value));
    } else if (key == "rx_bytes") {
      if (!parse_unsigned(value, peer->rx_bytes)) reader.fail("bad rx_bytes " + quote(value));
    } else if (key == "tx_bytes") {
      if (!parse_unsigned(value, peer->tx_bytes)) reader.fail("bad tx_bytes " + quote(value));
    } else if (key == "persistent_keepalive_interval") {
      if (!parse_unsigned(value, peer->persistent_keepalive)) reader.fail("bad persistent_keepalive_interval " + quote(value));
    } else if (key == "preshared_key") {
      if (value.size() != 64) reader.fail("bad preshared_key (not 64 hex digits)");
      peer->has_preshared_key = value.find_first_not_of('0') != std::string_view::npos;
    } else if (key == "protocol_version") {
      if (value != "1") reader.fail("unsupported protocol_version " + quote(value));
    }
    // Other peer keys are skipped, as wg(8) does.
  }
  finish_peer();
  if (!got_errno) reader.fail("truncated reply (no errno line)");
  reader.check_end();
  return dev;
}

std::string format_uapi_set(const DeviceUpdate& update) {
  std::string out = "set=1\n";
  for (const auto& peer : update.peers) {
    out += "public_key=" + hex_encode(peer.public_key.bytes()) + "\n";
    if (peer.update_only) out += "update_only=true\n";
    if (peer.endpoint) out += "endpoint=" + peer.endpoint->to_string() + "\n";
  }
  out += "\n";
  return out;
}

void parse_uapi_set_reply(std::string_view reply, const std::string& device) {
  LineReader reader(reply, device);
  std::string_view key;
  std::string_view value;
  bool got_errno = false;
  while (reader.next(key, value)) {
    if (key != "errno" || got_errno) reader.fail("unexpected key " + quote(key) + " in reply to set");
    check_errno(reader, value, device, "set");
    got_errno = true;
  }
  if (!got_errno) reader.fail("truncated reply (no errno line)");
  reader.check_end();
}

}  // namespace wgsd::wg
