// TSIG (RFC 8945) over message bytes: keys, reading the TSIG record of a message, verifying a
// request or a response, signing a message in place. Pure; never throws on bad input; the verify and
// sign paths allocate nothing (the HMAC state lives on the stack).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/wire.hpp"

namespace wgsd::dns::tsig {

enum class Algorithm : std::uint8_t { hmac_sha256, hmac_sha512 };

/// TSIG errors (RFC 8945 §3), carried in the record, never in the header.
inline constexpr std::uint16_t badsig = 16, badkey = 17, badtime = 18, badtrunc = 22;
inline constexpr std::size_t max_mac = 64;
inline constexpr std::uint16_t default_fudge = 300;

/// "hmac-sha256", "HMAC-SHA512." ... ; nullopt for anything else (hmac-md5, hmac-sha1, ...).
std::optional<Algorithm> algorithm_from_name(std::string_view text);
/// The same for a wire name (case-insensitive).
std::optional<Algorithm> algorithm_from_wire(std::span<const std::uint8_t> wire);
std::string_view algorithm_name(Algorithm a);       ///< "hmac-sha256"
std::size_t mac_size(Algorithm a);                  ///< 32 or 64
/// The shortest MAC accepted: the larger of 10 bytes and half the hash (RFC 8945 §5.2.2.1).
std::size_t min_mac_size(Algorithm a);

/// A shared secret. The secret is wiped when the key goes; it is never printed.
struct Key {
  std::string name;                 ///< wire form, lower case, uncompressed
  Algorithm algorithm{Algorithm::hmac_sha256};
  std::vector<std::uint8_t> secret;
  /// The HMAC state after the key is absorbed (libsodium's, opaque here), set by the constructor
  /// below (a default-constructed key signs nothing valid): each MAC starts from a
  /// copy instead of hashing the padded key again, two hash blocks fewer per signature.
  alignas(16) std::array<std::uint8_t, 416> keyed_state{};

  Key() = default;
  Key(std::string wire_name, Algorithm alg, std::vector<std::uint8_t> bytes);
  Key(const Key&) = default;
  Key(Key&&) noexcept = default;
  Key& operator=(const Key&) = default;
  Key& operator=(Key&&) noexcept = default;
  ~Key();
};

/// A key from its text parts: NAME ("key.example." or "key.example"), the algorithm name, the secret
/// in base64. nullopt with `error` set (never containing the secret) when a part is bad.
std::optional<Key> make_key(std::string_view name, std::string_view algorithm, std::string_view base64, std::string& error);

/// The key named `wire_name` (lower case, uncompressed), or nullptr.
const Key* find_key(std::span<const Key> keys, std::span<const std::uint8_t> wire_name);

/// A TSIG record as read from a message. Offsets point into that message.
struct Record {
  std::size_t start{};               ///< offset of the record: the message without it ends here
  std::array<std::uint8_t, max_name> key_name{};   ///< lower case, uncompressed
  std::size_t key_name_length{};
  std::array<std::uint8_t, max_name> algorithm{};  ///< lower case, uncompressed
  std::size_t algorithm_length{};
  std::uint64_t time_signed{};       ///< 48 bits
  std::uint16_t fudge{};
  std::size_t mac_offset{};
  std::uint16_t mac_length{};
  std::uint16_t original_id{};
  std::uint16_t error{};
  std::size_t other_offset{};
  std::uint16_t other_length{};

  [[nodiscard]] std::span<const std::uint8_t> name() const { return {key_name.data(), key_name_length}; }
  [[nodiscard]] std::span<const std::uint8_t> algorithm_wire() const { return {algorithm.data(), algorithm_length}; }
};

/// Reads the TSIG record whose owner name starts at `owner` and which ends `msg`. nullopt when it is
/// not a TSIG of class ANY and TTL 0 whose RDATA adds up to exactly the rest of the message.
std::optional<Record> read_record(std::span<const std::uint8_t> msg, std::size_t owner);

/// Where the TSIG of a whole message is: none, one that ends the message, or a broken message (a
/// TSIG elsewhere, two of them, or records that run past the end).
enum class Found { none, last, malformed };
Found locate(std::span<const std::uint8_t> msg, std::size_t& owner);

/// The outcome of a check, in the order RFC 8945 §5.2 makes them.
enum class Check { ok, formerr, badkey, badsig, badtrunc, badtime };
std::uint16_t error_code(Check c);   ///< the TSIG error for a failed check (0 for ok and formerr)

/// Verifies a signed request `msg` carrying `rec` against `key` (nullptr: no key of that name), at
/// `now` (unix seconds). The algorithm must be the key's; a MAC longer than the hash or shorter than
/// min_mac_size() is malformed (FORMERR); the MAC is compared in constant time.
/// The time may be off by the request's fudge, and never by more than `max_fudge`.
Check verify_request(std::span<const std::uint8_t> msg, const Record& rec, const Key* key, std::uint64_t now,
                     std::uint16_t max_fudge = 0xffff);

/// Verifies a response to a request that carried `request_mac`: the same checks, plus the record's
/// own error field (a BADTIME answer verifies, then reports badtime). `timers_only`: a message after
/// the first of a multi-message answer, `request_mac` then being the previous message's MAC.
Check verify_response(std::span<const std::uint8_t> msg, const Record& rec, const Key& key,
                      std::span<const std::uint8_t> request_mac, std::uint64_t now, bool timers_only = false);

/// What goes into a TSIG record besides the key.
struct SignParams {
  std::span<const std::uint8_t> request_mac;   ///< empty for a request; the request's MAC for a response
  bool unsigned_error{};                       ///< BADKEY/BADSIG/BADTRUNC: empty MAC, nothing computed
  std::uint64_t time_signed{};
  std::uint16_t fudge{default_fudge};
  std::uint16_t original_id{};
  std::uint16_t error{};
  std::span<const std::uint8_t> other;         ///< at most 6 bytes (BADTIME: the server's time)
  /// A message after the first of a multi-message answer (RFC 8945 §5.3.1): `request_mac` is the
  /// MAC of the previous message, and only the timers (time signed, fudge) follow the message.
  bool timers_only{};
};

/// Size of the record sign() appends with `key_name`/`alg`.
std::size_t record_size(std::size_t key_name_length, Algorithm alg, bool unsigned_error, std::size_t other_length);

/// Appends a TSIG record to the message `buf[0, length)` (ARCOUNT is incremented) and returns the new
/// length, or 0 if `buf` has no room. The MAC covers the message with its ID replaced by
/// `p.original_id` (RFC 8945 §4.3). With p.unsigned_error the record names `key_name`/`alg_wire`
/// and carries no MAC; `key` may then be null.
std::size_t sign(std::span<std::uint8_t> buf, std::size_t length, const Key& key, const SignParams& p);
std::size_t sign_unsigned(std::span<std::uint8_t> buf, std::size_t length, std::span<const std::uint8_t> key_name,
                          std::span<const std::uint8_t> alg_wire, const SignParams& p);

/// What one `tsig` directive asks for: the keys it accepts, the zones it accepts them for, which
/// query types must come signed there, and how far a signature's time may be from the server's clock.
struct Rule {
  std::vector<std::string> zones;       ///< wire form, lower case; empty: every name
  std::vector<Key> keys;                ///< accepted for names inside `zones` only
  std::uint32_t block{};                ///< the server block it is written in (index into Policy::blocks)
  bool require_all{};
  std::vector<std::uint16_t> require;   ///< query types that must be signed
  std::uint16_t fudge{default_fudge};
};
/// The `tsig` directives of the server blocks that share a group of sockets.
struct Policy {
  /// A server block: its zones (the block keys) and the zones of its wgsd directives, wire form.
  struct Block {
    std::vector<std::string> keys;
    std::vector<std::string> served;
  };
  std::vector<Block> blocks;   ///< empty: all rules are of one block
  std::vector<Rule> rules;
  /// The rule that governs `qname` (lower-case wire): the name belongs to the block whose key is
  /// its longest suffix (ties: the block serving the longest matching zone, then the first), and
  /// of that block's rules to the one with the longest zone holding it (ties: the first).
  /// nullptr: no rule, so no key is accepted for the name and nothing must be signed.
  [[nodiscard]] const Rule* rule_for(std::span<const std::uint8_t> qname) const;
};

/// The MAC of the record just written by sign() at the end of `msg` (for chaining into the answer).
std::span<const std::uint8_t> mac_of(std::span<const std::uint8_t> msg, const Record& rec);

}  // namespace wgsd::dns::tsig
