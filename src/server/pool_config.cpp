#include "server/pool_config.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "dns/names.hpp"
#include "dns/pool.hpp"
#include "dns/wire.hpp"
#include "util/duration.hpp"

namespace wgsd::server {
namespace {

[[noreturn]] void fail(const Token& at, const std::string& what) { throw ConfigError(at.where() + ": " + what); }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::uint64_t number(const Token& t, std::uint64_t min, std::uint64_t max, const std::string& prefix, const std::string& what) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (ec != std::errc() || ptr != t.text.data() + t.text.size() || v < min || v > max) {
    fail(t, prefix + what + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", got " + quoted(t.text));
  }
  return v;
}

std::chrono::milliseconds duration(const Token& t, const std::string& prefix) {
  const auto d = util::parse_duration(t.text);
  if (!d || *d < std::chrono::seconds(1)) fail(t, prefix + "expected a duration of at least 1s such as 3s or 1m, got " + quoted(t.text));
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

// Whether `name` (relative, lower case) is the peers' service name, lies under it, or is one of
// its ancestors below the apex (`_udp`).
bool in_service_tree(const std::string& name) {
  const std::string service = "_wireguard._udp";
  auto ends_with = [&](const std::string& suffix) {
    return name == suffix || (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                              name[name.size() - suffix.size() - 1] == '.');
  };
  return ends_with(service) || name == "_udp";
}

}  // namespace

PoolConfig parse_pool(const Directive& d, const std::string& zone, const std::vector<PoolConfig>& others,
                      const std::vector<std::string>& ns_names) {
  PoolConfig p;
  p.where = d.name.where();
  if (d.args.size() != 1) fail(d.name, "pool: expected 1 argument (NAME), got " + std::to_string(d.args.size()));
  if (!d.has_block) fail(d.name, "pool " + d.args[0].text + ": expected a block { member PUBKEY ... }");
  const Token& name_token = d.args[0];
  const std::string prefix = "pool " + name_token.text + ": ";
  auto normal = dns::normalize_zone(name_token.text);
  if (!normal || *normal == "." || name_token.text.back() == '.') {
    fail(name_token, "pool: NAME must be a name relative to the zone such as vpn, got " + quoted(name_token.text));
  }
  p.name = normal->substr(0, normal->size() - 1);
  if (in_service_tree(p.name)) {
    fail(name_token, prefix + "the name collides with the peers' names under _wireguard._udp." + zone);
  }
  for (const auto& o : others) {
    if (o.name == p.name) fail(name_token, prefix + "the name collides with the pool at " + o.where);
  }
  const std::string full = p.name + "." + zone;
  for (const auto& ns : ns_names) {
    if (ns == full) fail(name_token, prefix + "the name collides with the name server " + ns);
  }
  if (dns::wire_length("_wireguard._udp." + full) > dns::max_name) {
    fail(name_token, prefix + "_wireguard._udp." + full + " is over the " + std::to_string(dns::max_name) + " octets a DNS name can have");
  }
  std::set<std::string> seen;
  for (const auto& o : d.block) {
    const std::string& what = o.name.text;
    if (o.has_block) fail(o.name, prefix + what + ": does not take a block");
    if (what == "member") {
      if (o.args.empty()) fail(o.name, prefix + "member: expected PUBKEY [weight N]");
      const Token& k = o.args[0];
      const auto key = wg::Key::from_base64(k.text);
      if (!key) fail(k, prefix + "member " + quoted(k.text) + ": not a WireGuard public key (44 characters of base64)");
      const std::string member = prefix + "member " + quoted(k.text) + ": ";
      for (const auto& m : p.members) {
        if (m.key == *key) fail(k, member + "given twice");
      }
      PoolConfig::Member m{*key, 1};
      if (o.args.size() == 3 && o.args[1].text == "weight") {
        m.weight = static_cast<std::uint16_t>(number(o.args[2], 1, 65535, member, "weight"));
      } else if (o.args.size() != 1) {
        fail(o.args[1], member + "expected 'weight N' after the key, got " + quoted(o.args[1].text));
      }
      p.members.push_back(m);
      if (p.members.size() > dns::max_pool_members) {
        fail(k, prefix + "more than " + std::to_string(dns::max_pool_members) + " members");
      }
      continue;
    }
    if (!seen.insert(what).second) fail(o.name, prefix + what + ": given twice");
    if (o.args.size() != 1) fail(o.name, prefix + what + ": expected 1 argument, got " + std::to_string(o.args.size()));
    const Token& v = o.args[0];
    if (what == "max-age") {
      p.max_age = duration(v, prefix + "max-age: ");
    } else if (what == "ttl") {
      const auto d = util::parse_duration(v.text);
      std::uint64_t seconds = 0;
      if (!v.text.empty() && std::all_of(v.text.begin(), v.text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        seconds = number(v, 0, 2147483647, prefix, "ttl");
      } else if (d && *d % std::chrono::seconds(1) == std::chrono::nanoseconds(0) && *d <= std::chrono::seconds(2147483647)) {
        seconds = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(*d).count());
      } else {
        fail(v, prefix + "ttl: expected whole seconds such as 10s or 60, got " + quoted(v.text));
      }
      p.ttl = static_cast<std::uint32_t>(seconds);
    } else if (what == "answers") {
      p.answers = static_cast<std::uint32_t>(number(v, 1, dns::max_pool_members, prefix, "answers"));
    } else {
      fail(o.name, "unknown property " + quoted(what) + " in pool block (member, max-age, ttl, answers)");
    }
  }
  if (p.members.empty()) fail(d.name, prefix + "no member: expected at least one 'member PUBKEY'");
  return p;
}

}  // namespace wgsd::server
