#include "server/transfer_config.hpp"

#include "dns/wire.hpp"
#include "server/zone_args.hpp"

namespace wgsd::server {
namespace {

[[noreturn]] void fail(const Token& at, const std::string& what) { throw ConfigError(at.where() + ": transfer: " + what); }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

TransferConfig parse_transfer(const Directive& d, const std::vector<std::string>& block_zones) {
  TransferConfig t;
  t.where = d.name.where();
  t.rule.zones = directive_zone_wires(d, block_zones);
  if (!d.has_block || d.block.empty()) fail(d.name, "expected a block with 'to ADDRESS...' or 'to *'");
  for (const auto& o : d.block) {
    if (o.name.text != "to") fail(o.name, "unknown property " + quoted(o.name.text) + " (expected 'to ADDRESS[:PORT]...' or 'to *')");
    if (o.has_block) fail(o.name, "to: does not take a block");
    if (o.args.empty()) fail(o.name, "to: expected ADDRESS[:PORT]... or *, got nothing");
    for (const auto& a : o.args) {
      if (a.text == "*") {
        t.rule.anyone = true;
        continue;
      }
      if (auto ip = wg::IpAddress::parse(a.text)) {
        t.rule.to.push_back({*ip, 53});
      } else if (auto ep = wg::Endpoint::parse(a.text)) {
        t.rule.to.push_back(*ep);
      } else {
        fail(a, "to: expected an IP address, ADDRESS:PORT ([IPv6]:PORT) or *, got " + quoted(a.text));
      }
    }
  }
  return t;
}

}  // namespace wgsd::server
