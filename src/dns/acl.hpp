// Who may ask what: the compiled `acl` statements of the server blocks that share a listening
// group, and the pure decision over (source address, question type, question name). Built once per
// configuration; deciding reads flat vectors and allocates nothing.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wg/address.hpp"

struct sockaddr;

namespace wgsd::dns {

enum class AclAction : std::uint8_t { allow, block, filter, drop };

/// A source network: family, prefix length, and the address bytes masked to that length.
struct AclNet {
  bool v6{};
  std::uint8_t length{};
  std::array<std::uint8_t, 16> bytes{};
  [[nodiscard]] bool contains(bool v6_source, const std::uint8_t* address) const noexcept;
};

/// `ACTION [type QTYPE...] [net CIDR...]`: an empty list matches everything (`*`).
struct AclStatement {
  AclAction action{AclAction::allow};
  std::vector<std::uint16_t> types;
  std::vector<AclNet> nets;
};

/// One `acl [ZONE...] { ... }`: its statements apply to names inside its zones.
struct AclRule {
  std::vector<std::string> zones;   ///< text, normalised ("example.com.", "." for all)
  std::vector<AclStatement> statements;
};

/// What decides on queries coming to one group of sockets: per server block listening there, its
/// zones (the block keys and the zones it serves) and its acl rules, in Corefile order.
class Acl {
public:
  struct Block {
    std::vector<std::string> keys;     ///< the server block's zones
    std::vector<std::string> served;   ///< the zones of its wgsd directives
    std::vector<AclRule> rules;
  };
  /// Compiles the blocks; zones must be valid names (the Corefile parser checked them).
  explicit Acl(const std::vector<Block>& blocks);

  /// The action for a query from `source` of type `qtype` for `qname` (lower-case, uncompressed
  /// wire form; "\0" for a message without a question). The query belongs to the block whose
  /// key is the longest suffix of the name (ties: the one that serves the longest matching zone);
  /// that block's rules whose zones contain the name are tried in order, and in each its
  /// statements: the first whose type and source match decides. `allow` ends the search; no
  /// match allows.
  [[nodiscard]] AclAction decide(const wg::IpAddress& source, std::uint16_t qtype, std::string_view qname) const noexcept;
  /// The same from a socket address (IPv4, IPv6, IPv4-mapped IPv6); an unknown family is allowed
  /// only by statements without `net`.
  [[nodiscard]] AclAction decide(const sockaddr* source, std::uint16_t qtype, std::string_view qname) const noexcept;

  /// For a message that does not parse (no question to go by): `drop` when, in any rule of any block,
  /// the first statement without `type` whose source matches says drop; otherwise allow.
  [[nodiscard]] AclAction decide_source(const sockaddr* source) const noexcept;

  /// Whether any block has a rule: without one, nothing needs to be asked.
  [[nodiscard]] bool empty() const noexcept { return statements_.empty(); }

private:
  struct Range {
    std::uint32_t begin{}, end{};
  };
  struct Statement {
    AclAction action;
    Range types, nets;
  };
  struct Rule {
    Range zones;       // into zones_
    Range statements;  // into statements_
  };
  struct CompiledBlock {
    Range keys, served, rules;
  };
  AclAction decide(bool known, bool v6, const std::uint8_t* address, std::uint16_t qtype, std::string_view qname) const noexcept;
  AclAction decide_source(bool known, bool v6, const std::uint8_t* address) const noexcept;
  /// The first statement of `rule` that matches the source, and the type unless `any_type`.
  const Statement* first_match(const Rule& rule, bool any_type, std::uint16_t qtype, bool known, bool v6,
                               const std::uint8_t* address) const noexcept;
  /// Octets of `qname`'s longest suffix among zones_[r] plus one (0: none).
  std::size_t longest(Range r, std::string_view qname) const noexcept;

  std::vector<std::string> zones_;  // lower-case wire form
  std::vector<std::uint16_t> types_;
  std::vector<AclNet> nets_;
  std::vector<Statement> statements_;
  std::vector<Rule> rules_;
  std::vector<CompiledBlock> blocks_;
};

/// Parses `ADDRESS/LENGTH` or a bare ADDRESS (a host: /32 or /128); nullopt if it is neither or the
/// length is out of range for the family.
std::optional<AclNet> parse_acl_net(std::string_view text);

}  // namespace wgsd::dns
