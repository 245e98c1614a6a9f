// Knot DNS and NSD as secondaries of a wgsd-server on loopback: each with its own directory,
// config and TSIG key, started in the foreground and stopped by PID when the object goes.
#pragma once

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/lab.hpp"

namespace wgsd::test {

inline constexpr const char* xfr_secret = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";

/// The lines of `text`, sorted (an RRset has no order).
inline std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// `kdig +short` for `name` and `type` at 127.0.0.1:port, sorted; `prefix` runs it (a namespace).
inline std::vector<std::string> short_answer(unsigned short port, const std::string& name, const std::string& type, const std::string& prefix = "") {
  return sorted_lines(sh_out(prefix + "kdig +time=2 +retry=1 +short @127.0.0.1 -p " + std::to_string(port) + " " + name + " " + type + " 2>/dev/null; true"));
}

/// The serial at 127.0.0.1:port; 0 when it does not answer with one.
inline unsigned long soa_serial(unsigned short port, const std::string& prefix = "") {
  const std::string out = sh_out(prefix + "kdig +time=1 +retry=0 +short @127.0.0.1 -p " + std::to_string(port) + " example.com. SOA 2>/dev/null; true");
  std::istringstream in(out);
  std::string mname, rname;
  unsigned long serial = 0;
  in >> mname >> rname >> serial;
  return serial;
}

struct Secondary {
  std::string name;
  unsigned short port{};
  TempDir dir;
  Process process;
  std::string log() const { return sh_out("cat " + dir.path() + "/log 2>/dev/null; true"); }
};

/// knotd on 127.0.0.1:port, secondary of example.com. at 127.0.0.1:primary, with the TSIG key
/// key.example. for transfers and NOTIFY; it lets 127.0.0.1 transfer from it unsigned.
/// `wrap` runs it (ip netns exec ...).
inline void start_knot(Secondary& s, unsigned short port, unsigned short primary, const std::vector<std::string>& wrap = {}) {
  s.name = "knot";
  s.port = port;
  const std::string d = s.dir.path();
  std::ofstream(d + "/knot.conf") << "server:\n  rundir: " << d << "\n  listen: 127.0.0.1@" << port << "\n"
                                  << "key:\n  - id: key.example.\n    algorithm: hmac-sha256\n    secret: " << xfr_secret << "\n"
                                  << "remote:\n  - id: primary\n    address: 127.0.0.1@" << primary << "\n    key: key.example.\n"
                                  << "acl:\n  - id: notify\n    address: 127.0.0.1\n    key: key.example.\n    action: notify\n"
                                  << "  - id: local\n    address: 127.0.0.1\n    action: transfer\n"
                                  << "template:\n  - id: default\n    storage: " << d << "\n"
                                  << "database:\n  storage: " << d << "/db\n"
                                  << "zone:\n  - domain: example.com.\n    master: primary\n    acl: [notify, local]\n"
                                  << "log:\n  - target: stderr\n    any: info\n";
  std::vector<std::string> argv = wrap;
  argv.insert(argv.end(), {"knotd", "-c", d + "/knot.conf"});
  s.process = Process(argv, d + "/log");
}

/// nsd on 127.0.0.1:port, the same as start_knot.
inline void start_nsd(Secondary& s, unsigned short port, unsigned short primary, const std::vector<std::string>& wrap = {}) {
  s.name = "nsd";
  s.port = port;
  const std::string d = s.dir.path();
  std::ofstream(d + "/nsd.conf") << "server:\n  ip-address: 127.0.0.1@" << port << "\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"" << d
                                 << "\"\n  pidfile: \"" << d << "/nsd.pid\"\n  database: \"\"\n  xfrdfile: \"" << d << "/xfrd.state\"\n"
                                 << "  zonelistfile: \"" << d << "/zone.list\"\n  verbosity: 2\n  server-count: 1\n"
                                 << "remote-control:\n  control-enable: no\n"
                                 << "key:\n  name: key.example.\n  algorithm: hmac-sha256\n  secret: \"" << xfr_secret << "\"\n"
                                 << "zone:\n  name: example.com.\n  zonefile: \"example.com.zone\"\n"
                                 << "  request-xfr: 127.0.0.1@" << primary << " key.example.\n"
                                 << "  allow-notify: 127.0.0.1 key.example.\n  provide-xfr: 127.0.0.1 NOKEY\n";
  std::vector<std::string> argv = wrap;
  argv.insert(argv.end(), {"nsd", "-d", "-c", d + "/nsd.conf"});
  s.process = Process(argv, d + "/log");
}

}  // namespace wgsd::test
