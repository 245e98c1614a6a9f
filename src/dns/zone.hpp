// The immutable snapshot a query is answered from: every RRset precomputed in wire form.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/acl.hpp"
#include "dns/pool.hpp"


namespace wgsd::dns {

struct Journal;

/// One RRset in wire form without owner names, as the builder assembles it: each RR is TYPE CLASS
/// TTL RDLENGTH RDATA, and the responder writes the owner in front as a compression pointer to
/// the question. Queries never see this form: a finished node packs its RRsets into one block.
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
};

namespace packed {
// The layout of a node's block. Offsets count from the start of the block; every table is 4-byte
// aligned. A query touches the block and nothing else, so a lookup costs one or two cache misses
// however large the zone is.
struct Head {
  std::uint16_t name_size;
  std::uint8_t rrset_count;
  std::uint8_t dynamic_address;
};
struct RRset {
  std::uint16_t type;
  std::uint16_t extra_count;
  std::uint32_t rr_count;  // a PTR set holds every peer
  std::uint32_t wire;    // offset of the RR tails
  std::uint32_t ends;    // offset of rr_count uint32: where each RR ends, counted from `wire`
  std::uint32_t extras;  // offset of extra_count Extra
};
struct Extra {
  std::uint16_t answer_rr;
  std::uint16_t name_offset;
  std::uint32_t dynamic_address;
  std::uint32_t tail_size;
  std::uint32_t tail;    // offset of the tail
};
inline constexpr std::size_t rrsets_offset(std::size_t name_size) { return (sizeof(Head) + name_size + 3) & ~std::size_t{3}; }
}  // namespace packed

/// One RRset as queries read it: a view into its node's block.
class RRsetRef {
public:
  struct Extra {
    std::uint16_t answer_rr;
    std::uint16_t name_offset;
    bool dynamic_address;
    std::string_view tail;
  };

  RRsetRef() = default;
  RRsetRef(const std::byte* block, const packed::RRset* head) : block_(block), head_(head) {}

  explicit operator bool() const { return head_ != nullptr; }
  [[nodiscard]] std::uint16_t type() const { return head_->type; }
  [[nodiscard]] std::size_t count() const { return head_->rr_count; }
  /// All RR tails back to back.
  [[nodiscard]] std::string_view wire() const { return {chars(head_->wire), end(count())}; }
  [[nodiscard]] std::string_view rr(std::size_t i) const {
    const std::uint32_t begin = i == 0 ? 0 : end(i);
    return {chars(head_->wire + begin), end(i + 1) - begin};
  }
  [[nodiscard]] std::size_t extra_count() const { return head_->extra_count; }
  [[nodiscard]] Extra extra(std::size_t i) const {
    const auto* e = reinterpret_cast<const packed::Extra*>(block_ + head_->extras) + i;
    return {e->answer_rr, e->name_offset, e->dynamic_address != 0, {chars(e->tail), e->tail_size}};
  }

private:
  [[nodiscard]] const char* chars(std::uint32_t offset) const { return reinterpret_cast<const char*>(block_ + offset); }
  // End of RR i-1 (i >= 1) within the tails.
  [[nodiscard]] std::uint32_t end(std::size_t i) const {
    return i == 0 ? 0 : reinterpret_cast<const std::uint32_t*>(block_ + head_->ends)[i - 1];
  }

  const std::byte* block_{};
  const packed::RRset* head_{};
};

/// A name as queries read it: a view into its node's block. Empty (false) when not found.
class NodeRef {
public:
  NodeRef() = default;
  explicit NodeRef(const std::byte* block) : block_(block) {}

  explicit operator bool() const { return block_ != nullptr; }
  friend bool operator==(NodeRef, NodeRef) = default;
  /// The block itself: the node's identity.
  [[nodiscard]] const std::byte* block() const { return block_; }
  /// The lower-case wire name.
  [[nodiscard]] std::string_view name() const { return {reinterpret_cast<const char*>(block_ + sizeof(packed::Head)), head().name_size}; }
  /// A/AAAA of `self` without endpoint: answered from the query's local address.
  [[nodiscard]] bool dynamic_address() const { return head().dynamic_address != 0; }
  [[nodiscard]] std::size_t rrset_count() const { return head().rrset_count; }
  [[nodiscard]] RRsetRef rrset(std::size_t i) const {
    return {block_, reinterpret_cast<const packed::RRset*>(block_ + packed::rrsets_offset(head().name_size)) + i};
  }
  /// The RRset of that type; false when there is none.
  [[nodiscard]] RRsetRef find(std::uint16_t type) const {
    for (std::size_t i = 0; i < rrset_count(); ++i) {
      if (const RRsetRef r = rrset(i); r.type() == type) return r;
    }
    return {};
  }

private:
  [[nodiscard]] const packed::Head& head() const { return *reinterpret_cast<const packed::Head*>(block_); }
  const std::byte* block_{};
};

/// A name in the zone and all its RRsets, packed into one block. No RRsets: an empty
/// non-terminal or a name without data (NODATA). Immutable; shared between snapshots.
class Node {
public:
  Node(std::string_view name, const std::vector<RRset>& rrsets, bool dynamic_address);

  [[nodiscard]] NodeRef ref() const { return NodeRef(block_.get()); }

  /// For a peer's node: a hash of what it was built from, so the next build can reuse it whole.
  std::array<std::uint64_t, 2> source{};

private:
  std::unique_ptr<std::byte[]> block_;
};

/// One zone's answers. Immutable once built; shared between threads as shared_ptr<const Zone>.
struct Zone {
  std::string apex;                  ///< text, lower case, trailing dot
  std::string apex_wire;             ///< lower-case wire form
  bool loaded{};                     ///< false until the device was read once: queries get SERVFAIL
  std::uint32_t data_ttl{};          ///< of the peers' records, and of the address written per query
  std::uint32_t serial{};
  std::string digest;                ///< of everything published; a change rebuilds the zone
  /// Of the transfer view (everything but handshake times): a change bumps the serial, so that
  /// secondaries see a new version when endpoints, allowed IPs or the peer set change, not when a
  /// handshake is renewed (docs/transfer.md).
  std::string view_digest;
  /// Every name. Shared: a rebuild reuses the nodes of peers that did not change.
  std::vector<std::shared_ptr<const Node>> nodes;
  std::size_t published{};           ///< peers in the PTR set
  /// The `pool` names: their nodes are in `nodes`, and their answers are drawn per query.
  std::vector<PoolSnapshot> pools;

  /// The pool whose node `block` is (its name or its SRV name); nullptr for every other node.
  [[nodiscard]] const PoolSnapshot* pool_at(const std::byte* block) const {
    for (const auto& p : pools) {
      if (p.address_block == block || p.service_block == block) return &p;
    }
    return nullptr;
  }
  /// The IXFR steps that lead to this version (dns/ixfr_journal.hpp); null: none kept.
  std::shared_ptr<const Journal> journal;

  /// Builds the name index over `nodes`; a name that appears twice keeps its first node.
  void index();
  /// The node for a lower-case wire name; false when there is none.
  [[nodiscard]] NodeRef find(std::string_view wire) const {
    const Slot* s = slot(wire);
    return s != nullptr ? NodeRef(s->block) : NodeRef();
  }
  /// The node itself, for a rebuild that wants to share it; nullptr when there is none.
  [[nodiscard]] const std::shared_ptr<const Node>* shared(std::string_view wire) const;
  /// The SOA RRset, for the apex and for negative answers.
  [[nodiscard]] RRsetRef soa() const { return soa_; }

  /// Hints for a batch of queries (see dns::prefetch), in two passes so that the cache misses of
  /// the batch overlap: the first brings the slot where `wire` is looked up towards the cache and
  /// returns its hash; the second brings the block that slot holds. Neither changes anything.
  std::uint64_t prefetch_slot(std::string_view wire) const {
    const std::uint64_t h = hash(wire);
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_]);
    return h;
  }
  static constexpr std::size_t prefetch_lines = 8;
  void prefetch_block(std::uint64_t h) const {
    if (slots_.empty()) return;
    if (const std::byte* b = slots_[h & mask_].block; b != nullptr) {
      // A peer's block is about 400 bytes (name, tables, tails), and an answer reads most of it.
      for (std::size_t line = 0; line < prefetch_lines; ++line) __builtin_prefetch(b + 64 * line);
    }
  }

private:
  // Open addressing, linear probing, at most half full: the slot holds the block and the upper half
  // of the name's hash (the lower bits chose the slot), so a miss or a hit reads the slot and (on a
  // hash match) the node's block only. 16 bytes: four slots to a cache line.
  struct Slot {
    const std::byte* block{};
    std::uint32_t check{};  // hash >> 32
    std::uint32_t node{};
  };
  static_assert(sizeof(Slot) == 16);
  static std::uint32_t check_of(std::uint64_t h) { return static_cast<std::uint32_t>(h >> 32); }
  static std::uint64_t hash(std::string_view wire) { return std::hash<std::string_view>{}(wire); }
  // The slot holding `wire`, else the empty slot where it would go.
  [[nodiscard]] std::size_t probe(std::string_view wire, std::uint64_t h) const {
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.block == nullptr || (s.check == check_of(h) && NodeRef(s.block).name() == wire)) return i;
    }
  }
  [[nodiscard]] const Slot* slot(std::string_view wire) const {
    if (slots_.empty()) return nullptr;
    const Slot& s = slots_[probe(wire, hash(wire))];
    return s.block != nullptr ? &s : nullptr;
  }
  std::vector<Slot> slots_;
  std::size_t mask_{};
  RRsetRef soa_;
};

namespace tsig {
struct Policy;
}
struct TransferPolicy;

/// The zones served on one port; the longest matching apex answers.
struct ZoneSet {
  std::vector<std::shared_ptr<const Zone>> zones;
  /// Who may ask, for the sockets this set is answered on; null: everybody (no `acl`).
  std::shared_ptr<const Acl> acl;
  std::shared_ptr<const tsig::Policy> tsig;   ///< keys and rules of the `tsig` directives; null: none
  std::shared_ptr<const TransferPolicy> transfer;  ///< the `transfer` directives; null: no transfers
  /// Per zone: the label slot the server's metrics count it under (empty: all count as no zone).
  std::vector<std::uint8_t> metric_slots;
  /// The zone whose apex is the longest label-wise suffix of the lower-case wire name, or nullptr;
  /// `apex_offset` receives where the apex starts inside `wire`.
  const Zone* match(std::string_view wire, std::size_t& apex_offset) const;
};

}  // namespace wgsd::dns
