#include "dns/tsig_keyfile.hpp"

#include <cctype>
#include <fstream>
#include <optional>
#include <sstream>

namespace wgsd::dns::tsig {
namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

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
      if (end == std::string_view::npos) throw KeyFileError(file + ":" + std::to_string(line) + ": unclosed quote");
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

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The lines of `text`, each with its number, without comments and surrounding space.
std::vector<std::pair<int, std::string_view>> lines_of(std::string_view text) {
  std::vector<std::pair<int, std::string_view>> out;
  int n = 0;
  while (!text.empty() || n == 0) {
    ++n;
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    out.emplace_back(n, line);
    if (end == std::string_view::npos) break;
  }
  return out;
}

// Knot's form, as `keymgr -t NAME ALG` prints it: a YAML `key:` section of `- id:`, `algorithm:`
// and `secret:` items.
bool knot_form(std::string_view text) {
  for (const auto& [n, line] : lines_of(text)) {
    const std::string_view t = trim(line);
    if (!t.empty()) return t == "key:";
  }
  return false;
}

std::vector<Key> parse_knot_keys(std::string_view text, const std::string& file) {
  struct Pending {
    std::string id, algorithm, secret;
    int line{};
    int algorithm_line{};
  };
  std::vector<Key> keys;
  std::optional<Pending> cur;
  auto at = [&](int line) { return file + ":" + std::to_string(line); };
  auto finish = [&] {
    if (!cur) return;
    if (cur->id.empty()) throw KeyFileError(at(cur->line) + ": key: no id");
    if (!algorithm_from_name(cur->algorithm)) {
      throw KeyFileError(at(cur->algorithm_line != 0 ? cur->algorithm_line : cur->line) + ": key " + quoted(cur->id) +
                         ": unsupported TSIG algorithm " + quoted(cur->algorithm) + " (hmac-sha256 or hmac-sha512)");
    }
    if (cur->secret.empty()) throw KeyFileError(at(cur->line) + ": key " + quoted(cur->id) + ": no secret");
    std::string error;
    auto key = make_key(cur->id, cur->algorithm, cur->secret, error);
    if (!key) throw KeyFileError(at(cur->line) + ": key " + quoted(cur->id) + ": " + error);
    keys.push_back(std::move(*key));
    cur.reset();
  };
  bool in_keys = false;
  for (const auto& [n, line] : lines_of(text)) {
    std::string_view t = trim(line);
    if (t.empty()) continue;
    if (!std::isspace(static_cast<unsigned char>(line.front())) && t.front() != '-') {  // a section
      finish();
      in_keys = t == "key:";
      continue;
    }
    if (!in_keys) continue;
    if (t.front() == '-') {
      finish();
      cur = Pending{};
      cur->line = n;
      t = trim(t.substr(1));
    }
    const std::size_t colon = t.find(':');
    if (!cur || colon == std::string_view::npos) throw KeyFileError(at(n) + ": expected '- id: NAME', 'algorithm: ALG' or 'secret: BASE64'");
    const std::string_view name = trim(t.substr(0, colon));
    std::string_view value = trim(t.substr(colon + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) value = value.substr(1, value.size() - 2);
    if (name == "id") cur->id = value;
    else if (name == "algorithm") {
      cur->algorithm = value;
      cur->algorithm_line = n;
    } else if (name == "secret") cur->secret = value;
    else throw KeyFileError(at(n) + ": key: unknown option " + quoted(name) + " (id, algorithm or secret)");
  }
  finish();
  if (keys.empty()) throw KeyFileError(file + ": no keys");
  return keys;
}

}  // namespace

std::vector<Key> parse_key_file(std::string_view text, const std::string& file) {
  if (knot_form(text)) return parse_knot_keys(text, file);
  const std::vector<Word> w = words_of(text, file);
  std::vector<Key> keys;
  auto at = [&](std::size_t i) { return file + ":" + std::to_string(i < w.size() ? w[i].line : (w.empty() ? 1 : w.back().line)); };
  auto expect = [&](std::size_t i, const char* what) {
    if (i >= w.size() || w[i].quoted || w[i].text != what) {
      throw KeyFileError(at(i) + ": expected '" + what + "'" + (i < w.size() ? ", got " + quoted(w[i].text) : ", got the end of the file"));
    }
  };
  std::size_t i = 0;
  while (i < w.size()) {
    expect(i, "key");
    if (i + 1 >= w.size() || (!w[i + 1].quoted && (w[i + 1].text == "{" || w[i + 1].text == ";"))) {
      throw KeyFileError(at(i) + ": key: expected a key name");
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
      if (i + 1 >= w.size()) throw KeyFileError(at(i) + ": key " + quoted(name) + ": " + option + " has no value");
      if (option == "algorithm") {
        algorithm = w[i + 1].text;
        algorithm_where = at(i);
      } else if (option == "secret") {
        secret = w[i + 1].text;
        // What follows may be more of the secret (one split by a space): named, never quoted.
        if (i + 2 >= w.size() || w[i + 2].quoted || w[i + 2].text != ";") {
          throw KeyFileError(at(i) + ": key " + quoted(name) + ": expected ';' after the secret (one base64 word)");
        }
      } else {
        throw KeyFileError(at(i) + ": key " + quoted(name) + ": unknown option " + quoted(option) + " (algorithm or secret)");
      }
      expect(i + 2, ";");
      i += 3;
    }
    expect(i, "}");
    ++i;
    if (i < w.size() && w[i].text == ";" && !w[i].quoted) ++i;
    if (!algorithm_from_name(algorithm)) {
      throw KeyFileError(algorithm_where + ": key " + quoted(name) + ": unsupported TSIG algorithm " + quoted(algorithm) +
                        " (hmac-sha256 or hmac-sha512)");
    }
    if (secret.empty()) throw KeyFileError(where + ": key " + quoted(name) + ": no secret");
    std::string error;
    auto key = make_key(name, algorithm, secret, error);
    if (!key) throw KeyFileError(where + ": key " + quoted(name) + ": " + error);
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) throw KeyFileError(file + ": no key blocks");
  return keys;
}

std::vector<Key> read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw KeyFileError(path + ": cannot read the key file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_key_file(text.str(), path);
}

}  // namespace wgsd::dns::tsig
