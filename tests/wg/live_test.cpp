// Against real WireGuard: wireguard-go in a network namespace, configured and checked with wg(8).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "support/keys.hpp"
#include "support/lab.hpp"
#include "wg/backend.hpp"
#include "wg/error.hpp"

using namespace wgsd;

namespace {

std::vector<std::vector<std::string>> dump_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::istringstream l(line);
    std::string col;
    while (std::getline(l, col, '\t')) cols.push_back(col);
    rows.push_back(cols);
  }
  return rows;
}

std::string join_prefixes(const std::vector<wg::Prefix>& ips) {
  if (ips.empty()) return "(none)";
  std::string out;
  for (const auto& p : ips) out += (out.empty() ? "" : ",") + p.to_string();
  return out;
}

// Compares a device read through a backend with `wg show IF dump`, field by field.
void check_matches_dump(const wg::Device& dev, const std::string& dump) {
  const auto rows = dump_rows(dump);
  REQUIRE(rows.size() == dev.peers.size() + 1);
  REQUIRE(rows[0].size() == 4);
  CHECK(rows[0][1] == dev.public_key.to_base64());
  CHECK(rows[0][2] == std::to_string(dev.listen_port));
  CHECK(rows[0][3] == (dev.fwmark == 0 ? std::string("off") : "0x" + [&] { std::ostringstream s; s << std::hex << dev.fwmark; return s.str(); }()));
  // wireguard-go lists peers in its hash map's order, which may differ between two reads: match by key.
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& r = rows[i];
    REQUIRE(r.size() == 8);
    const auto found = std::find_if(dev.peers.begin(), dev.peers.end(), [&](const wg::Peer& p) { return p.public_key.to_base64() == r[0]; });
    REQUIRE(found != dev.peers.end());
    const auto& p = *found;
    INFO("peer " << r[0]);
    CHECK(r[0] == p.public_key.to_base64());
    CHECK((r[1] != "(none)") == p.has_preshared_key);
    CHECK(r[2] == (p.endpoint ? p.endpoint->to_string() : "(none)"));
    CHECK(r[3] == join_prefixes(p.allowed_ips));
    const auto hs = p.last_handshake ? std::chrono::duration_cast<std::chrono::seconds>(p.last_handshake->time_since_epoch()).count() : 0;
    CHECK(r[4] == std::to_string(hs));
    CHECK(r[5] == std::to_string(p.rx_bytes));
    CHECK(r[6] == std::to_string(p.tx_bytes));
    CHECK(r[7] == (p.persistent_keepalive == 0 ? std::string("off") : std::to_string(p.persistent_keepalive)));
  }
}

}  // namespace

TEST_CASE("UAPI backend reads and writes a real wireguard-go device", "[wg][live]") {
  test::require_live({"wireguard-go", "wg", "ip"});
  test::Netns ns;
  test::WireguardGo wgo(ns);
  const std::string ifname = wgo.ifname();
  test::TempDir dir;
  const std::string priv = dir.path() + "/priv";
  const std::string psk = dir.path() + "/psk";
  std::ofstream(priv) << test::genkey() << "\n";
  std::ofstream(psk) << test::genkey() << "\n";
  std::vector<std::string> peers;
  for (int i = 0; i < 4; ++i) peers.push_back(test::sh_out("wg genkey | wg pubkey").substr(0, 44));
  const std::string wgset = "wg set " + ifname;
  REQUIRE(ns.exec(wgset + " private-key " + priv + " listen-port 51999 fwmark 0x2a") == 0);
  REQUIRE(ns.exec(wgset + " peer " + peers[0] + " endpoint 198.51.100.7:40001 allowed-ips 10.0.0.1/32,192.168.50.77/24 persistent-keepalive 25") == 0);
  REQUIRE(ns.exec(wgset + " peer " + peers[1] + " endpoint [2001:db8::7]:40002 allowed-ips 10.0.0.2/32,fd00::2/128 preshared-key " + psk) == 0);
  REQUIRE(ns.exec(wgset + " peer " + peers[2] + " allowed-ips 10.0.0.3/32") == 0);
  REQUIRE(ns.exec(wgset + " peer " + peers[3] + " endpoint 192.0.2.44:51820") == 0);

  auto backend = wg::make_backend(wg::BackendKind::automatic);
  const wg::Device before = backend->get_device(ifname);
  CHECK(before.name == ifname);
  CHECK(before.peers.size() == 4);
  check_matches_dump(before, ns.exec_out("wg show " + ifname + " dump"));
  const std::string private_before = ns.exec_out("wg show " + ifname + " private-key");

  wg::DeviceUpdate update{ifname, {{test::key_from_b64(peers[2]), true, wg::Endpoint::parse("[2001:db8::99]:4500")}}};
  backend->apply(update);
  const wg::Device after = backend->get_device(ifname);
  check_matches_dump(after, ns.exec_out("wg show " + ifname + " dump"));
  CHECK(ns.exec_out("wg show " + ifname + " endpoints").find(peers[2] + "\t[2001:db8::99]:4500") != std::string::npos);
  CHECK(ns.exec_out("wg show " + ifname + " private-key") == private_before);
  CHECK(after.listen_port == before.listen_port);
  CHECK(after.fwmark == before.fwmark);
  REQUIRE(after.peers.size() == before.peers.size());
  for (const auto& a : after.peers) {
    const auto b = std::find_if(before.peers.begin(), before.peers.end(), [&](const wg::Peer& p) { return p.public_key == a.public_key; });
    REQUIRE(b != before.peers.end());
    if (a.public_key.to_base64() == peers[2]) {
      CHECK(a.endpoint->to_string() == "[2001:db8::99]:4500");
      CHECK(a.allowed_ips == b->allowed_ips);
    } else {
      CHECK(a == *b);
    }
  }

  SECTION("update_only never creates a peer") {
    wg::DeviceUpdate add{ifname, {{test::key_n(77), true, wg::Endpoint::parse("192.0.2.9:9")}}};
    backend->apply(add);
    CHECK(backend->get_device(ifname).peers.size() == 4);
  }
  SECTION("the device vanishing is 'no such device'") {
    wgo.kill();
    try {
      backend->get_device(ifname);
      FAIL("no error");
    } catch (const wg::Error& e) {
      CHECK(e.no_such_device());
    }
  }
}

TEST_CASE("UAPI read of a 10,000-peer device", "[wg][live][scale]") {
  test::require_live({"wireguard-go", "wg", "ip"});
  test::Netns ns;
  test::WireguardGo wgo(ns);
  test::TempDir dir;
  const std::string conf = dir.path() + "/wg.conf";
  {
    std::ofstream out(conf);
    out << "[Interface]\nPrivateKey = " << test::genkey() << "\nListenPort = 51998\n";
    for (unsigned i = 0; i < 10000; ++i) {
      out << "[Peer]\nPublicKey = " << test::key_n(i + 1).to_base64() << "\nAllowedIPs = 10." << (i >> 16) << "." << ((i >> 8) & 0xff) << "."
          << (i & 0xff) << "/32\nEndpoint = 198.51.100." << (i % 250 + 1) << ":" << (20000 + i) << "\n";
    }
  }
  REQUIRE(ns.exec("wg setconf " + wgo.ifname() + " " + conf) == 0);
  auto backend = wg::make_backend(wg::BackendKind::uapi);
  const auto start = std::chrono::steady_clock::now();
  const wg::Device dev = backend->get_device(wgo.ifname());
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(dev.peers.size() == 10000);
  // wireguard-go lists peers in its hash map's order, not in the order they were added.
  const auto last = std::find_if(dev.peers.begin(), dev.peers.end(), [](const wg::Peer& p) { return p.public_key == test::key_n(10000); });
  REQUIRE(last != dev.peers.end());
  CHECK(last->endpoint->port == 29999);
  std::cout << "figure: UAPI get_device of 10,000 peers took " << ms << " ms" << std::endl;
}

TEST_CASE("netlink backend reads a kernel WireGuard device", "[wg][live][netlink]") {
  if (::geteuid() != 0) test::skip("needs root for netlink and network namespaces");
  // Probe first, before anything is created that a skip (which exits) would leave behind.
  try {
    wg::make_backend(wg::BackendKind::netlink)->get_device("wgsdprobe0");
  } catch (const wg::Error& e) {
    if (e.code() == std::make_error_code(std::errc::protocol_not_supported)) {
      test::skip(std::string("no kernel WireGuard here: ") + e.what());
    }
  }
  test::Netns ns;
  const std::string ifname = test::unique_name("wgk");
  REQUIRE(ns.exec("ip link add " + ifname + " type wireguard") == 0);
  REQUIRE(ns.exec("wg set " + ifname + " listen-port 51997 peer " + test::key_n(1).to_base64() +
                  " endpoint 192.0.2.1:5 allowed-ips 10.0.0.1/32,fd00::/64") == 0);
  // A network namespace applies per thread: read the device from a thread that joined it.
  wg::Device dev;
  std::string error;
  std::thread reader([&] {
    const int fd = ::open(("/var/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      error = "setns failed";
      return;
    }
    ::close(fd);
    try {
      dev = wg::make_backend(wg::BackendKind::netlink)->get_device(ifname);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  reader.join();
  REQUIRE(error.empty());
  check_matches_dump(dev, ns.exec_out("wg show " + ifname + " dump"));
}
