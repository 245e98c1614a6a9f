// A battery of hostile input against the running wgsd-server binary over real sockets: thousands of
// mutated and hand-made packets and hostile TCP. After every batch a normal query must still be
// answered correctly; QR=1 is never answered; no UDP reply exceeds what the requester allows.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "dns/names.hpp"
#include "support/dns_case.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint16_t port = 5353;

// Runs f in a thread that joined the namespace: its sockets live there.
template <typename F>
void in_netns(const Netns& ns, F f) {
  std::thread t([&] {
    const int fd = ::open(("/var/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) throw std::runtime_error("setns");
    ::close(fd);
    f();
  });
  t.join();
}

sockaddr_in server_addr() {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sin;
}

struct BatchResult {
  std::size_t sent{}, replies{}, oversized{}, unparsable{}, unsigned_replies{};
};

// Sends every packet from one socket and collects the replies; checks each reply's size against
// what any query may allow (1232, or 512 when the reply has no OPT, i.e. the query had none).
// `all_signed`: every query carries a TSIG, so every reply is NOTAUTH with a TSIG record (or TC
// when it cannot fit), or FORMERR for a TSIG out of place.
BatchResult udp_batch(const std::vector<Bytes>& packets, bool all_signed = false) {
  BatchResult r;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  const int big = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  const auto to = server_addr();
  Bytes buf(65535);
  auto drain = [&](std::chrono::milliseconds wait) {
    const auto end = std::chrono::steady_clock::now() + wait;
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return;
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      ++r.replies;
      ldns_pkt* pkt = nullptr;
      if (ldns_wire2pkt(&pkt, buf.data(), static_cast<std::size_t>(n)) != LDNS_STATUS_OK) {
        ++r.unparsable;
        continue;
      }
      const bool edns = ldns_pkt_edns(pkt);
      // NOTAUTH with the TSIG, or with TC when the record does not fit the requester's limit.
      const bool badkey = ldns_pkt_get_rcode(pkt) == 9 && (ldns_pkt_tsig(pkt) != nullptr || ldns_pkt_tc(pkt));
      if (all_signed && !badkey && ldns_pkt_get_rcode(pkt) != LDNS_RCODE_FORMERR) ++r.unsigned_replies;
      ldns_pkt_free(pkt);
      if (n > 1232 || (!edns && n > 512)) ++r.oversized;
    }
  };
  for (std::size_t i = 0; i < packets.size(); ++i) {
    ::sendto(fd, packets[i].data(), packets[i].size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    ++r.sent;
    if (i % 64 == 63) drain(5ms);
  }
  drain(300ms);
  ::close(fd);
  return r;
}

Bytes query(const std::string& name, ldns_rr_type t, QueryOptions o = {}) { return make_query(name, t, o); }

std::vector<Bytes> handmade(const std::string& peer) {
  std::vector<Bytes> out;
  const Bytes base = query(peer, LDNS_RR_TYPE_SRV);
  const Bytes base_edns = query(peer, LDNS_RR_TYPE_SRV, {.edns = true});
  for (std::uint16_t counts : {0x0000, 0xffff, 0x0002, 0x0100}) {  // lying counts
    for (int field = 4; field <= 10; field += 2) {
      Bytes q = base;
      q[field] = static_cast<std::uint8_t>(counts >> 8);
      q[field + 1] = static_cast<std::uint8_t>(counts & 0xff);
      out.push_back(q);
    }
  }
  const Bytes header = {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  auto with = [&](Bytes tail) {
    Bytes q = header;
    q.insert(q.end(), tail.begin(), tail.end());
    return q;
  };
  out.push_back(with({0xc0, 0x0c, 0, 1, 0, 1}));                        // question pointing at itself
  out.push_back(with({0xc0, 0x20, 0, 1, 0, 1, 3, 'a', 'b', 'c', 0}));   // a forward pointer
  out.push_back(with({0x40, 'x', 0, 0, 1, 0, 1}));                      // extended label type
  out.push_back(with({0x80, 'x', 0, 0, 1, 0, 1}));
  for (std::uint8_t len : {63, 64, 100, 255}) {                         // labels at and over the limit
    Bytes t(1, len);
    t.insert(t.end(), len, 'a');
    t.insert(t.end(), {0, 0, 1, 0, 1});
    out.push_back(with(t));
  }
  Bytes long_name;                                                       // 320 bytes of name
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'b');
  }
  long_name.insert(long_name.end(), {0, 0, 1, 0, 1});
  out.push_back(with(long_name));
  for (std::uint8_t opcode = 0; opcode < 16; ++opcode) {                // every opcode
    Bytes q = base;
    q[2] = static_cast<std::uint8_t>(opcode << 3);
    out.push_back(q);
  }
  for (unsigned c = 0; c < 300; ++c) {                                   // classes
    const std::uint16_t qclass = c < 256 ? static_cast<std::uint16_t>(c) : static_cast<std::uint16_t>(randombytes_uniform(65536));
    out.push_back(query(peer, LDNS_RR_TYPE_SRV, {.qclass = qclass}));
  }
  for (auto t : {LDNS_RR_TYPE_ANY, LDNS_RR_TYPE_AXFR, LDNS_RR_TYPE_IXFR, LDNS_RR_TYPE_OPT, LDNS_RR_TYPE_TSIG}) {
    out.push_back(query(peer, t));
    out.push_back(query("_wireguard._udp.example.com.", t, {.edns = true}));
  }
  for (int n = 2; n <= 3; ++n) {                                         // several OPT records
    Bytes q = base_edns;
    for (int i = 1; i < n; ++i) q.insert(q.end(), base_edns.end() - 11, base_edns.end());
    q[11] = static_cast<std::uint8_t>(n);
    out.push_back(q);
  }
  for (unsigned v = 0; v < 256; ++v) {                                   // EDNS versions
    Bytes q = base_edns;
    q[q.size() - 5] = static_cast<std::uint8_t>(v);
    out.push_back(q);
  }
  for (std::uint16_t size : {0, 1, 511, 512, 513, 1232, 1233, 4096, 65535}) {
    out.push_back(query("_wireguard._udp.example.com.", LDNS_RR_TYPE_PTR, {.edns = true, .udp_size = size}));
  }
  { Bytes q = base_edns; q[q.size() - 1] = 200; out.push_back(q); }     // OPT RDLENGTH past the end
  { Bytes q = base_edns; q[q.size() - 11] = 1; out.push_back(q); }      // OPT owner not the root
  for (int junk = 1; junk < 200; junk += 7) {                            // junk after the question
    Bytes q = base;
    for (int i = 0; i < junk; ++i) q.push_back(static_cast<std::uint8_t>(randombytes_uniform(256)));
    out.push_back(q);
  }
  return out;
}

// Queries with a TSIG record (no key is configured): in every section and place, with names
// that pass 512 bytes together, compressed, and with pointers that loop.
std::vector<Bytes> signed_queries(const std::string& peer) {
  std::vector<Bytes> out;
  auto name = [](std::size_t labels, std::uint8_t len) {
    Bytes n;
    for (std::size_t i = 0; i < labels; ++i) {
      n.push_back(len);
      n.insert(n.end(), len, 'k');
    }
    n.push_back(0);
    return n;
  };
  auto tsig = [](const Bytes& owner, const Bytes& algorithm, std::size_t mac) {
    Bytes rdata = algorithm;
    rdata.insert(rdata.end(), {0, 0, 0x65, 0x53, 0xf1, 0x00, 1, 44, static_cast<std::uint8_t>(mac >> 8), static_cast<std::uint8_t>(mac)});
    rdata.insert(rdata.end(), mac, 0xaa);
    rdata.insert(rdata.end(), {0x12, 0x34, 0, 0, 0, 0});
    Bytes rr = owner;
    rr.insert(rr.end(), {0, 250, 0, 255, 0, 0, 0, 0, static_cast<std::uint8_t>(rdata.size() >> 8), static_cast<std::uint8_t>(rdata.size())});
    rr.insert(rr.end(), rdata.begin(), rdata.end());
    return rr;
  };
  const Bytes plain = query(peer, LDNS_RR_TYPE_SRV);
  const Bytes edns = query(peer, LDNS_RR_TYPE_SRV, {.edns = true});
  const Bytes hmac = {11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0};
  for (const Bytes& owner : {name(1, 3), name(4, 62), Bytes{0xc0, 0x0c}, Bytes{0xc0, 0xff}}) {
    for (const Bytes& algorithm : {hmac, name(4, 61), Bytes{0xc0, 0x0c}}) {
      for (std::size_t mac : {0, 32, 64}) {
        for (const Bytes* base : {&plain, &edns}) {
          Bytes q = *base;
          const auto record = tsig(owner, algorithm, mac);
          q.insert(q.end(), record.begin(), record.end());
          q[11] = static_cast<std::uint8_t>(q[11] + 1);
          out.push_back(q);
          Bytes before_opt = plain;  // the TSIG, then an OPT: FORMERR
          before_opt.insert(before_opt.end(), record.begin(), record.end());
          before_opt.insert(before_opt.end(), edns.end() - 11, edns.end());
          before_opt[11] = 2;
          out.push_back(before_opt);
        }
      }
    }
  }
  return out;
}

std::vector<Bytes> mutated(const std::vector<Bytes>& seeds, unsigned count) {
  std::vector<Bytes> out;
  for (unsigned i = 0; i < count; ++i) {
    Bytes q = seeds[randombytes_uniform(static_cast<std::uint32_t>(seeds.size()))];
    const unsigned edits = 1 + randombytes_uniform(8);
    for (unsigned e = 0; e < edits && !q.empty(); ++e) {
      const std::size_t at = randombytes_uniform(static_cast<std::uint32_t>(q.size()));
      switch (randombytes_uniform(5)) {
        case 0: q[at] ^= static_cast<std::uint8_t>(1 << randombytes_uniform(8)); break;
        case 1: q[at] = static_cast<std::uint8_t>(randombytes_uniform(256)); break;
        case 2: q.insert(q.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(randombytes_uniform(256))); break;
        case 3: q.erase(q.begin() + static_cast<std::ptrdiff_t>(at)); break;
        default: q.resize(at); break;
      }
    }
    if (q.size() > 2) q[2] &= 0x7f;  // keep QR clear: responses are tested on their own
    out.push_back(q);
  }
  return out;
}

int tcp_connect() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const auto to = server_addr();
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}



long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb = 0;
      in >> kb;
      return kb;
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("hostile packets and connections never stop correct answers", "[server][battery][live]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  Netns ns;
  WireguardGo dev(ns, "wgh");
  TempDir dir;
  const wg::Key peer_key = key_n(1);
  REQUIRE(ns.exec("wg set " + dev.ifname() + " listen-port 51820 peer " + peer_key.to_base64() + " endpoint 198.51.100.7:40001 allowed-ips 10.0.0.1/32") == 0);
  for (unsigned i = 2; i < 40; ++i) REQUIRE(ns.exec("wg set " + dev.ifname() + " peer " + key_n(i).to_base64() + " endpoint 198.51.100.8:" + std::to_string(i)) == 0);
  std::ofstream(dir.path() + "/Corefile") << ".:5353 {\n bind 127.0.0.1\n wgsd example.com. " << dev.ifname() << " {\n  refresh 100ms\n  ns ns1.example.com. 127.0.0.1\n }\n}\n";
  Process server(ns.wrap({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}), dir.path() + "/server.log");
  REQUIRE(eventually([&] { return ns.exec("dig +short +time=1 +tries=1 @127.0.0.1 -p 5353 example.com. SOA >/dev/null 2>&1") == 0; }, 5000ms));
  const std::string peer = dns::instance_name(peer_key, "example.com.", true);

  // A normal query, answered correctly: checked after every batch.
  auto healthy = [&]() -> bool {
    const auto r = udp_batch({query(peer, LDNS_RR_TYPE_SRV, {.id = 4242})});
    if (r.replies != 1) return false;
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    const auto to = server_addr();
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const Bytes q = query(peer, LDNS_RR_TYPE_SRV, {.id = 4243});
    ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    Bytes buf(2048);
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    ::close(fd);
    if (n <= 0) return false;
    buf.resize(static_cast<std::size_t>(n));
    auto pkt = parse_response(buf);
    return pkt != nullptr && ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_NOERROR && ldns_pkt_ancount(pkt.get()) == 1 &&
           section(pkt.get(), LDNS_SECTION_ADDITIONAL).at(0).find("198.51.100.7") != std::string::npos;
  };

  const long rss_before = rss_kb(server.pid());
  std::vector<std::string> failures;
  std::size_t total = 0;
  in_netns(ns, [&] {
    auto check = [&](const std::string& what, const BatchResult& r, bool expect_silence = false) {
      total += r.sent;
      if (r.oversized) failures.push_back(what + ": " + std::to_string(r.oversized) + " replies over the requester's limit");
      if (r.unparsable) failures.push_back(what + ": " + std::to_string(r.unparsable) + " replies ldns cannot parse");
      if (expect_silence && r.replies) failures.push_back(what + ": " + std::to_string(r.replies) + " replies where none is allowed");
      if (r.unsigned_replies) failures.push_back(what + ": " + std::to_string(r.unsigned_replies) + " replies neither NOTAUTH with a TSIG nor FORMERR");
      if (!healthy()) failures.push_back("after " + what + ": a normal query was not answered correctly");
    };
    // Too short for a header, and responses (QR=1): never answered.
    std::vector<Bytes> silent;
    for (std::size_t len = 0; len < 12; ++len) silent.push_back(Bytes(len, 0x11));
    auto all = handmade(peer);
    for (auto& q : signed_queries(peer)) all.push_back(std::move(q));
    for (const auto& q : all) {
      Bytes r = q;
      if (r.size() > 2) r[2] |= 0x80;
      silent.push_back(r);
    }
    check("short packets and QR=1", udp_batch(silent), true);
    check("hand-made hostile queries", udp_batch(handmade(peer)));
    check("signed queries", udp_batch(signed_queries(peer), true));
    std::vector<Bytes> seeds;
    for (const auto& entry : std::filesystem::directory_iterator(WGSD_SOURCE_DIR "/fuzz/corpus/respond")) {
      std::ifstream in(entry.path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    for (int round = 0; round < 4; ++round) check("mutated queries, round " + std::to_string(round + 1), udp_batch(mutated(seeds, 2500)));

    // Hostile TCP.
    const int partial = tcp_connect();
    const std::uint8_t one = 0;
    ::send(partial, &one, 1, 0);  // half a length prefix
    const int never = tcp_connect();
    const std::uint8_t promise[12] = {0, 200, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    ::send(never, promise, sizeof promise, 0);  // a length whose message never arrives
    std::vector<int> idle;
    for (int i = 0; i < 300; ++i) idle.push_back(tcp_connect());  // more than the connection cap
    const int c = tcp_connect();
    Bytes pipeline;
    for (std::uint16_t id = 1; id <= 100; ++id) {
      const auto f = framed(query(peer, LDNS_RR_TYPE_SRV, {.id = id}));
      pipeline.insert(pipeline.end(), f.begin(), f.end());
    }
    const auto garbage = framed(Bytes{0xde, 0xad, 0x01, 0x00, 0, 0, 0, 7, 0, 0, 0, 0, 0xff});  // no question, lying counts
    pipeline.insert(pipeline.end(), garbage.begin(), garbage.end());
    const auto last = framed(query(peer, LDNS_RR_TYPE_A, {.id = 999}));
    pipeline.insert(pipeline.end(), last.begin(), last.end());
    ::send(c, pipeline.data(), pipeline.size(), 0);
    std::size_t in_order = 0;
    for (std::uint16_t id = 1; id <= 100; ++id) {
      const auto m = read_message(c);
      if (m.size() >= 2 && ((m[0] << 8) | m[1]) == id) ++in_order;
    }
    if (in_order != 100) failures.push_back("pipelined TCP: " + std::to_string(in_order) + " of 100 answers in order");
    const auto formerr = read_message(c);
    if (formerr.size() < 4 || (formerr[3] & 0x0f) != 1) failures.push_back("TCP garbage: no FORMERR");
    const auto after = read_message(c);
    if (after.size() < 2 || ((after[0] << 8) | after[1]) != 999) failures.push_back("TCP: no answer after garbage");
    ::close(c);
    for (int fd : idle) ::close(fd);
    ::close(partial);
    ::close(never);
    if (!healthy()) failures.push_back("after hostile TCP: a normal query was not answered correctly");
  });
  const long rss_after = rss_kb(server.pid());
  for (const auto& f : failures) FAIL_CHECK(f);
  CHECK(server.running());
  std::cout << "figure: battery of " << total << " UDP packets + hostile TCP; server RSS " << rss_before << " kB before, " << rss_after
            << " kB after" << std::endl;
  CHECK(rss_after < rss_before + 16 * 1024);
}
