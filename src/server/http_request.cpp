#include "server/http_request.hpp"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace wgsd::server::http {
namespace {

bool is_tchar(char c) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || extra.find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// A field value's bytes: anything but control bytes (HTAB aside) and DEL; bytes past 0x7F allowed.
bool is_field_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7F;
  });
}

// A request target's bytes: visible US-ASCII only.
bool is_target(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether the comma-separated list `value` (a Connection header) holds `token`.
bool lists(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The path of a request target: origin form ("/metrics?x"), or absolute form
// ("http://host/metrics"); percent escapes decoded. Empty when it is neither.
std::string target_path(std::string_view target) {
  if (target.empty()) return {};
  if (target.front() != '/') {
    const auto scheme = target.find("://");
    if (scheme == std::string_view::npos || !(iequals(target.substr(0, scheme), "http") || iequals(target.substr(0, scheme), "https"))) return {};
    // The host ends at the first of "/?#"; only a "/" there begins a path.
    const auto host_end = target.find_first_of("/?#", scheme + 3);
    target = host_end == std::string_view::npos || target[host_end] != '/' ? std::string_view("/") : target.substr(host_end);
  }
  target = target.substr(0, target.find_first_of("?#"));
  std::string path;
  path.reserve(target.size());
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' && i + 2 < target.size() && hex(target[i + 1]) >= 0 && hex(target[i + 2]) >= 0) {
      path += static_cast<char>(hex(target[i + 1]) * 16 + hex(target[i + 2]));
      i += 2;
    } else {
      path += target[i];
    }
  }
  return path;
}

Parsed error(unsigned status, std::string reason) {
  Parsed p;
  p.kind = Parsed::Kind::error;
  p.status = status;
  p.reason = std::move(reason);
  return p;
}

const char* reason_phrase(unsigned status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

}  // namespace

Parsed parse_request(std::string_view buffer, std::size_t limit, std::size_t resume) {
  // Empty lines (CRLF or LF) before a request line are ignored (a client may end a request with an
  // extra CRLF).
  std::size_t start = 0;
  for (;;) {
    if (start < buffer.size() && buffer[start] == '\n') {
      ++start;
    } else if (start + 1 < buffer.size() && buffer[start] == '\r' && buffer[start + 1] == '\n') {
      start += 2;
    } else {
      break;
    }
  }
  // The head ends at the first empty line; a line ends with LF, a CR before it dropped. The search
  // goes on from where the previous parse of this buffer, shorter, left it.
  std::size_t end = std::string_view::npos;
  for (std::size_t nl = buffer.find('\n', std::max(start, resume)); nl != std::string_view::npos; nl = buffer.find('\n', nl + 1)) {
    const std::size_t next = nl + 1;
    if (next < buffer.size() && buffer[next] == '\n') {
      end = next + 1;
      break;
    }
    if (next + 1 < buffer.size() && buffer[next] == '\r' && buffer[next + 1] == '\n') {
      end = next + 2;
      break;
    }
  }
  if (end == std::string_view::npos || end > limit) {
    if (buffer.size() > limit || end != std::string_view::npos) return error(431, "request headers too large");
    Parsed p;
    p.scanned = std::max(start, buffer.size() < 2 ? std::size_t{0} : buffer.size() - 2);  // a LF there may yet end the head
    return p;
  }
  // A CR not followed by LF would end a line for some other reader of these bytes, not for us.
  for (std::size_t cr = buffer.find('\r', start); cr < end; cr = buffer.find('\r', cr + 1)) {
    if (buffer[cr + 1] != '\n') return error(400, "bare CR in the request head");
  }

  std::string_view head = buffer.substr(start, end - start);
  const auto next_line = [&head]() {
    const auto nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };

  // METHOD SP TARGET SP HTTP/1.x
  const std::string_view line = next_line();
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return error(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return error(400, "malformed request line");
  if (!is_target(target)) return error(400, "malformed request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' || version[5] > '9' || version[7] < '0' ||
      version[7] > '9') {
    return error(400, "malformed request line");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) return error(505, "only HTTP/1.0 and HTTP/1.1 are served");
  const bool http11 = version[7] == '1';

  int hosts = 0;
  bool body = false;
  bool close = false;
  bool keep_alive = false;
  while (!head.empty()) {
    const std::string_view field = next_line();
    if (field.empty()) break;
    const auto colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) return error(400, "malformed header field");
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim(field.substr(colon + 1));
    if (!is_field_value(value)) return error(400, "control byte in a header field");
    if (iequals(name, "Host")) {
      ++hosts;
    } else if (iequals(name, "Content-Length")) {
      std::uint64_t length = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) return error(400, "malformed Content-Length");
      body = body || length > 0;
    } else if (iequals(name, "Transfer-Encoding")) {
      body = true;
    } else if (iequals(name, "Connection")) {
      close = close || lists(value, "close");
      keep_alive = keep_alive || lists(value, "keep-alive");
    }
  }
  if (method != "GET" && method != "HEAD") return error(405, "method not allowed");
  if (http11 ? hosts != 1 : hosts > 1) return error(400, "an HTTP/1.1 request needs exactly one Host");
  if (body) return error(413, "a request body is not accepted");
  Parsed p;
  p.request.path = target_path(target);
  if (p.request.path.empty()) return error(400, "malformed request target");
  p.kind = Parsed::Kind::request;
  p.consumed = end;
  p.request.head = method == "HEAD";
  p.request.keep_alive = !close && (http11 || keep_alive);
  return p;
}

std::string response_head(const HttpResponse& response, bool keep_alive, bool allow) {
  char date[64] = "";
  const time_t now = ::time(nullptr);
  tm utc{};
  if (::gmtime_r(&now, &utc) != nullptr) ::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
  head += "Date: ";
  head += date;
  head += "\r\nContent-Type: " + response.content_type + "\r\nContent-Length: " + std::to_string(response.body.size()) +
          "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  if (allow) head += "Allow: GET, HEAD\r\n";
  head += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return head;
}

}  // namespace wgsd::server::http
