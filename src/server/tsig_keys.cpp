#include "server/tsig_keys.hpp"

#include <cctype>
#include <charconv>
#include <optional>
#include <fstream>
#include <sstream>

#include "dns/wire.hpp"

namespace wgsd::server {
namespace {

[[noreturn]] void fail(const Token& at, const std::string& what) { throw ConfigError(at.where() + ": tsig: " + what); }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::optional<std::uint16_t> qtype_from_name(std::string_view text) {
  std::string upper(text);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::uint32_t t = 1; t < 65536; ++t) {
    if (dns::type_name(static_cast<std::uint16_t>(t)) == upper) return static_cast<std::uint16_t>(t);
  }
  return std::nullopt;
}

// The words of a key file: names, quoted strings, '{', '}' and ';', with their line.
struct Word {
  std::string text;
  int line{};
  bool quoted{};
};

std::vector<Word> words_of(std::string_view text, const std::string& file) {
  std::vector<Word> out;
  int line = 1;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '#' || (c == '/' && i + 1 < text.size() && text[i + 1] == '/')) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '{' || c == '}' || c == ';') {
      out.push_back({std::string(1, c), line, false});
      ++i;
    } else if (c == '"') {
      const std::size_t end = text.find('"', i + 1);
      if (end == std::string_view::npos) throw ConfigError(file + ":" + std::to_string(line) + ": unclosed quote");
      out.push_back({std::string(text.substr(i + 1, end - i - 1)), line, true});
      for (std::size_t k = i; k < end; ++k) line += text[k] == '\n' ? 1 : 0;
      i = end + 1;
    } else {
      std::size_t end = i;
      while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) && text[end] != ';' && text[end] != '{' &&
             text[end] != '}' && text[end] != '"') {
        ++end;
      }
      out.push_back({std::string(text.substr(i, end - i)), line, false});
      i = end;
    }
  }
  return out;
}

}  // namespace

std::vector<dns::tsig::Key> parse_key_file(std::string_view text, const std::string& file) {
  const std::vector<Word> w = words_of(text, file);
  std::vector<dns::tsig::Key> keys;
  auto at = [&](std::size_t i) { return file + ":" + std::to_string(i < w.size() ? w[i].line : (w.empty() ? 1 : w.back().line)); };
  auto expect = [&](std::size_t i, const char* what) {
    if (i >= w.size() || w[i].quoted || w[i].text != what) {
      throw ConfigError(at(i) + ": expected '" + what + "'" + (i < w.size() ? ", got " + quoted(w[i].text) : ", got the end of the file"));
    }
  };
  std::size_t i = 0;
  while (i < w.size()) {
    expect(i, "key");
    if (i + 1 >= w.size() || (!w[i + 1].quoted && (w[i + 1].text == "{" || w[i + 1].text == ";"))) {
      throw ConfigError(at(i) + ": key: expected a key name");
    }
    const std::string name = w[i + 1].text;
    const std::string where = at(i);
    expect(i + 2, "{");
    i += 3;
    std::string algorithm = "hmac-sha256";
    std::string secret;
    std::string algorithm_where = where;
    while (i < w.size() && !(w[i].text == "}" && !w[i].quoted)) {
      const std::string& option = w[i].text;
      if (i + 1 >= w.size()) throw ConfigError(at(i) + ": key " + quoted(name) + ": " + option + " has no value");
      if (option == "algorithm") {
        algorithm = w[i + 1].text;
        algorithm_where = at(i);
      } else if (option == "secret") {
        secret = w[i + 1].text;
      } else {
        throw ConfigError(at(i) + ": key " + quoted(name) + ": unknown option " + quoted(option) + " (algorithm or secret)");
      }
      expect(i + 2, ";");
      i += 3;
    }
    expect(i, "}");
    ++i;
    if (i < w.size() && w[i].text == ";" && !w[i].quoted) ++i;
    if (!dns::tsig::algorithm_from_name(algorithm)) {
      throw ConfigError(algorithm_where + ": key " + quoted(name) + ": unsupported TSIG algorithm " + quoted(algorithm) +
                        " (hmac-sha256 or hmac-sha512)");
    }
    if (secret.empty()) throw ConfigError(where + ": key " + quoted(name) + ": no secret");
    std::string error;
    auto key = dns::tsig::make_key(name, algorithm, secret, error);
    if (!key) throw ConfigError(where + ": key " + quoted(name) + ": " + error);
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) throw ConfigError(file + ": no key blocks");
  return keys;
}

std::vector<dns::tsig::Key> read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the key file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_key_file(text.str(), path);
}

TsigConfig parse_tsig(const Directive& d, const std::vector<std::string>& block_zones) {
  TsigConfig t;
  t.where = d.name.where();
  std::vector<std::string> zones;
  for (const auto& a : d.args) {
    auto z = dns::normalize_zone(a.text);
    if (!z) fail(a, "expected a zone name, got " + quoted(a.text));
    zones.push_back(*z);
  }
  if (zones.empty()) zones = block_zones;
  for (const auto& z : zones) {
    auto wire = dns::name_to_wire(z);
    if (!wire) fail(d.name, "expected a zone name, got " + quoted(z));
    t.rule.zones.push_back(*wire);
  }
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

}  // namespace wgsd::server
