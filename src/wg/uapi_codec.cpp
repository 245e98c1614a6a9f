#include "wg/uapi_codec.hpp"

#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

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

// "key=value" with a non-empty key; false otherwise.
bool split_line(std::string_view line, std::string_view& key, std::string_view& value) {
  const auto eq = line.find('=');
  if (eq == std::string_view::npos || eq == 0) return false;
  key = line.substr(0, eq);
  value = line.substr(eq + 1);
  return true;
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
    if (!split_line(line, key, value)) fail("malformed line " + quote(line));
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

// The value of an `errno=` line: 0 returns, anything else throws; `fail` (which throws) reports a
// value that is not a number with the parser's line.
template <typename Fail>
void check_errno(std::string_view value, const std::string& device, const char* op, Fail&& fail) {
  int code = 0;
  if (!parse_unsigned(value, code)) fail("bad errno " + quote(value));
  if (code != 0) {
    throw Error(code, std::string("uapi: ") + op + " device '" + device + "'");
  }
}

// A line cut by the end of a chunk, kept until the next chunk completes it. It may be the private
// key's line: every byte it held is zeroed once the line is parsed, and when the buffer grows.
class CarryBuffer {
public:
  CarryBuffer() = default;
  CarryBuffer(const CarryBuffer&) = delete;
  CarryBuffer& operator=(const CarryBuffer&) = delete;
  ~CarryBuffer() { clear(); }

  void append(std::string_view piece) {
    if (piece.size() > capacity_ - size_) grow(size_ + piece.size());
    std::memcpy(buf_.get() + size_, piece.data(), piece.size());
    size_ += piece.size();
  }
  void assign(std::string_view piece) {
    clear();
    append(piece);
  }
  /// Zeroes what was held and empties the buffer; its capacity stays for the next line.
  void clear() noexcept {
    if (size_ != 0) sodium_memzero(buf_.get(), size_);
    size_ = 0;
  }
  [[nodiscard]] std::string_view view() const noexcept { return {buf_.get(), size_}; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool holds(std::string_view text) const {
    return std::string_view(buf_.get(), capacity_).find(text) != std::string_view::npos;
  }

private:
  void grow(std::size_t needed) {
    const std::size_t capacity = std::max({needed, 2 * capacity_, std::size_t{128}});
    auto next = std::make_unique<char[]>(capacity);  // zeroed
    const std::size_t size = size_;
    if (size != 0) std::memcpy(next.get(), buf_.get(), size);
    clear();
    buf_ = std::move(next);
    capacity_ = capacity;
    size_ = size;
  }

  std::unique_ptr<char[]> buf_;
  std::size_t size_{};
  std::size_t capacity_{};
};

}  // namespace

struct UapiGetParser::State {
  explicit State(std::string device) : device(std::move(device)) {}

  const std::string device;
  Device dev;
  // The peers' keys, for the duplicate check: an open-addressing table of indices into dev.peers
  // (0 is empty, else index + 1), at most half full. No allocation per peer: a node-based set was
  // a sixth of what an idle refresh cost.
  std::vector<std::uint32_t> slots;
  unsigned shift{64};
  CarryBuffer carry;               // a line cut by the end of a chunk
  std::size_t bytes{};             // fed so far, for messages
  std::size_t line{};
  bool ended{};                    // the blank line after errno was read
  Peer* peer = nullptr;
  std::uint64_t handshake_sec = 0;
  bool seen_handshake_sec = false;
  std::uint64_t handshake_nsec = 0;
  bool seen_listen_port = false;
  bool seen_fwmark = false;
  bool seen_private_key = false;
  bool got_errno = false;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(std::errc::bad_message, "uapi: device '" + device + "': line " + std::to_string(line) + ": " + what);
  }

  void finish_peer() {
    if (peer != nullptr && (handshake_sec != 0 || handshake_nsec != 0)) {
      peer->last_handshake = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
          std::chrono::seconds(handshake_sec) + std::chrono::nanoseconds(handshake_nsec)));
    }
    handshake_sec = 0;
    seen_handshake_sec = false;
    handshake_nsec = 0;
  }

  [[nodiscard]] std::size_t slot_of(const Key& k) const noexcept {
    // Public keys are uniform bytes; two words of them, mixed, spread keys that share a prefix.
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, k.bytes().data(), sizeof a);
    std::memcpy(&b, k.bytes().data() + k.bytes().size() - sizeof b, sizeof b);
    return static_cast<std::size_t>(((a ^ ((b << 32) | (b >> 32))) * 0x9E3779B97F4A7C15ULL) >> shift);
  }

  void place(std::size_t index) {
    const std::size_t mask = slots.size() - 1;
    std::size_t i = slot_of(dev.peers[index].public_key);
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = static_cast<std::uint32_t>(index + 1);
  }

  void grow(std::size_t at_least) {
    unsigned bits = 6;
    while ((std::size_t{1} << bits) < at_least) ++bits;
    slots.assign(std::size_t{1} << bits, 0);
    shift = 64 - bits;
    for (std::size_t i = 0; i < dev.peers.size(); ++i) place(i);
  }

  // Records `k` as the key of the peer about to be added; false when a peer already has it.
  bool remember(const Key& k) {
    const std::size_t index = dev.peers.size();
    if (index >= std::numeric_limits<std::uint32_t>::max() - 1) fail("too many peers");
    if ((index + 1) * 2 > slots.size()) grow((index + 1) * 2);
    const std::size_t mask = slots.size() - 1;
    for (std::size_t i = slot_of(k);; i = (i + 1) & mask) {
      if (slots[i] == 0) {
        slots[i] = static_cast<std::uint32_t>(index + 1);
        return true;
      }
      if (dev.peers[slots[i] - 1].public_key == k) return false;
    }
  }

  void take(std::string_view line_text) {
    if (ended) fail("unexpected data after the end of the reply");
    ++line;
    if (line_text.empty()) {
      if (!got_errno) fail("truncated reply (no errno line)");
      finish_peer();
      ended = true;
      return;
    }
    std::string_view key;
    std::string_view value;
    if (!split_line(line_text, key, value)) fail("malformed line " + quote(line_text));
    if (key == "errno") {
      check_errno(value, device, "get", [this](const std::string& what) { fail(what); });
      got_errno = true;
      return;
    }
    if (got_errno) fail("key " + quote(key) + " after errno");
    if (key == "public_key") {
      finish_peer();
      auto k = Key::from_hex(value);
      if (!k) fail("bad public_key " + quote(value));
      if (!remember(*k)) fail("duplicate peer " + k->to_base64());
      dev.peers.push_back(Peer{});
      peer = &dev.peers.back();
      peer->public_key = *k;
    } else if (peer == nullptr) {
      if (key == "private_key") {
        if (seen_private_key) fail("duplicate private_key");
        seen_private_key = true;
        SecretKey secret;
        if (!secret.assign_hex(value)) fail("bad private_key (not 64 hex digits)");
        if (!secret.is_zero()) dev.public_key = secret.public_key();
      } else if (key == "listen_port") {
        if (seen_listen_port || !parse_unsigned(value, dev.listen_port)) fail("bad or duplicate listen_port " + quote(value));
        seen_listen_port = true;
      } else if (key == "fwmark") {
        if (seen_fwmark || !parse_unsigned(value, dev.fwmark)) fail("bad or duplicate fwmark " + quote(value));
        seen_fwmark = true;
      }
      // Other device keys are skipped: newer daemons may add some.
    } else if (key == "endpoint") {
      auto ep = Endpoint::parse(value);
      if (!ep || peer->endpoint) fail("bad or duplicate endpoint " + quote(value));
      peer->endpoint = *ep;
    } else if (key == "allowed_ip") {
      auto prefix = Prefix::parse(value);
      if (!prefix) fail("bad allowed_ip " + quote(value));
      peer->allowed_ips.push_back(*prefix);
    } else if (key == "last_handshake_time_sec") {
      if (seen_handshake_sec || !parse_unsigned(value, handshake_sec) || handshake_sec > max_handshake_sec) {
        fail("bad last_handshake_time_sec " + quote(value));
      }
      seen_handshake_sec = true;
    } else if (key == "last_handshake_time_nsec") {
      if (!parse_unsigned(value, handshake_nsec) || handshake_nsec >= 1'000'000'000) fail("bad last_handshake_time_nsec " + quote(value));
    } else if (key == "rx_bytes") {
      if (!parse_unsigned(value, peer->rx_bytes)) fail("bad rx_bytes " + quote(value));
    } else if (key == "tx_bytes") {
      if (!parse_unsigned(value, peer->tx_bytes)) fail("bad tx_bytes " + quote(value));
    } else if (key == "persistent_keepalive_interval") {
      if (!parse_unsigned(value, peer->persistent_keepalive)) fail("bad persistent_keepalive_interval " + quote(value));
    } else if (key == "preshared_key") {
      if (value.size() != 64) fail("bad preshared_key (not 64 hex digits)");
      peer->has_preshared_key = value.find_first_not_of('0') != std::string_view::npos;
    } else if (key == "protocol_version") {
      if (value != "1") fail("unsupported protocol_version " + quote(value));
    }
    // Other peer keys are skipped, as wg(8) does.
  }
};

UapiGetParser::UapiGetParser(const std::string& device, std::size_t expected_peers) : state_(std::make_unique<State>(device)) {
  state_->dev.name = device;
  // One allocation each rather than ~17 regrowths at 100,000 peers. Capped: a hint is only a hint.
  constexpr std::size_t reserve_cap = 1 << 17;
  state_->grow(2 * std::min(expected_peers, reserve_cap));
  state_->dev.peers.reserve(std::min(expected_peers, reserve_cap));
}

UapiGetParser::~UapiGetParser() = default;

bool UapiGetParser::retains(std::string_view text) const { return state_->carry.holds(text); }

bool UapiGetParser::feed(std::string_view chunk) {
  State& s = *state_;
  if (chunk.empty()) return s.ended;
  if (s.ended) s.fail("unexpected data after the end of the reply");
  s.bytes += chunk.size();
  if (!s.carry.empty()) {
    // Complete the line the last chunk cut, then go on in place.
    const auto nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      s.carry.append(chunk);
      return false;
    }
    s.carry.append(chunk.substr(0, nl));
    s.take(s.carry.view());
    s.carry.clear();
    chunk.remove_prefix(nl + 1);
  }
  for (auto nl = chunk.find('\n'); nl != std::string_view::npos; nl = chunk.find('\n')) {
    s.take(chunk.substr(0, nl));
    chunk.remove_prefix(nl + 1);
  }
  if (!chunk.empty()) {
    if (s.ended) s.fail("unexpected data after the end of the reply");
    s.carry.assign(chunk);
  }
  return s.ended;
}

Device UapiGetParser::finish() {
  State& s = *state_;
  if (!s.ended) s.fail("truncated reply (no end of line after byte " + std::to_string(s.bytes - s.carry.size()) + ")");
  return std::move(s.dev);
}

Device parse_uapi_get(std::string_view reply, const std::string& device) {
  UapiGetParser parser(device);
  parser.feed(reply);
  return parser.finish();
}

std::string format_uapi_set(const DeviceUpdate& update) {
  std::string out = "set=1\n";
  for (const auto& peer : update.peers) {
    out += "public_key=" + hex_encode(peer.public_key.bytes()) + "\n";
    if (peer.remove) {
      out += "remove=true\n";
      continue;
    }
    if (peer.update_only) out += "update_only=true\n";
    if (peer.endpoint) out += "endpoint=" + peer.endpoint->to_string() + "\n";
    if (peer.persistent_keepalive) out += "persistent_keepalive_interval=" + std::to_string(*peer.persistent_keepalive) + "\n";
    if (peer.allowed_ips) {
      out += "replace_allowed_ips=true\n";
      for (const auto& a : *peer.allowed_ips) out += "allowed_ip=" + a.to_string() + "\n";
    }
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
    check_errno(value, device, "set", [&reader](const std::string& what) { reader.fail(what); });
    got_errno = true;
  }
  if (!got_errno) reader.fail("truncated reply (no errno line)");
  reader.check_end();
}

}  // namespace wgsd::wg
