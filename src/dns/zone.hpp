// The immutable snapshot a query is answered from: every RRset precomputed in wire form.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "wg/types.hpp"

namespace wgsd::dns {

/// What the Corefile says about one zone (the `wgsd` directive and its block).
struct ZoneSettings {
  struct Self {
    std::optional<wg::Endpoint> endpoint;      ///< nullopt: listen port + the address the query came to
    std::vector<wg::Prefix> allowed_ips;       ///< published in TXT; empty: "allowed="
    friend bool operator==(const Self&, const Self&) = default;
  };
  struct NameServer {
    std::string name;                          ///< normalised, trailing dot
    std::optional<wg::IpAddress> address;      ///< glue; only for names inside the zone
    friend bool operator==(const NameServer&, const NameServer&) = default;
  };
  std::string zone;                            ///< normalised: lower case, trailing dot
  std::string device;
  std::optional<Self> self;                    ///< nullopt: the device itself is not published
  std::vector<wg::Key> hide;                   ///< never published, not even TXT
  std::optional<std::chrono::seconds> max_age; ///< nullopt: any endpoint is published, however old
  std::vector<NameServer> ns;                  ///< empty: ns1.<zone>
  friend bool operator==(const ZoneSettings&, const ZoneSettings&) = default;
};

/// One RRset in wire form without owner names: each RR is TYPE CLASS TTL RDLENGTH RDATA, and the
/// responder writes the owner in front as a compression pointer to the question.
struct RRset {
  /// An additional record for this RRset: its owner is the name found `name_offset` bytes into the
  /// tail of answer RR `answer_rr` (SRV target, NS name). `dynamic_address` marks the A/AAAA of
  /// `self` without endpoint, written per query from the local address; `tail` is then empty.
  struct Extra {
    std::uint16_t answer_rr{};
    std::uint16_t name_offset{};
    bool dynamic_address{};
    std::string tail;
  };

  std::uint16_t type{};
  std::string wire;                  ///< the RR tails back to back
  std::vector<std::uint32_t> ends;   ///< end offset of each RR in `wire`
  std::vector<Extra> extras;

  [[nodiscard]] std::size_t count() const { return ends.size(); }
  [[nodiscard]] std::string_view rr(std::size_t i) const {
    const std::uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(wire).substr(begin, ends[i] - begin);
  }
};

/// A name in the zone. No RRsets: an empty non-terminal or a name without data (NODATA).
struct Node {
  std::vector<RRset> rrsets;
  /// For a peer's node: a hash of what it was built from, so the next build can reuse it whole.
  std::array<std::uint64_t, 2> source{};
  /// A/AAAA of `self` without endpoint: answered from the query's local address.
  bool dynamic_address{};
  /// The RRset of that type, or nullptr.
  [[nodiscard]] const RRset* find(std::uint16_t type) const {
    for (const auto& r : rrsets) {
      if (r.type == type) return &r;
    }
    return nullptr;
  }
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// One zone's answers. Immutable once built; shared between threads as shared_ptr<const Zone>.
struct Zone {
  std::string apex;                  ///< text, lower case, trailing dot
  std::string apex_wire;             ///< lower-case wire form
  bool loaded{};                     ///< false until the device was read once: queries get SERVFAIL
  std::uint32_t serial{};
  std::string digest;                ///< of everything published; a change bumps the serial
  RRset soa;                         ///< for the apex and for negative answers
  /// By lower-case wire name. Shared: a rebuild reuses the nodes of peers that did not change.
  std::unordered_map<std::string, std::shared_ptr<const Node>, StringHash, std::equal_to<>> nodes;
  std::size_t published{};           ///< peers in the PTR set

  /// The node for a lower-case wire name, or nullptr.
  [[nodiscard]] const Node* find(std::string_view wire) const {
    auto it = nodes.find(wire);
    return it == nodes.end() ? nullptr : it->second.get();
  }
};

/// The zones served on one port; the longest matching apex answers.
struct ZoneSet {
  std::vector<std::shared_ptr<const Zone>> zones;
  /// The zone whose apex is the longest label-wise suffix of the lower-case wire name, or nullptr;
  /// `apex_offset` receives where the apex starts inside `wire`.
  const Zone* match(std::string_view wire, std::size_t& apex_offset) const;
};

/// A zone with only SOA and NS: what is served before the device was first read (`loaded` false).
/// `serial` carries on the serial of a zone of the same name served before (a reload).
std::shared_ptr<const Zone> build_empty_zone(const ZoneSettings& settings, std::uint32_t serial = 0);

/// A digest of what `build_zone` would publish for this device at `now`, computed without building:
/// equal digests mean equal zones (apart from the serial), so a refresh can skip the build.
std::string published_digest(const ZoneSettings& settings, const wg::Device& device, wg::Clock::time_point now);

/// Builds the zone from a device read at `now`. `previous` (may be null) carries the serial on:
/// it grows by at least 1 when what is published changes, and never goes backwards. The nodes of
/// peers that did not change since `previous` are shared with it rather than built again.
std::shared_ptr<const Zone> build_zone(const ZoneSettings& settings, const wg::Device& device,
                                       wg::Clock::time_point now, const Zone* previous);

/// What the refresher calls: `previous` itself when nothing published changed (nothing is built,
/// readers need not move), else build_zone's result. Reads the device's peers once either way.
std::shared_ptr<const Zone> refresh_zone(const ZoneSettings& settings, const wg::Device& device, wg::Clock::time_point now,
                                         const std::shared_ptr<const Zone>& previous);

}  // namespace wgsd::dns
