// Go-style durations, as CoreDNS writes them: "500ms", "1s", "2m30s", "1h".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace wgsd::util {

/// Parses a positive Go duration (units ns, us, ms, s, m, h; several may follow each other).
/// nullopt for zero, negative, unit-less or malformed text.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

/// "1.5s", "250ms", "3m0s"-like text for messages.
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace wgsd::util
