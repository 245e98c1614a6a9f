// Re-reading the Corefile while serving: on SIGHUP, and every `reload` interval when it changed.
// A Corefile that does not parse, or cannot be put to work, changes nothing: the running
// configuration goes on serving and the problem is logged once per version of the file.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "server/config.hpp"
#include "server/query_log.hpp"
#include "server/server.hpp"

namespace wgsd::server {

/// The contents of a Corefile. Throws ConfigError "PATH: cannot read: REASON".
std::string read_corefile(const std::string& path);

/// "serving ZONE from device 'DEV' on port N", one line per zone.
void log_serving(const ServerConfig& config, Log& log);

class Reloader {
public:
  /// `text` is what `server` runs now, as read from `path`.
  Reloader(std::string path, std::string text, const ServerConfig& config, Server& server, Log& log);

  /// How often the running configuration asks for the file to be checked; nullopt: SIGHUP only.
  [[nodiscard]] std::optional<std::chrono::milliseconds> interval() const { return interval_; }
  /// How long the running configuration goes on answering after SIGTERM (`health { lameduck }`).
  [[nodiscard]] std::optional<std::chrono::milliseconds> lameduck() const { return lameduck_; }

  enum class Outcome { unchanged, applied, rejected };
  /// Reads the file and applies it if it differs from the running configuration. `asked` (SIGHUP)
  /// also reports an unchanged file and repeats a known problem; a timer check stays quiet about a
  /// version of the file it has already judged.
  Outcome check(bool asked);

private:
  std::string path_;
  std::string running_;   // the text the server runs
  std::string judged_;    // the last text looked at, good or bad ("" + marker when unreadable)
  bool rejected_{};       // judged_ was refused
  std::optional<std::chrono::milliseconds> interval_;
  std::optional<std::chrono::milliseconds> lameduck_;
  Server& server_;
  Log& log_;
};

}  // namespace wgsd::server
