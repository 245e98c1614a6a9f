// Writing the Prometheus text exposition format (version 0.0.4): HELP and TYPE once per family,
// then its samples; label values escaped.
#pragma once

#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wgsd::server::prom {

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

/// A number as the Go client writes it (bucket bounds read "0.0005", "64000", as CoreDNS's do):
/// the shortest text that reads back as the same double, plain unless tiny or huge.
inline std::string number(double v) {
  char buf[64];
  const double a = v < 0 ? -v : v;
  const bool plain = a == 0 || (a >= 1e-4 && a < 1e21);
  const auto r = std::to_chars(buf, buf + sizeof buf, v, plain ? std::chars_format::fixed : std::chars_format::scientific);
  return {buf, r.ptr};
}

inline void escape_into(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
}

class Family {
public:
  /// Writes HELP and TYPE of `name` to `out`.
  Family(std::string& out, std::string name, std::string_view type, std::string_view help) : out_(out), name_(std::move(name)) {
    out_ += "# HELP " + name_ + " " + std::string(help) + "\n# TYPE " + name_ + " " + std::string(type) + "\n";
  }

  void sample(const Labels& labels, double value, std::string_view suffix = "", const std::pair<std::string_view, std::string_view>* extra = nullptr) {
    out_ += name_;
    out_ += suffix;
    if (!labels.empty() || extra != nullptr) {
      out_ += "{";
      bool first = true;
      const auto put = [&](std::string_view k, std::string_view v) {
        if (!first) out_ += ",";
        first = false;
        out_ += k;
        out_ += "=\"";
        escape_into(out_, v);
        out_ += "\"";
      };
      for (const auto& [k, v] : labels) put(k, v);
      if (extra != nullptr) put(extra->first, extra->second);
      out_ += "}";
    }
    out_ += " " + number(value) + "\n";
  }

  /// A histogram from per-bucket counts (not cumulative; one more than `bounds`: the +Inf bucket).
  void histogram(const Labels& labels, const std::vector<double>& bounds, std::span<const std::uint64_t> buckets, double sum) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      total += buckets[i];
      const std::string le = number(bounds[i]);
      const std::pair<std::string_view, std::string_view> bound{"le", le};
      sample(labels, static_cast<double>(total), "_bucket", &bound);
    }
    total += buckets[bounds.size()];
    const std::pair<std::string_view, std::string_view> inf{"le", "+Inf"};
    sample(labels, static_cast<double>(total), "_bucket", &inf);
    sample(labels, sum, "_sum");
    sample(labels, static_cast<double>(total), "_count");
  }

private:
  std::string& out_;
  std::string name_;
};

}  // namespace wgsd::server::prom
