// The small files in which a client remembers what it changed (the peers --sync added, the
// routes --roam placed): written whole or not at all, and held by one process at a time.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "wg/unique_fd.hpp"

namespace wgsd::client {

/// Writes `text` to `path` whole: a temporary file of its own name beside it, fsynced, renamed over
/// it, and the directory fsynced; its directory is created. After a crash the file is the old or
/// the new one, never a mix. Throws std::runtime_error naming the file.
void write_state_file(const std::string& path, const std::string& text);

/// A line of a state file and its number (from 1), for messages "PATH:N: ...".
struct StateLine {
  std::size_t number{};
  std::string text;
};

/// The lines of the state file `path` that say something (blank lines and `#` comments left out);
/// none when there is no file yet. Throws std::runtime_error naming the file when it is a
/// directory, cannot be read, or is empty or cut short (what write_state_file wrote always has a
/// header line and ends with a newline): reading a damaged file as less than it held would lose
/// track of what it names.
std::vector<StateLine> read_state_lines(const std::string& path);

/// Locks `path` for this process (flock on `path`.lock, held while the fd lives), so two clients
/// never use one state file. `who` names the user in the error ("wgsd-client --sync"). Throws
/// std::runtime_error naming the file when another holds it.
wg::UniqueFd lock_state_file(const std::string& path, const std::string& who);

/// Locks the backbone `backbone` for this process (flock on `dir`/BACKBONE.roam.lock, held while
/// the fd lives): two --roam on one backbone would each take back what the other placed. Throws
/// std::runtime_error naming the backbone and the lock file when another holds it.
wg::UniqueFd lock_roam_backbone(const std::string& backbone, const std::string& dir = "/run/wgsd-client");

}  // namespace wgsd::client
