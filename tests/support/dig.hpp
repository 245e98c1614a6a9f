// Runs the real dig(1) and reads its output: status, flags and sections as whitespace-folded lines.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "support/lab.hpp"

namespace wgsd::test {

struct DigResult {
  std::string raw;
  std::string status;
  std::string flags;
  std::vector<std::string> answer, authority, additional;

  bool has_flag(const std::string& f) const { return (" " + flags + " ").find(" " + f + " ") != std::string::npos; }
};

inline std::string fold(const std::string& line) {
  std::istringstream in(line);
  std::string word, out;
  while (in >> word) out += (out.empty() ? "" : " ") + word;
  return out;
}

inline DigResult parse_dig(const std::string& text) {
  DigResult r;
  r.raw = text;
  std::istringstream in(text);
  std::string line;
  std::vector<std::string>* section = nullptr;
  while (std::getline(in, line)) {
    if (auto p = line.find("status: "); p != std::string::npos) r.status = line.substr(p + 8, line.find(',', p) - p - 8);
    if (auto p = line.find(";; flags: "); p != std::string::npos) r.flags = line.substr(p + 10, line.find(';', p + 10) - p - 10);
    if (line.rfind(";; ANSWER SECTION:", 0) == 0) section = &r.answer;
    else if (line.rfind(";; AUTHORITY SECTION:", 0) == 0) section = &r.authority;
    else if (line.rfind(";; ADDITIONAL SECTION:", 0) == 0) section = &r.additional;
    else if (line.empty()) section = nullptr;
    else if (section != nullptr && line[0] != ';') section->push_back(fold(line));
  }
  return r;
}

/// dig inside a namespace; `args` are dig's own ("@127.0.0.1 -p 5353 name SRV +norec").
inline DigResult dig(const Netns& ns, const std::string& args) {
  // dig exits non-zero when nobody answers: that is a result to look at, not an error.
  return parse_dig(ns.exec_out("sh -c 'dig +nocookie +time=2 +tries=2 " + args + " 2>&1; true'"));
}

}  // namespace wgsd::test
