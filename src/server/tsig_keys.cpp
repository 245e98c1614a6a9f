#include "server/tsig_keys.hpp"

#include <cctype>
#include <charconv>
#include <optional>

#include "dns/tsig_keyfile.hpp"
#include "dns/wire.hpp"
#include "server/config.hpp"
#include "server/zone_args.hpp"

namespace wgsd::server {
namespace {

[[noreturn]] void fail(const Token& at, const std::string& what) { throw ConfigError(at.where() + ": tsig: " + what); }

// Built by appending: GCC 12 at -O3 reports a false -Wrestrict for "'" + std::string(s) + "'".
std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out.append(s);
  out += '\'';
  return out;
}

std::optional<std::uint16_t> qtype_from_name(std::string_view text) {
  std::string upper(text);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::uint32_t t = 1; t < 65536; ++t) {
    if (dns::type_name(static_cast<std::uint16_t>(t)) == upper) return static_cast<std::uint16_t>(t);
  }
  return std::nullopt;
}

}  // namespace

std::vector<dns::tsig::Key> parse_key_file(std::string_view text, const std::string& file) {
  try {
    return dns::tsig::parse_key_file(text, file);
  } catch (const dns::tsig::KeyFileError& e) {
    throw ConfigError(e.what());
  }
}

std::vector<dns::tsig::Key> read_key_file(const std::string& path) {
  try {
    return dns::tsig::read_key_file(path);
  } catch (const dns::tsig::KeyFileError& e) {
    throw ConfigError(e.what());
  }
}

TsigConfig parse_tsig(const Directive& d, const std::vector<std::string>& block_zones) {
  TsigConfig t;
  t.where = d.name.where();
  t.rule.zones = directive_zone_wires(d, block_zones);
  bool require_seen = false;
  for (const auto& o : d.block) {
    const std::string& name = o.name.text;
    const std::string prefix = name + ": ";
    if (name == "secret") {
      if (o.args.size() != 2) fail(o.name, prefix + "expected NAME BASE64, got " + std::to_string(o.args.size()) + " arguments");
      std::string error;
      auto key = dns::tsig::make_key(o.args[0].text, "hmac-sha256", o.args[1].text, error);
      if (!key) fail(o.name, prefix + error);
      t.keys.push_back(std::move(*key));
    } else if (name == "secrets") {
      if (o.args.size() != 1) fail(o.name, prefix + "expected FILE, got " + std::to_string(o.args.size()) + " arguments");
      try {
        for (auto& k : read_key_file(o.args[0].text)) t.keys.push_back(std::move(k));
      } catch (const ConfigError& e) {
        fail(o.name, prefix + e.what());
      }
    } else if (name == "require") {
      if (require_seen) fail(o.name, prefix + "given twice");
      require_seen = true;
      if (o.args.empty()) fail(o.name, prefix + "expected all, none or query types");
      for (const auto& a : o.args) {
        if (a.text == "all") t.rule.require_all = true;
        else if (a.text == "none") continue;
        else if (auto q = qtype_from_name(a.text)) t.rule.require.push_back(*q);
        else fail(a, prefix + "expected all, none or a query type such as AXFR, got " + quoted(a.text));
      }
    } else if (name == "fudge") {
      unsigned v = 0;
      const std::string& s = o.args.empty() ? std::string() : o.args[0].text;
      const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (o.args.size() != 1 || ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535) {
        fail(o.name, prefix + "expected SECONDS from 1 to 65535, got " + quoted(s));
      }
      t.rule.fudge = static_cast<std::uint16_t>(v);
    } else {
      fail(o.name, "unknown option " + quoted(name) + " (secret, secrets, require, fudge)");
    }
  }
  return t;
}

std::shared_ptr<const dns::tsig::Policy> compile_tsig(const std::vector<const BlockConfig*>& blocks) {
  auto policy = std::make_shared<dns::tsig::Policy>();
  auto wire = [](const std::string& zone) { return dns::name_to_wire(zone).value_or(std::string(1, '\0')); };
  for (const BlockConfig* b : blocks) {
    dns::tsig::Policy::Block block;
    for (const auto& z : b->zones) block.keys.push_back(wire(z));
    for (const auto& z : b->wgsd) block.served.push_back(wire(z.settings.zone));
    for (const auto& t : b->tsig) {
      dns::tsig::Rule rule = t.rule;
      rule.keys = t.keys;
      rule.block = static_cast<std::uint32_t>(policy->blocks.size());
      policy->rules.push_back(std::move(rule));
    }
    policy->blocks.push_back(std::move(block));
  }
  if (policy->rules.empty()) return nullptr;
  return policy;
}

}  // namespace wgsd::server
