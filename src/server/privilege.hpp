// Least privilege: the user the server runs as, and the Linux capabilities each of its threads
// keeps. Capabilities belong to a thread on Linux: every thread sets its own sets when it starts.
//   - threads that parse network input (UDP workers, TCP loops): nothing at all;
//   - the device reader: exactly what its backends need (CAP_NET_ADMIN for netlink,
//     CAP_DAC_OVERRIDE for a UAPI socket the server's user cannot open);
//   - the main thread: CAP_NET_BIND_SERVICE and the reader's capabilities in its permitted set
//     only, raised around a reload's bind() and device read; its effective set is empty otherwise.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wg/backend.hpp"

namespace wgsd::server::privilege {

/// A set of capabilities, bit n for capability number n (CAP_NET_ADMIN is 12).
using Caps = std::uint64_t;

inline constexpr Caps cap_dac_override = Caps{1} << 1;
inline constexpr Caps cap_setgid = Caps{1} << 6;
inline constexpr Caps cap_setuid = Caps{1} << 7;
inline constexpr Caps cap_net_bind_service = Caps{1} << 10;
inline constexpr Caps cap_net_admin = Caps{1} << 12;

/// "CAP_NET_ADMIN, CAP_DAC_OVERRIDE" ("none" for an empty set).
std::string names(Caps caps);

/// The calling thread's sets.
struct ThreadCaps {
  Caps effective{};
  Caps permitted{};
  Caps inheritable{};
};
ThreadCaps current();

/// The calling thread keeps `caps` (permitted and effective) and nothing else: no inheritable or
/// ambient capability. Throws std::runtime_error naming what it could not keep.
void restrict_thread(Caps caps);
/// The calling thread keeps `permitted` in its permitted set only (effective and inheritable empty).
void restrict_thread_permitted(Caps permitted);
/// For a thread's first line: restrict_thread(caps); a thread that cannot drop what it must not
/// hold ends the process rather than run with it.
void enter_thread(const char* name, Caps caps) noexcept;

/// Raises `caps` into the calling thread's effective set while it lives (nothing when they are
/// there already), then puts the set back. Throws std::runtime_error "`why`, which needs CAP_X;
/// the process does not have it" when one is not permitted.
class Raised {
public:
  Raised(Caps caps, const std::string& why);
  ~Raised();
  Raised(const Raised&) = delete;
  Raised& operator=(const Raised&) = delete;

private:
  std::optional<ThreadCaps> restore_;
};

/// What reading one device takes, for the user the server runs as.
struct Need {
  Caps required{};  ///< without them the device cannot be read
  Caps useful{};    ///< kept if the process has them: the device is absent now and may need them later
  std::string why;  ///< "device wg0 is read over netlink, which needs CAP_NET_ADMIN"
};
/// `groups`: the user's groups, primary first (a socket of one of them with group write is usable).
Need need_of(const std::string& device, const wg::Access& access, uid_t uid, const std::vector<gid_t>& groups);
/// The groups `name` gets at a switch to it (primary `gid` and its supplementary groups).
std::vector<gid_t> groups_of(const std::string& name, gid_t gid);
/// The calling process's effective gid and supplementary groups.
std::vector<gid_t> process_groups();

/// The capabilities a reader of `needs` keeps, given what the thread is permitted.
Caps reader_caps(const std::vector<Need>& needs, Caps permitted);
/// Throws std::runtime_error "`prefix`WHY; the process does not have it" for the first need whose
/// required capabilities are not all in `permitted`.
void check(const std::vector<Need>& needs, Caps permitted, const std::string& prefix = "");

/// `--user NAME[:GROUP]`, resolved.
struct User {
  std::string spec;  ///< as given
  std::string name;
  uid_t uid{};
  gid_t gid{};
};
/// Throws std::runtime_error "--user SPEC: no such user 'NAME'" (or group).
User resolve_user(const std::string& spec);

/// Switches the whole process to `user` (its supplementary groups, then gid and uid) and leaves the
/// calling thread `keep` in its permitted set only. The process must be root; the other threads
/// running now lose every capability (the kernel clears them when their uid leaves 0).
void switch_user(const User& user, Caps keep);

}  // namespace wgsd::server::privilege
