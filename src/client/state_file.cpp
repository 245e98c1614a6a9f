#include "client/state_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace wgsd::client {

void write_state_file(const std::string& path, const std::string& text) {
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (dir.empty()) dir = ".";
  // A temporary file of its own (two writers never share one), flushed to the disk, renamed over
  // the old one, and the directory flushed: after a crash the file is the old or the new, whole.
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw std::runtime_error(path + ": cannot create a temporary file beside it: " + std::strerror(errno));
  wg::UniqueFd file(fd);
  const auto fail = [&](const std::string& what) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": cannot write " + tmp + ": " + what + ": " + why);
  };
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0) fail("chmod");
  if (::fsync(fd) != 0) fail("fsync");
  file.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename");
  wg::UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d || ::fsync(d.get()) != 0) throw std::runtime_error(path + ": cannot flush its directory: " + std::strerror(errno));
}

std::vector<StateLine> read_state_lines(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw std::runtime_error(path + ": is a directory, not a state file");
  std::ifstream in(path);
  if (!in) {
    if (!std::filesystem::exists(path, ec)) return {};
    throw std::runtime_error(path + ": cannot read: " + std::strerror(errno));
  }
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (content.empty()) throw std::runtime_error(path + ": is empty (a state file always has its header line): remove it to start afresh");
  if (content.back() != '\n') throw std::runtime_error(path + ": is truncated (its last line is cut short): remove it to start afresh");
  std::vector<StateLine> out;
  std::istringstream lines(content);
  std::string line;
  for (std::size_t n = 1; std::getline(lines, line); ++n) {
    if (!line.empty() && line[0] != '#') out.push_back({n, line});
  }
  return out;
}

wg::UniqueFd lock_state_file(const std::string& path, const std::string& who) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  const std::string name = path + ".lock";
  wg::UniqueFd fd(::open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) throw std::runtime_error(name + ": cannot open: " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) throw std::runtime_error(path + ": another " + who + " uses this state file (" + name + " is locked)");
    throw std::runtime_error(name + ": cannot lock: " + std::strerror(errno));
  }
  return fd;
}

wg::UniqueFd lock_roam_backbone(const std::string& backbone, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string name = dir + "/" + backbone + ".roam.lock";
  wg::UniqueFd fd(::open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) throw std::runtime_error(name + ": cannot open: " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) throw std::runtime_error("another wgsd-client --roam uses the backbone '" + backbone + "' (" + name + " is locked)");
    throw std::runtime_error(name + ": cannot lock: " + std::strerror(errno));
  }
  return fd;
}

}  // namespace wgsd::client
