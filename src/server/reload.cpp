#include "server/reload.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace wgsd::server {
namespace {

// Not a possible Corefile (a NUL byte): what judged_ holds while the file cannot be read.
const std::string unreadable("\0unreadable", 11);

}  // namespace

std::string read_corefile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  return ss.str();
}

void log_serving(const ServerConfig& config, Log& log) {
  for (const auto& b : config.blocks) {
    for (const auto& z : b.wgsd) log.info("serving " + z.settings.zone + " from device '" + z.device + "' on port " + std::to_string(b.port));
  }
}

Reloader::Reloader(std::string path, std::string text, const ServerConfig& config, Server& server, Log& log)
    : path_(std::move(path)), running_(std::move(text)), judged_(running_), interval_(config.reload), lameduck_(config.lameduck), server_(server), log_(log) {}

Reloader::Outcome Reloader::check(bool asked) {
  std::string text;
  try {
    text = read_corefile(path_);
  } catch (const ConfigError& e) {
    if (asked || judged_ != unreadable) log_.error(std::string("reload: ") + e.what() + "; keeping the running configuration");
    judged_ = unreadable;
    rejected_ = true;
    return Outcome::rejected;
  }
  if (text == judged_ && !asked) return rejected_ ? Outcome::rejected : Outcome::unchanged;
  const bool was_rejected = rejected_;
  judged_ = text;
  if (text == running_) {
    rejected_ = false;
    if (was_rejected) log_.info("reload: " + path_ + " is back to the running configuration");
    else if (asked) log_.info("reload: " + path_ + " is unchanged");
    return Outcome::unchanged;
  }
  try {
    const ServerConfig config = parse_config(text, path_);
    server_.reload(config);
    running_ = std::move(text);
    rejected_ = false;
    interval_ = config.reload;
    lameduck_ = config.lameduck;
    log_.info("reload: " + path_ + " applied");
    log_serving(config, log_);
    return Outcome::applied;
  } catch (const std::exception& e) {
    // ConfigError names the file and line; a bind failure names the address.
    rejected_ = true;
    log_.error(std::string("reload: ") + e.what() + "; keeping the running configuration");
    return Outcome::rejected;
  }
}

}  // namespace wgsd::server
