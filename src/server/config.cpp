#include "server/config.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "dns/names.hpp"
#include "dns/wire.hpp"
#include "server/acl.hpp"
#include "util/duration.hpp"

namespace wgsd::server {
namespace {

constexpr std::chrono::milliseconds default_reload_interval{30000};  // CoreDNS's default

// Whether two blocks' `bind` lists (empty: every address) share an address they listen on.
bool listen_together(const std::vector<wg::IpAddress>& a, const std::vector<wg::IpAddress>& b) {
  if (a.empty() || b.empty()) return true;
  auto covers = [](const std::vector<wg::IpAddress>& bound, const wg::IpAddress& x) {
    return std::any_of(bound.begin(), bound.end(), [&](const wg::IpAddress& y) { return y == x || (y.is_unspecified() && y.family() == x.family()); });
  };
  return std::any_of(a.begin(), a.end(), [&](const wg::IpAddress& x) { return covers(b, x); }) ||
         std::any_of(b.begin(), b.end(), [&](const wg::IpAddress& x) { return covers(a, x); });
}

[[noreturn]] void fail(const Token& at, const std::string& what) { throw ConfigError(at.where() + ": " + what); }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// "is 300 octets, over the 255 a DNS name can have" when that is what is wrong with a name that
// did not normalise; empty otherwise.
std::string too_long(const std::string& text) {
  const std::size_t n = dns::wire_length(text);
  return n > dns::max_name ? " is " + std::to_string(n) + " octets, over the " + std::to_string(dns::max_name) + " a DNS name can have" : "";
}

void expect_args(const Directive& d, std::size_t min, std::size_t max, const std::string& prefix, const std::string& usage) {
  if (d.args.size() >= min && d.args.size() <= max) return;
  std::string expected;
  if (min == max) expected = std::to_string(min);
  else if (max == SIZE_MAX) expected = "at least " + std::to_string(min);
  else if (min == 0) expected = "at most " + std::to_string(max);
  else expected = std::to_string(min) + " to " + std::to_string(max);
  const bool one = max == 1 && (min == 1 || min == 0);
  fail(d.name, prefix + "expected " + expected + " argument" + (one ? "" : "s") + " (" + usage + "), got " + std::to_string(d.args.size()));
}

void no_block(const Directive& d, const std::string& prefix) {
  if (d.has_block) fail(d.name, prefix + "does not take a block");
}

std::chrono::milliseconds duration_arg(const Token& t, const std::string& prefix) {
  auto d = util::parse_duration(t.text);
  if (!d) fail(t, prefix + "expected a duration such as 1s, 500ms or 2m, got " + quoted(t.text));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  if (ms.count() < 1) fail(t, prefix + "duration must be at least 1ms, got " + quoted(t.text));
  return ms;
}

// A TTL: a duration in whole seconds ("5s", "1h", "0") or a plain number of seconds ("300").
std::uint32_t ttl_arg(const Token& t, const std::string& prefix) {
  constexpr std::uint64_t max_ttl = 2147483647;  // RFC 2181 §8
  std::uint64_t seconds = 0;
  const std::string& text = t.text;
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc()) seconds = max_ttl + 1;
  } else if (text != "0s" && text != "0m" && text != "0h") {
    const auto d = util::parse_duration(text);
    if (!d || *d % std::chrono::seconds(1) != std::chrono::nanoseconds(0)) {
      fail(t, prefix + "expected whole seconds such as 0, 5s, 300 or 1h, got " + quoted(text));
    }
    seconds = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(*d).count());
  }
  if (seconds > max_ttl) fail(t, prefix + "must be at most 2147483647 seconds (68 years), got " + quoted(text));
  return static_cast<std::uint32_t>(seconds);
}

// "dns://example.org:5353", ".:53", "example.org" -> zone and port.
std::pair<std::string, std::uint16_t> parse_key(const Token& t) {
  std::string_view text = t.text;
  if (text.rfind("dns://", 0) == 0) text.remove_prefix(6);
  else if (text.find("://") != std::string_view::npos) fail(t, "unsupported scheme in " + quoted(t.text) + " (only dns:// is served)");
  std::uint16_t port = 53;
  const auto colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    const auto p = text.substr(colon + 1);
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc() || ptr != p.data() + p.size() || value == 0 || value > 65535) {
      fail(t, "server block: port must be 1-65535, got " + quoted(std::string(p)));
    }
    port = static_cast<std::uint16_t>(value);
    text = text.substr(0, colon);
  }
  if (text.empty()) text = ".";
  auto zone = dns::normalize_zone(text);
  if (!zone) fail(t, "server block: not a valid zone name: " + quoted(std::string(text)));
  return {*zone, port};
}

bool inside(const std::string& name, const std::string& zone) {
  if (zone == ".") return true;
  return name == zone || (name.size() > zone.size() && name.compare(name.size() - zone.size(), zone.size(), zone) == 0 &&
                          name[name.size() - zone.size() - 1] == '.');
}

void parse_self(const Directive& d, ZoneConfig& z, const std::string& prefix) {
  if (z.publish.self) fail(d.name, prefix + "self given twice");
  no_block(d, prefix);
  PublishPolicy::Self self;
  for (std::size_t i = 0; i < d.args.size(); ++i) {
    const auto& a = d.args[i];
    // The first argument is the endpoint unless it is a CIDR; an allowed IP is always a CIDR.
    if (i == 0 && a.text.find('/') == std::string::npos) {
      auto ep = wg::Endpoint::parse(a.text);
      if (!ep) fail(a, prefix + "endpoint must be IP:PORT, got " + quoted(a.text));
      self.endpoint = *ep;
      continue;
    }
    auto p = wg::Prefix::parse(a.text);
    if (!p) fail(a, prefix + "allowed IP must be a CIDR such as 10.0.0.1/32, got " + quoted(a.text));
    self.allowed_ips.push_back(*p);
  }
  z.publish.self = std::move(self);
}

ZoneConfig parse_wgsd(const Directive& d) {
  ZoneConfig z;
  z.where = d.name.where();
  expect_args(d, 2, 2, "wgsd: ", "ZONE DEVICE");
  auto zone = dns::normalize_zone(d.args[0].text);
  if (!zone && !too_long(d.args[0].text).empty()) fail(d.args[0], "wgsd: zone " + quoted(d.args[0].text) + too_long(d.args[0].text));
  if (!zone) fail(d.args[0], "wgsd: not a valid zone name: " + quoted(d.args[0].text));
  z.settings.zone = *zone;
  z.device = d.args[1].text;
  try {
    wg::check_device_name(z.device);
  } catch (const std::exception&) {
    fail(d.args[1], "wgsd: device must be an interface name of 1-15 characters without '/', got " + quoted(d.args[1].text));
  }
  std::set<std::string> seen;
  std::vector<const Directive*> pools;  // parsed once the name servers are known: names must not collide
  for (const auto& o : d.block) {
    const std::string& name = o.name.text;
    const std::string prefix = "wgsd: " + name + ": ";
    if (name == "pool") {
      pools.push_back(&o);
      continue;
    }
    if (name != "hide" && name != "ns" && name != "ttl" && !seen.insert(name).second && name != "self") fail(o.name, prefix + "given twice");
    if (name == "self") {
      parse_self(o, z, prefix);
    } else if (name == "hide") {
      no_block(o, prefix);
      expect_args(o, 1, SIZE_MAX, prefix, "PUBKEY...");
      for (const auto& a : o.args) {
        auto k = wg::Key::from_base64(a.text);
        if (!k) fail(a, prefix + "expected a base64 public key of 32 bytes, got " + quoted(a.text));
        z.publish.hide.push_back(*k);
      }
    } else if (name == "max-age") {
      no_block(o, prefix);
      expect_args(o, 1, 1, prefix, "DURATION");
      z.publish.max_age = std::chrono::duration_cast<std::chrono::seconds>(duration_arg(o.args[0], prefix));
      if (z.publish.max_age->count() < 1) fail(o.args[0], prefix + "must be at least 1s, got " + quoted(o.args[0].text));
    } else if (name == "list-all") {
      no_block(o, prefix);
      if (!o.args.empty()) fail(o.args[0], prefix + "takes no arguments, got " + quoted(o.args[0].text));
      z.publish.list_all = true;
    } else if (name == "refresh") {
      no_block(o, prefix);
      expect_args(o, 1, 1, prefix, "DURATION");
      z.refresh = duration_arg(o.args[0], prefix);
      if (*z.refresh < std::chrono::milliseconds(10)) fail(o.args[0], prefix + "must be at least 10ms, got " + quoted(o.args[0].text));
    } else if (name == "ns") {
      no_block(o, prefix);
      expect_args(o, 1, SIZE_MAX, prefix, "NAME [ADDRESS...]");
      auto ns_name = dns::normalize_zone(o.args[0].text);
      if (!ns_name && !too_long(o.args[0].text).empty()) fail(o.args[0], prefix + "name " + quoted(o.args[0].text) + too_long(o.args[0].text));
      if (!ns_name || *ns_name == ".") fail(o.args[0], prefix + "not a valid host name: " + quoted(o.args[0].text));
      for (const auto& other : z.settings.ns) {
        if (other.name == *ns_name) fail(o.args[0], prefix + *ns_name + " given twice (list its addresses on one line)");
      }
      dns::ZoneSettings::NameServer ns{*ns_name, {}};
      for (std::size_t i = 1; i < o.args.size(); ++i) {
        const auto address = wg::IpAddress::parse(o.args[i].text);
        if (!address) fail(o.args[i], prefix + "ADDRESS must be an IP address, got " + quoted(o.args[i].text));
        if (!inside(*ns_name, z.settings.zone)) {
          fail(o.args[i], prefix + "ADDRESS (glue) is only for names inside " + z.settings.zone + ", got " + quoted(*ns_name));
        }
        if (address->unmapped().is_unspecified()) fail(o.args[i], prefix + "ADDRESS must be an address resolvers can reach, got " + quoted(o.args[i].text));
        if (std::find(ns.addresses.begin(), ns.addresses.end(), address->unmapped()) != ns.addresses.end()) {
          fail(o.args[i], prefix + "ADDRESS given twice: " + quoted(o.args[i].text));
        }
        ns.addresses.push_back(address->unmapped());
      }
      z.settings.ns.push_back(ns);
      z.ns_where.push_back(o.name.where());
    } else if (name == "ttl") {
      no_block(o, prefix);
      expect_args(o, 2, 2, prefix, "data|negative|ns DURATION");
      const std::string& kind = o.args[0].text;
      std::uint32_t* ttl = kind == "data" ? &z.settings.ttl.data
                           : kind == "negative" ? &z.settings.ttl.negative
                           : kind == "ns" ? &z.settings.ttl.ns
                                          : nullptr;
      if (ttl == nullptr) fail(o.args[0], prefix + "expected data, negative or ns, got " + quoted(kind));
      if (!seen.insert("ttl " + kind).second) fail(o.args[0], prefix + kind + " given twice");
      *ttl = ttl_arg(o.args[1], "wgsd: ttl " + kind + ": ");
    } else if (name == "backend") {
      no_block(o, prefix);
      expect_args(o, 1, 1, prefix, "auto|uapi|netlink");
      auto kind = wg::parse_backend_kind(o.args[0].text);
      if (!kind) fail(o.args[0], prefix + "expected auto, uapi or netlink, got " + quoted(o.args[0].text));
      z.backend = *kind;
    } else {
      fail(o.name, "unknown property " + quoted(name) + " in wgsd block");
    }
  }
  if (z.settings.ns.empty()) {
    z.settings.ns.push_back({"ns1." + z.settings.zone, {}});
    z.ns_where.push_back({});
  }
  // What cannot be served is refused here, at --check and at every reload, never published.
  std::vector<std::string> ns_names;
  for (const auto& ns : z.settings.ns) ns_names.push_back(ns.name);
  for (const Directive* p : pools) z.pools.push_back(parse_pool(*p, z.settings.zone, z.pools, ns_names));
  if (const auto bad = dns::overlong_name(z.settings.zone, ns_names)) {
    fail(d.args[0], "wgsd: zone " + quoted(z.settings.zone) + " is too long: " + bad->what + " " + quoted(bad->name) + " would be " +
                        std::to_string(bad->octets) + " octets, over the " + std::to_string(dns::max_name) + " a DNS name can have");
  }
  return z;
}

// `prometheus [ADDRESS]`, `health [ADDRESS] { lameduck DURATION }`, `ready [ADDRESS]`,
// `status [ADDRESS]`, with CoreDNS's default addresses.
void parse_http(const Directive& d, BlockConfig& b) {
  const std::string& name = d.name.text;
  const std::string prefix = name + ": ";
  HttpConfig h;
  h.where = d.name.where();
  const char* fallback = nullptr;
  if (name == "prometheus") h.kind = HttpConfig::Kind::metrics, fallback = "localhost:9153";
  else if (name == "health") h.kind = HttpConfig::Kind::health, fallback = ":8080";
  else if (name == "ready") h.kind = HttpConfig::Kind::ready, fallback = ":8181";
  else h.kind = HttpConfig::Kind::status, fallback = "localhost:8053";
  expect_args(d, 0, 1, prefix, "[ADDRESS]");
  const std::string text = d.args.empty() ? fallback : d.args[0].text;
  const auto address = HttpAddress::parse(text);
  if (!address) fail(d.args[0], prefix + "ADDRESS must be HOST:PORT such as " + fallback + ", [::1]:" + std::string(fallback).substr(std::string(fallback).rfind(':') + 1) + " or :PORT, got " + quoted(text));
  h.address = *address;
  if (h.kind != HttpConfig::Kind::health) no_block(d, prefix);
  for (const auto& o : d.block) {
    if (o.name.text != "lameduck") fail(o.name, "unknown property " + quoted(o.name.text) + " in health block (expected lameduck)");
    if (b.lameduck) fail(o.name, "health: lameduck: given twice");
    no_block(o, "health: lameduck: ");
    expect_args(o, 1, 1, "health: lameduck: ", "DURATION");
    b.lameduck = duration_arg(o.args[0], "health: lameduck: ");
  }
  b.http.push_back(h);
}

BlockConfig parse_block(const ServerBlock& sb) {
  BlockConfig b;
  b.where = sb.keys.front().where();
  bool first = true;
  for (const auto& key : sb.keys) {
    auto [zone, port] = parse_key(key);
    if (!first && port != b.port) fail(key, "server block: all keys must use one port, got " + std::to_string(b.port) + " and " + std::to_string(port));
    b.port = port;
    b.zones.push_back(zone);
    first = false;
  }
  std::set<std::string> seen;
  for (const auto& d : sb.directives) {
    const std::string& name = d.name.text;
    if (name == "wgsd") {
      b.wgsd.push_back(parse_wgsd(d));
      continue;
    }
    if (name == "acl") {  // several per block, as in CoreDNS: tried in order
      b.acl.push_back(parse_acl(d, b.zones));
      continue;
    }
    if (name == "tsig") {
      b.tsig.push_back(parse_tsig(d, b.zones));
      continue;
    }
    if (name == "transfer") {  // several per block: the first covering a zone decides
      b.transfer.push_back(parse_transfer(d, b.zones));
      continue;
    }
    if (!seen.insert(name).second) fail(d.name, name + ": given twice in one server block");
    if (name == "prometheus" || name == "health" || name == "ready" || name == "status") {
      parse_http(d, b);
      continue;
    }
    if (name == "bind") {
      no_block(d, "bind: ");
      expect_args(d, 1, SIZE_MAX, "bind: ", "ADDRESS...");
      for (const auto& a : d.args) {
        auto ip = wg::IpAddress::parse(a.text);
        if (!ip) fail(a, "bind: expected an IP address, got " + quoted(a.text));
        b.bind.push_back(*ip);
      }
    } else if (name == "log" || name == "errors") {
      no_block(d, name + ": ");
      expect_args(d, 0, 0, name + ": ", "none");
      (name == "log" ? b.log : b.errors) = true;
    } else if (name == "reload") {
      no_block(d, "reload: ");
      expect_args(d, 0, 1, "reload: ", "[INTERVAL]");
      b.reload = default_reload_interval;
      b.reload_where = d.name.where();
      if (!d.args.empty()) {
        b.reload = duration_arg(d.args[0], "reload: ");
        if (*b.reload < std::chrono::seconds(1)) fail(d.args[0], "reload: interval must be at least 1s, got " + quoted(d.args[0].text));
      }
    } else {
      fail(d.name, "unknown directive " + quoted(name));
    }
  }
  if (b.wgsd.empty()) fail(sb.keys.front(), "server block has no wgsd directive: nothing to serve");
  for (const auto& z : b.wgsd) {
    const bool covered = std::any_of(b.zones.begin(), b.zones.end(), [&](const std::string& k) { return inside(z.settings.zone, k); });
    if (!covered) throw ConfigError(z.where + ": wgsd: zone " + quoted(z.settings.zone) + " is not inside the server block's zones");
  }
  return b;
}

// An address resolvers elsewhere can reach this server at: not the wildcard, not loopback, not
// IPv6 link-local (no scope in an A/AAAA record).
bool routable(const wg::IpAddress& a) {
  const wg::IpAddress u = a.unmapped();
  if (u.is_unspecified()) return false;
  if (u.is_v4()) return u.data()[0] != 127;
  static const auto loopback = *wg::IpAddress::parse("::1");
  return u != loopback && !(u.data()[0] == 0xfe && (u.data()[1] & 0xc0) == 0x80);
}

// Every name server inside its zone must resolve, or a resolver that follows the delegation (or the
// SOA MNAME) gets NXDOMAIN for it: one without addresses of its own takes the block's routable
// `bind` addresses, and with none there is nothing true to publish.
void resolve_name_servers(BlockConfig& b) {
  std::vector<wg::IpAddress> bound;
  std::string unusable;
  for (const auto& a : b.bind) {
    if (routable(a)) bound.push_back(a.unmapped());
    else unusable += (unusable.empty() ? "" : " ") + a.to_string();
  }
  const std::string why = !bound.empty() ? std::string()
                          : b.bind.empty() ? "the server block has no bind line (every address: which one resolvers reach is unknown)"
                                           : "the server block binds only " + unusable + " (wildcard, loopback or link-local: not what resolvers reach)";
  for (auto& z : b.wgsd) {
    for (std::size_t i = 0; i < z.settings.ns.size(); ++i) {
      auto& ns = z.settings.ns[i];
      if (!ns.addresses.empty() || !inside(ns.name, z.settings.zone)) continue;
      if (!bound.empty()) {
        ns.addresses = bound;
        continue;
      }
      const std::string hint = "give its address with 'ns " + ns.name + " ADDRESS...', or bind the block to the address resolvers reach it at";
      if (z.ns_where[i].empty()) {
        throw ConfigError(z.where + ": wgsd: zone " + z.settings.zone + ": the default name server " + ns.name +
                          " needs an address and " + why + "; " + hint + ", or name a server outside the zone with 'ns NAME'");
      }
      throw ConfigError(z.ns_where[i] + ": wgsd: ns: " + ns.name + " is inside " + z.settings.zone + " and needs an address, and " + why +
                        "; " + hint);
    }
  }
}

}  // namespace

std::chrono::milliseconds ZoneConfig::refresh_for(std::size_t peers) const {
  if (refresh) return *refresh;
  // A read of the whole device costs in proportion to its peers: past 10,000 peers the default
  // reads less often, so that the refresher's share of the CPU stays about what it is at 10,000,
  // and a new endpoint still shows within 10s at the largest sizes.
  constexpr std::size_t peers_per_second = 10000;
  constexpr std::chrono::milliseconds least{1000};
  constexpr std::chrono::milliseconds most{10000};
  const auto proportional = std::chrono::milliseconds(peers * 1000 / peers_per_second);
  return std::clamp(proportional, least, most);
}

ServerConfig parse_config(std::string_view text, const std::string& file) {
  ServerConfig config;
  const auto blocks = parse_corefile(text, file);
  if (blocks.empty()) throw ConfigError(file + ": no server blocks: nothing to serve");
  std::string reload_where;
  std::string lameduck_where;
  for (const auto& sb : blocks) {
    config.blocks.push_back(parse_block(sb));
    const auto& b = config.blocks.back();
    config.http.insert(config.http.end(), b.http.begin(), b.http.end());
    if (b.lameduck) {
      const auto& health = *std::find_if(b.http.begin(), b.http.end(), [](const HttpConfig& h) { return h.kind == HttpConfig::Kind::health; });
      // One process stops once: two different delays would be a silent guess.
      if (config.lameduck && *config.lameduck != *b.lameduck) {
        throw ConfigError(health.where + ": health: lameduck differs from the one at " + lameduck_where + " (one process, one delay)");
      }
      config.lameduck = b.lameduck;
      lameduck_where = health.where;
    }
    if (b.reload) {
      // One process, one Corefile, one interval: two different ones would be a silent guess.
      if (config.reload && *config.reload != *b.reload) {
        throw ConfigError(b.reload_where + ": reload: interval differs from the one at " + reload_where + " (one Corefile, one interval)");
      }
      config.reload = b.reload;
      reload_where = b.reload_where;
    }
    // A zone may be served twice on one port only on addresses apart (an internal and a public
    // view): each address answers for a zone from one block.
    for (const auto& z : b.wgsd) {
      for (std::size_t other = 0; other + 1 < config.blocks.size(); ++other) {
        const auto& o = config.blocks[other];
        if (o.port != b.port || !listen_together(o.bind, b.bind)) continue;
        for (const auto& oz : o.wgsd) {
          if (oz.settings.zone == z.settings.zone) {
            throw ConfigError(z.where + ": wgsd: zone " + quoted(z.settings.zone) + " on port " + std::to_string(b.port) + " is already served" +
                              (o.bind.empty() && b.bind.empty() ? "" : " on an address this block binds (" + oz.where + ")"));
          }
        }
      }
      for (std::size_t i = 0; &b.wgsd[i] != &z; ++i) {
        if (b.wgsd[i].settings.zone == z.settings.zone) {
          throw ConfigError(z.where + ": wgsd: zone " + quoted(z.settings.zone) + " on port " + std::to_string(b.port) + " is already served");
        }
      }
    }
  }
  for (auto& b : config.blocks) resolve_name_servers(b);
  return config;
}

}  // namespace wgsd::server
