#include "server/acl.hpp"

#include <ldns/ldns.h>

#include <algorithm>

#include "dns/wire.hpp"
#include "server/zone_args.hpp"

namespace wgsd::server {
namespace {

[[noreturn]] void fail(const Token& at, const std::string& what) { throw ConfigError(at.where() + ": acl: " + what); }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "A", "aaaa", "SRV", "TYPE65": the number of a query type, or 0.
std::uint16_t qtype_of(const std::string& text) {
  std::string upper = text;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return static_cast<std::uint16_t>(ldns_get_rr_type_by_name(upper.c_str()));
}

dns::AclStatement parse_statement(const Directive& line) {
  dns::AclStatement s;
  const std::string action = lower(line.name.text);
  if (action == "allow") s.action = dns::AclAction::allow;
  else if (action == "block") s.action = dns::AclAction::block;
  else if (action == "filter") s.action = dns::AclAction::filter;
  else if (action == "drop") s.action = dns::AclAction::drop;
  else fail(line.name, "expected allow, block, filter or drop, got " + quoted(line.name.text));
  if (line.has_block) fail(line.name, action + ": does not take a block");
  bool seen_type = false, seen_net = false, any_type = false, any_net = false;
  const Token* section = nullptr;
  std::size_t in_section = 0;
  auto close_section = [&] {
    if (section != nullptr && in_section == 0) fail(*section, lower(section->text) + ": expected at least one value after it");
  };
  for (const auto& t : line.args) {
    const std::string word = lower(t.text);
    if (!t.quoted && (word == "type" || word == "net")) {
      close_section();
      bool& seen = word == "type" ? seen_type : seen_net;
      if (seen) fail(t, action + ": " + word + " given twice in one statement");
      seen = true;
      section = &t;
      in_section = 0;
      continue;
    }
    if (section == nullptr) fail(t, action + ": expected type or net, got " + quoted(t.text));
    ++in_section;
    if (lower(section->text) == "type") {
      if (t.text == "*") {
        any_type = true;
        continue;
      }
      const std::uint16_t qtype = qtype_of(t.text);
      if (qtype == 0) fail(t, "type: unknown query type " + quoted(t.text));
      s.types.push_back(qtype);
    } else {
      if (t.text == "*") {
        any_net = true;
        continue;
      }
      const auto net = dns::parse_acl_net(t.text);
      if (!net) fail(t, "net: expected a CIDR, got " + quoted(t.text));
      s.nets.push_back(*net);
    }
  }
  close_section();
  // `*` among others still matches everything.
  if (any_type) s.types.clear();
  if (any_net) s.nets.clear();
  return s;
}

}  // namespace

dns::AclRule parse_acl(const Directive& d, const std::vector<std::string>& block_zones) {
  dns::AclRule rule;
  rule.zones = directive_zones(d, block_zones);
  if (!d.has_block || d.block.empty()) fail(d.name, "expected a block of statements { allow|block|filter|drop [type QTYPE...] [net CIDR...] }");
  for (const auto& line : d.block) rule.statements.push_back(parse_statement(line));
  return rule;
}

std::shared_ptr<const dns::Acl> compile_acl(const std::vector<const BlockConfig*>& blocks) {
  std::vector<dns::Acl::Block> compiled;
  bool any = false;
  for (const BlockConfig* b : blocks) {
    dns::Acl::Block ab{b->zones, {}, b->acl};
    for (const auto& z : b->wgsd) ab.served.push_back(z.settings.zone);
    compiled.push_back(std::move(ab));
    any = any || !b->acl.empty();
  }
  return any ? std::make_shared<const dns::Acl>(compiled) : nullptr;
}

}  // namespace wgsd::server
