// The generic half of the Corefile: tokens, lines and blocks in CoreDNS (Caddyfile) syntax. It knows
// no directive; config.hpp gives them meaning.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace wgsd::server {

/// A problem in the configuration, with "FILE:LINE: " already in the message.
class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct Token {
  std::string file;
  int line{};
  std::string text;
  bool quoted{};

  /// "FILE:LINE"
  [[nodiscard]] std::string where() const { return file + ":" + std::to_string(line); }
};

/// A line of a block: its first token, the rest of the line, and the lines of a `{ }` block that
/// ends it (empty when there is none).
struct Directive {
  Token name;
  std::vector<Token> args;
  std::vector<Directive> block;
  bool has_block{};
};

/// `KEY... { directives }`.
struct ServerBlock {
  std::vector<Token> keys;
  std::vector<Directive> directives;
};

/// Tokenises and structures a whole Corefile. Quotes ("a b", with \" and \\ escapes) make one token;
/// `#` starts a comment outside quotes; `{` and `}` are tokens when they stand alone or end a word.
/// Throws ConfigError for an unclosed quote or brace, a stray `}`, or a block without keys.
std::vector<ServerBlock> parse_corefile(std::string_view text, const std::string& file);

}  // namespace wgsd::server
