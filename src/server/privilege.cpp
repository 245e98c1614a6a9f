#include "server/privilege.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace wgsd::server::privilege {
namespace {

constexpr std::array<const char*, 41> cap_names = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
    "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};

std::string errno_text(int e) { return std::strerror(e); }

// The raw system calls (capabilities are per thread; pid 0 is the calling thread).
void set_thread(const ThreadCaps& c) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  for (std::size_t i = 0; i < 2; ++i) {
    data[i].effective = static_cast<std::uint32_t>(c.effective >> (32 * i));
    data[i].permitted = static_cast<std::uint32_t>(c.permitted >> (32 * i));
    data[i].inheritable = static_cast<std::uint32_t>(c.inheritable >> (32 * i));
  }
  if (::syscall(SYS_capset, &header, data.data()) != 0) {
    throw std::runtime_error("capset (keeping " + names(c.permitted) + "): " + errno_text(errno));
  }
}

bool parse_id(const std::string& text, unsigned& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string names(Caps caps) {
  std::string out;
  for (unsigned n = 0; n < 64; ++n) {
    if ((caps & (Caps{1} << n)) == 0) continue;
    if (!out.empty()) out += ", ";
    out += n < cap_names.size() ? std::string(cap_names[n]) : "CAP_" + std::to_string(n);
  }
  return out.empty() ? "none" : out;
}

ThreadCaps current() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  if (::syscall(SYS_capget, &header, data.data()) != 0) throw std::runtime_error("capget: " + errno_text(errno));
  ThreadCaps c;
  for (std::size_t i = 0; i < 2; ++i) {
    c.effective |= Caps{data[i].effective} << (32 * i);
    c.permitted |= Caps{data[i].permitted} << (32 * i);
    c.inheritable |= Caps{data[i].inheritable} << (32 * i);
  }
  return c;
}

void restrict_thread(Caps caps) {
  const ThreadCaps now = current();
  if (const Caps missing = caps & ~now.permitted; missing != 0) {
    throw std::runtime_error("cannot keep " + names(missing) + ": the process does not have it");
  }
  // An empty inheritable set empties the ambient one too; clearing it says so outright.
  set_thread(ThreadCaps{caps, caps, 0});
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

void restrict_thread_permitted(Caps permitted) {
  const ThreadCaps now = current();
  if (const Caps missing = permitted & ~now.permitted; missing != 0) {
    throw std::runtime_error("cannot keep " + names(missing) + ": the process does not have it");
  }
  set_thread(ThreadCaps{0, permitted, 0});
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

void enter_thread(const char* name, Caps caps) noexcept {
  try {
    restrict_thread(caps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wgsd-server: thread %s: %s\n", name, e.what());
    std::abort();
  }
  // Named only once it holds what it asked for: a thread with its own name never has more.
  (void)::pthread_setname_np(::pthread_self(), name);
}

Raised::Raised(Caps caps, const std::string& why) {
  const ThreadCaps now = current();
  if ((caps & ~now.effective) == 0) return;
  if (const Caps missing = caps & ~now.permitted; missing != 0) {
    throw std::runtime_error(why + ", which needs " + names(missing) + "; the process does not have it");
  }
  set_thread(ThreadCaps{now.effective | caps, now.permitted, now.inheritable});
  restore_ = now;
}

Raised::~Raised() {
  if (!restore_) return;
  try {
    set_thread(*restore_);
  } catch (const std::exception& e) {
    // Lowering a set the thread holds cannot fail; if it did, running on with it raised would not do.
    std::fprintf(stderr, "wgsd-server: %s\n", e.what());
    std::abort();
  }
}

Need need_of(const std::string& device, const wg::Access& access, uid_t uid, const std::vector<gid_t>& groups) {
  Need n;
  switch (access.kind) {
    case wg::Access::Kind::none: return n;
    case wg::Access::Kind::netlink:
      n.required = cap_net_admin;
      n.why = "device " + device + " is read over netlink";
      return n;
    case wg::Access::Kind::absent:
      // It may come as either: keep the means to read both, if the process has them.
      n.useful = cap_net_admin | (uid != 0 ? cap_dac_override : 0);
      n.why = "device " + device + " does not exist now";
      return n;
    case wg::Access::Kind::uapi: break;
  }
  struct stat st{};
  if (::stat(access.socket.c_str(), &st) != 0) {
    // wireguard-go and boringtun create it owned by root: keep the means to open it if there are any.
    if (uid != 0) n.useful = cap_dac_override;
    n.why = "device " + device + " is read over its UAPI socket " + access.socket + " (absent now)";
    return n;
  }
  bool writable = false;
  if (st.st_uid == uid) {
    writable = (st.st_mode & S_IWUSR) != 0;
  } else if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end()) {
    writable = (st.st_mode & S_IWGRP) != 0;
  } else {
    writable = (st.st_mode & S_IWOTH) != 0;
  }
  if (!writable) n.required = cap_dac_override;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  n.why = "device " + device + " is read over its UAPI socket " + access.socket + " (owner uid " + std::to_string(st.st_uid) + ", mode " +
          mode + ")";
  return n;
}

Caps reader_caps(const std::vector<Need>& needs, Caps permitted) {
  Caps caps = 0;
  for (const auto& n : needs) caps |= n.required | n.useful;
  return caps & permitted;
}

void check(const std::vector<Need>& needs, Caps permitted, const std::string& prefix) {
  for (const auto& n : needs) {
    if (const Caps missing = n.required & ~permitted; missing != 0) {
      throw std::runtime_error(prefix + n.why + ", which needs " + names(missing) + "; the process does not have it");
    }
  }
}

std::vector<gid_t> groups_of(const std::string& name, gid_t gid) {
  int count = 32;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  while (::getgrouplist(name.c_str(), gid, groups.data(), &count) < 0) groups.resize(static_cast<std::size_t>(count) + 1);
  groups.resize(static_cast<std::size_t>(count));
  return groups;
}

std::vector<gid_t> process_groups() {
  std::vector<gid_t> groups{::getegid()};
  const int n = ::getgroups(0, nullptr);
  if (n > 0) {
    std::vector<gid_t> more(static_cast<std::size_t>(n));
    const int got = ::getgroups(n, more.data());
    if (got > 0) groups.insert(groups.end(), more.begin(), more.begin() + got);
  }
  return groups;
}

User resolve_user(const std::string& spec) {
  User u;
  u.spec = spec;
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) {
    unsigned id = 0;
    if (parse_id(name, id)) pw = ::getpwuid(static_cast<uid_t>(id));
  }
  if (pw == nullptr) throw std::runtime_error("--user " + spec + ": no such user '" + name + "'");
  u.name = pw->pw_name;
  u.uid = pw->pw_uid;
  u.gid = pw->pw_gid;
  if (colon != std::string::npos) {
    const std::string group_name = spec.substr(colon + 1);
    const struct group* gr = ::getgrnam(group_name.c_str());
    if (gr == nullptr) {
      unsigned id = 0;
      if (parse_id(group_name, id)) gr = ::getgrgid(static_cast<gid_t>(id));
    }
    if (gr == nullptr) throw std::runtime_error("--user " + spec + ": no such group '" + group_name + "'");
    u.gid = gr->gr_gid;
  }
  return u;
}

void switch_user(const User& user, Caps keep) {
  const std::string where = "--user " + user.spec + ": ";
  if (::geteuid() != 0) {
    throw std::runtime_error(where + "switching users needs root; the process runs as uid " + std::to_string(::geteuid()));
  }
  // glibc applies each call to every thread of the process; the calling thread keeps its
  // permitted set through the uid change (PR_SET_KEEPCAPS), the others lose theirs.
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) throw std::runtime_error(where + "PR_SET_KEEPCAPS: " + errno_text(errno));
  if (::initgroups(user.name.c_str(), user.gid) != 0) throw std::runtime_error(where + "setting the groups of " + user.name + ": " + errno_text(errno));
  if (::setresgid(user.gid, user.gid, user.gid) != 0) throw std::runtime_error(where + "setresgid(" + std::to_string(user.gid) + "): " + errno_text(errno));
  if (::setresuid(user.uid, user.uid, user.uid) != 0) throw std::runtime_error(where + "setresuid(" + std::to_string(user.uid) + "): " + errno_text(errno));
  (void)::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  uid_t r = 0, e = 0, s = 0;
  if (::getresuid(&r, &e, &s) != 0 || r != user.uid || e != user.uid || s != user.uid) throw std::runtime_error(where + "the uid did not change");
  try {
    restrict_thread_permitted(keep);
  } catch (const std::exception& ex) {
    throw std::runtime_error(where + ex.what());
  }
}

}  // namespace wgsd::server::privilege
