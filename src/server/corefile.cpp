#include "server/corefile.hpp"

namespace wgsd::server {
namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits the text into lines of tokens. A line with no tokens is dropped.
std::vector<std::vector<Token>> tokenize(std::string_view text, const std::string& file) {
  std::vector<std::vector<Token>> lines;
  std::vector<Token> current;
  int line = 1;
  std::size_t i = 0;
  auto end_line = [&] {
    if (!current.empty()) lines.push_back(std::move(current));
    current.clear();
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      end_line();
      ++line;
      ++i;
    } else if (space(c)) {
      ++i;
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '"') {
      Token t{file, line, "", true};
      ++i;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
          t.text.push_back(text[i + 1]);
          i += 2;
        } else if (text[i] == '"') {
          closed = true;
          ++i;
          break;
        } else if (text[i] == '\n') {
          break;
        } else {
          t.text.push_back(text[i++]);
        }
      }
      if (!closed) throw ConfigError(file + ":" + std::to_string(line) + ": unterminated quoted string");
      current.push_back(std::move(t));
    } else {
      Token t{file, line, "", false};
      while (i < text.size() && !space(text[i]) && text[i] != '\n' && text[i] != '"' && text[i] != '#') t.text.push_back(text[i++]);
      // "example.org{" and "}" glued to a word are the brace tokens they look like.
      if (t.text.size() > 1 && t.text.back() == '{') {
        t.text.pop_back();
        current.push_back(t);
        current.push_back(Token{file, line, "{", false});
      } else {
        current.push_back(std::move(t));
      }
    }
  }
  end_line();
  return lines;
}

bool is(const Token& t, const char* text) { return !t.quoted && t.text == text; }

class Structurer {
public:
  explicit Structurer(std::vector<std::vector<Token>> lines) : lines_(std::move(lines)) {}

  std::vector<ServerBlock> blocks() {
    std::vector<ServerBlock> out;
    while (pos_ < lines_.size()) {
      auto line = lines_[pos_++];
      if (is(line.front(), "}")) throw ConfigError(line.front().where() + ": unexpected '}'");
      if (!is(line.back(), "{")) {
        throw ConfigError(line.front().where() + ": expected '{' after server block keys, got '" + line.back().text + "'");
      }
      line.pop_back();
      if (line.empty()) throw ConfigError(lines_[pos_ - 1].front().where() + ": server block without zone or port before '{'");
      ServerBlock block{line, {}};
      block.directives = body(lines_[pos_ - 1].back());
      out.push_back(std::move(block));
    }
    return out;
  }

private:
  // Lines up to the matching '}'.
  std::vector<Directive> body(const Token& open) {
    std::vector<Directive> out;
    while (pos_ < lines_.size()) {
      auto line = lines_[pos_++];
      if (is(line.front(), "}")) {
        if (line.size() > 1) throw ConfigError(line[1].where() + ": unexpected '" + line[1].text + "' after '}'");
        return out;
      }
      Directive d;
      d.name = line.front();
      if (is(d.name, "{")) throw ConfigError(d.name.where() + ": unexpected '{'");
      const bool opens = is(line.back(), "{") && line.size() > 1;
      if (opens) line.pop_back();
      d.args.assign(line.begin() + 1, line.end());
      for (const auto& a : d.args) {
        if (is(a, "{") || is(a, "}")) throw ConfigError(a.where() + ": unexpected '" + a.text + "' in the middle of a line");
      }
      if (opens) {
        d.has_block = true;
        d.block = body(lines_[pos_ - 1].back());
      }
      out.push_back(std::move(d));
    }
    throw ConfigError(open.where() + ": '{' is never closed");
  }

  std::vector<std::vector<Token>> lines_;
  std::size_t pos_{};
};

}  // namespace

std::vector<ServerBlock> parse_corefile(std::string_view text, const std::string& file) {
  return Structurer(tokenize(text, file)).blocks();
}

}  // namespace wgsd::server
