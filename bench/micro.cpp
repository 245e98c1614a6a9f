// In-process micro benchmarks of the three costs that matter between two device reads and under
// load: building a snapshot, a refresh that changes nothing, and answering one query. They print
// figures and assert nothing about speed; bench/micro.sh builds and runs them.
//   wgsd-micro [build|refresh|query|acl|tsig|pool|memory]...   (build, refresh and query when none is named)
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include <malloc.h>
#include <sys/socket.h>

#include "dns/fixtures.hpp"
#include "dns/acl.hpp"
#include "dns/names.hpp"
#include "dns/wire.hpp"
#include "dns/zone_build.hpp"
#include "dns/responder.hpp"
#include "server/memory.hpp"
#include "dns/tsig.hpp"
#include "support/dns_case.hpp"
#include "wg/uapi_codec.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

using Ms = std::chrono::duration<double, std::milli>;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Fails the run (exit 1) when a result is wrong: a figure is only worth printing for correct work.
void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "wgsd-micro: wrong result: %s\n", what);
    std::exit(1);
  }
}

// The reference device plus `n` peers that all have a fresh endpoint, ports from `first_port`.
wg::Device device_with_peers(unsigned n, unsigned first_port) {
  wg::Device device = reference_device();
  for (unsigned i = 0; i < n; ++i) {
    wg::Peer p;
    p.public_key = key_n(i + 10);
    p.endpoint = wg::Endpoint{*wg::IpAddress::parse("198.51.100.9"), static_cast<std::uint16_t>(first_port + i % 60000)};
    p.allowed_ips.push_back(*wg::Prefix::parse("10.1.0.0/16"));
    p.last_handshake = wg::Clock::now();
    device.peers.push_back(p);
  }
  return device;
}

void bench_build() {
  const wg::Device device = device_with_peers(10000, 1000);
  std::vector<double> ms;
  std::shared_ptr<const dns::Zone> zone;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    zone = make_zone(reference_settings(), device, wg::Clock::now(), zone.get());
    ms.push_back(Ms(std::chrono::steady_clock::now() - start).count());
  }
  expect(zone->published == 10003, "build_zone publishes 10,003 peers");
  std::cout << "build: build_zone at 10,003 peers, median of 5: " << median(ms) << " ms" << std::endl;
}

void bench_refresh() {
  for (unsigned n : {10000U, 100000U}) {
    std::string dump = "private_key=" + std::string(62, '0') + "40\nlisten_port=51820\nfwmark=0\n";
    for (unsigned i = 0; i < n; ++i) {
      dump += "public_key=" + wg::hex_encode(key_n(i + 10).bytes()) + "\npreshared_key=" + std::string(64, '0') +
              "\nprotocol_version=1\nendpoint=198.51.100.9:" + std::to_string(1024 + i % 60000) +
              "\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\n" +
              "allowed_ip=10.1.0.0/16\n";
    }
    dump += "errno=0\n\n";
    std::vector<double> parse_ms, digest_ms, build_ms, release_ms;
    std::shared_ptr<const dns::Zone> zone;
    for (int i = 0; i < 5; ++i) {
      {
        const auto t0 = std::chrono::steady_clock::now();
        auto device = wg::parse_uapi_get(dump, "wg0");
        const auto t1 = std::chrono::steady_clock::now();
        const auto peers = server::published_peers(reference_settings().publish, device, wg::Clock::now());
        const auto digest = dns::published_digest(peers);
        const auto t2 = std::chrono::steady_clock::now();
        zone = dns::build_zone(reference_settings().settings, peers, wg::Clock::now(), zone.get());
        const auto t3 = std::chrono::steady_clock::now();
        expect(digest == zone->digest, "published_digest agrees with build_zone");
        parse_ms.push_back(Ms(t1 - t0).count());
        digest_ms.push_back(Ms(t2 - t1).count());
        build_ms.push_back(Ms(t3 - t2).count());
      }
      // What the refresher does once the parse is freed: give the free pages back.
      const auto t4 = std::chrono::steady_clock::now();
      server::release_free_memory();
      release_ms.push_back(Ms(std::chrono::steady_clock::now() - t4).count());
    }
    std::cout << "refresh: " << n << " peers, median of 5: parse_uapi_get " << median(parse_ms) << " ms, published_digest "
              << median(digest_ms) << " ms (all a refresh costs when nothing changed), build_zone " << median(build_ms)
              << " ms, release_free_memory " << median(release_ms) << " ms" << std::endl;
  }
}

void bench_query() {
  // The query path alone (parse, look up, assemble), single thread, random names so that a large
  // snapshot is mostly out of cache as it is under real load: what a UDP worker spends per query.
  // Batches are prefetched first as the UDP worker does.
  for (unsigned n : {1000U, 100000U}) {
    const wg::Device device = device_with_peers(n, 1024);
    const auto zones = zone_set(make_zone(reference_settings(), device, wg::Clock::now(), nullptr));
    std::vector<std::vector<std::uint8_t>> queries;
    std::uint32_t seed = 12345;
    auto next = [&seed] { return seed = seed * 1664525U + 1013904223U; };
    for (unsigned i = 0; i < 65536; ++i) {
      const auto name = dns::instance_name(key_n(10 + next() % n), "example.com.", (i & 1) != 0);
      queries.push_back(make_query(name, (i % 4) == 3 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_SRV));
    }
    std::array<std::uint8_t, 1232> out{};
    const dns::QueryContext ctx{dns::Transport::udp, wg::IpAddress::parse("127.0.0.1")};
    // One at a time, and as a UDP worker answers a recvmmsg batch (4 is the mean batch under
    // dnsperf at 100,000 peers, 32 the largest and most common): every name prefetched first.
    std::vector<std::span<const std::uint8_t>> spans(queries.begin(), queries.end());
    const std::array<std::size_t, 3> batches = {1, 4, 32};
    std::array<std::vector<double>, batches.size()> ns;
    const unsigned rounds = 4;
    std::size_t answered = 0;
    for (int r = 0; r < 5; ++r) {
      for (std::size_t b = 0; b < batches.size(); ++b) {
        const auto start = std::chrono::steady_clock::now();
        for (unsigned k = 0; k < rounds; ++k) {
          for (std::size_t i = 0; i < spans.size(); i += batches[b]) {
            const auto group = std::span(spans).subspan(i, std::min(batches[b], spans.size() - i));
            if (group.size() > 1) dns::prefetch(group, zones);
            for (const auto q : group) answered += dns::respond(q, zones, ctx, out) > 0 ? 1 : 0;
          }
        }
        ns[b].push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
                        (rounds * queries.size()));
      }
    }
    expect(answered == batches.size() * 5 * rounds * queries.size(), "every query answered");
    std::cout << "query: " << n << " peers, median of 5, ns per query (75% SRV, 25% A):";
    for (std::size_t b = 0; b < batches.size(); ++b) {
      std::cout << (b == 0 ? " one at a time " : ", in batches of " + std::to_string(batches[b]) + " ") << median(ns[b]);
    }
    std::cout << std::endl;
  }
}

void bench_acl() {
  // One query at a time at 1,000 peers, without acl and with five statements the query runs
  // through before the last allows it (the worst case: every type and network is compared).
  const wg::Device device = device_with_peers(1000, 1024);
  dns::ZoneSet plain = zone_set(make_zone(reference_settings(), device, wg::Clock::now(), nullptr));
  dns::ZoneSet guarded = plain;
  dns::AclRule rule{{"."}, {}};
  const auto net = [](const char* text) { return *dns::parse_acl_net(text); };
  rule.statements.push_back({dns::AclAction::drop, {dns::type::axfr, dns::type::ixfr}, {}});
  rule.statements.push_back({dns::AclAction::block, {}, {net("192.0.2.0/24"), net("2001:db8::/32")}});
  rule.statements.push_back({dns::AclAction::filter, {dns::type::txt}, {net("198.51.100.0/24")}});
  rule.statements.push_back({dns::AclAction::block, {}, {net("203.0.113.0/24"), net("fd00::/8")}});
  rule.statements.push_back({dns::AclAction::allow, {}, {net("10.0.0.0/8")}});
  guarded.acl = std::make_shared<const dns::Acl>(std::vector<dns::Acl::Block>{{{"."}, {"example.com."}, {rule}}});
  std::vector<std::vector<std::uint8_t>> queries;
  for (unsigned i = 0; i < 4096; ++i) queries.push_back(make_query(dns::instance_name(key_n(10 + i % 1000), "example.com."), LDNS_RR_TYPE_SRV));
  sockaddr_storage source{};
  wg::Endpoint{*wg::IpAddress::parse("10.1.2.3"), 40000}.to_sockaddr(source);
  const dns::QueryContext ctx{dns::Transport::udp, wg::IpAddress::parse("127.0.0.1"), reinterpret_cast<const sockaddr*>(&source)};
  std::array<std::uint8_t, 1232> out{};
  std::array<std::vector<double>, 2> ns;
  std::size_t answered = 0;
  for (int r = 0; r < 5; ++r) {
    for (std::size_t k = 0; k < 2; ++k) {
      const dns::ZoneSet& zones = k == 0 ? plain : guarded;
      const auto start = std::chrono::steady_clock::now();
      for (unsigned round = 0; round < 50; ++round) {
        for (const auto& q : queries) answered += dns::respond(q, zones, ctx, out) > 0 ? 1 : 0;
      }
      ns[k].push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / (50.0 * queries.size()));
    }
  }
  expect(answered == 2 * 5 * 50 * queries.size(), "every query answered");
  std::cout << "acl: 1000 peers, median of 5, ns per SRV query: without acl " << median(ns[0]) << ", through 5 statements "
            << median(ns[1]) << std::endl;
}

void bench_tsig() {
  // One query at a time at 1,000 peers: unsigned SRV queries without tsig, then the same queries
  // signed with hmac-sha256, verified and answered signed.
  const wg::Device device = device_with_peers(1000, 1024);
  dns::ZoneSet plain = zone_set(make_zone(reference_settings(), device, wg::Clock::now(), nullptr));
  dns::ZoneSet keyed = plain;
  std::string error;
  auto policy = std::make_shared<dns::tsig::Policy>();
  policy->rules.push_back({});
  policy->rules[0].keys.push_back(*dns::tsig::make_key("key.example.", "hmac-sha256", "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=", error));
  keyed.tsig = policy;
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  std::vector<std::vector<std::uint8_t>> unsigned_queries, signed_queries;
  for (unsigned i = 0; i < 4096; ++i) {
    auto q = make_query(dns::instance_name(key_n(10 + i % 1000), "example.com."), LDNS_RR_TYPE_SRV);
    unsigned_queries.push_back(q);
    const std::size_t length = q.size();
    q.resize(length + 200);
    dns::tsig::SignParams p;
    p.time_signed = now;
    p.original_id = dns::get_u16(q.data());
    q.resize(dns::tsig::sign(q, length, policy->rules[0].keys[0], p));
    signed_queries.push_back(std::move(q));
  }
  dns::QueryContext ctx;
  ctx.local_address = wg::IpAddress::parse("127.0.0.1");
  ctx.now = now;
  std::array<std::uint8_t, 1232> out{};
  std::array<std::vector<double>, 2> ns;
  std::size_t answered = 0;
  for (int r = 0; r < 5; ++r) {
    for (std::size_t k = 0; k < 2; ++k) {
      const dns::ZoneSet& zones = k == 0 ? plain : keyed;
      const auto& queries = k == 0 ? unsigned_queries : signed_queries;
      const auto start = std::chrono::steady_clock::now();
      for (unsigned round = 0; round < 20; ++round) {
        for (const auto& q : queries) answered += dns::respond(q, zones, ctx, out) > 0 && (out[3] & 0x0f) == 0 ? 1 : 0;
      }
      ns[k].push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / (20.0 * queries.size()));
    }
  }
  expect(answered == 2 * 5 * 20 * unsigned_queries.size(), "every query answered NOERROR");
  std::cout << "tsig: 1000 peers, median of 5, ns per SRV query: unsigned " << median(ns[0]) << ", signed hmac-sha256 (verify + sign) "
            << median(ns[1]) << std::endl;
}

void bench_pool() {
  // One query at a time at 1,000 peers: an instance's SRV, against a pool's SRV and A whose order
  // is drawn for each query (3 members of weights 1, 2 and 5, all healthy; then 8 members of equal
  // weights, and 8 of weights 1 to 8). `WGSD_MICRO_POOL_ROW=N` runs row N alone (0: instance SRV),
  // for a profiler.
  const wg::Device device = device_with_peers(1000, 1024);
  auto ref = reference_settings();
  wg::Device copy = device;
  const auto peers = server::published_peers(ref.publish, copy, wg::Clock::now());
  std::array<dns::ZoneSet, 3> pooled;
  for (std::size_t k = 0; k < pooled.size(); ++k) {
    dns::PoolView view;
    view.name = "vpn";
    const unsigned members = k == 0 ? 3 : 8;
    for (unsigned i = 0; i < members; ++i) {
      const std::uint16_t weight = k == 0 ? std::array<std::uint16_t, 3>{1, 2, 5}[i] : k == 1 ? 1 : static_cast<std::uint16_t>(i + 1);
      view.members.push_back({key_n(10 + i), weight, wg::Endpoint{*wg::IpAddress::parse("198.51.100." + std::to_string(i + 1)), 51820}, true});
    }
    pooled[k] = zone_set(dns::build_zone(ref.settings, peers, wg::Clock::now(), nullptr, {view}));
  }
  std::vector<std::vector<std::uint8_t>> instance, pool_srv, pool_a;
  for (unsigned i = 0; i < 4096; ++i) {
    // With EDNS (1232 bytes), as resolvers ask: eight SRV records do not fit in 512.
    const QueryOptions o{.edns = true, .id = static_cast<std::uint16_t>(i)};
    instance.push_back(make_query(dns::instance_name(key_n(10 + i % 1000), "example.com."), LDNS_RR_TYPE_SRV, o));
    pool_srv.push_back(make_query("_wireguard._udp.vpn.example.com.", LDNS_RR_TYPE_SRV, o));
    pool_a.push_back(make_query("vpn.example.com.", LDNS_RR_TYPE_A, o));
  }
  const dns::QueryContext ctx{dns::Transport::udp, wg::IpAddress::parse("127.0.0.1")};
  std::array<std::uint8_t, 1232> out{};
  struct Row {
    const char* name;
    const std::vector<std::vector<std::uint8_t>>& queries;
    const dns::ZoneSet& zones;
  };
  const std::array<Row, 5> rows = {{{"instance SRV", instance, pooled[0]},
                                    {"pool SRV of 3 (weights 1, 2, 5)", pool_srv, pooled[0]},
                                    {"pool A of 3", pool_a, pooled[0]},
                                    {"pool SRV of 8 (equal weights)", pool_srv, pooled[1]},
                                    {"pool SRV of 8 (weights 1 to 8)", pool_srv, pooled[2]}}};
  const char* only = std::getenv("WGSD_MICRO_POOL_ROW");
  std::array<std::vector<double>, rows.size()> ns;
  for (int r = 0; r < 5; ++r) {
    for (std::size_t k = 0; k < rows.size(); ++k) {
      if (only != nullptr && std::to_string(k) != only) continue;
      std::size_t answered = 0;
      const auto start = std::chrono::steady_clock::now();
      for (unsigned round = 0; round < 50; ++round) {
        for (const auto& q : rows[k].queries) answered += dns::respond(q, rows[k].zones, ctx, out) > 0 && dns::get_u16(out.data() + 6) > 0 ? 1 : 0;
      }
      ns[k].push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / (50.0 * rows[k].queries.size()));
      expect(answered == 50 * rows[k].queries.size(), "every query answered with records");
    }
  }
  if (only != nullptr) {
    const auto k = static_cast<std::size_t>(std::atoi(only));
    if (k < rows.size() && !ns[k].empty()) std::cout << "pool: " << rows[k].name << ", median of 5: " << median(ns[k]) << " ns" << std::endl;
    return;
  }
  const double base = median(ns[0]);
  std::cout << "pool: 1000 peers, median of 5, ns per query: instance SRV " << base;
  for (std::size_t k = 1; k < rows.size(); ++k) std::cout << ", " << rows[k].name << " " << median(ns[k]) << " (" << median(ns[k]) / base << "x)";
  std::cout << std::endl;
}

// The snapshot's own bytes per peer, as the allocator counts them (blocks, their headers, the
// index, the PTR set): what the server holds beyond what a one-peer device costs, apart from what a
// refresh leaves free in the allocator. Peers as bench/gen.py writes them: an endpoint, one /32
// and one /128 for every third peer, no handshake.
void bench_memory() {
  for (unsigned n : {10000U, 50000U, 100000U}) {
    wg::Device device = reference_device();
    for (unsigned i = 0; i < n; ++i) {
      wg::Peer p;
      p.public_key = key_n(i + 10);
      p.endpoint = wg::Endpoint{*wg::IpAddress::parse("198.51.100.9"), static_cast<std::uint16_t>(1024 + i % 60000)};
      p.allowed_ips.push_back(*wg::Prefix::parse("10." + std::to_string((i >> 16) & 0xff) + "." + std::to_string((i >> 8) & 0xff) + "." +
                                                 std::to_string(i & 0xff) + "/32"));
      if (i % 3 == 0) {
        char v6[48];
        std::snprintf(v6, sizeof v6, "fd00::%x:%x/128", i >> 16, i & 0xffff);
        p.allowed_ips.push_back(*wg::Prefix::parse(v6));
      }
      device.peers.push_back(p);
    }
    const auto in_use = [] {
      const struct mallinfo2 m = ::mallinfo2();
      return m.uordblks + m.hblkhd;
    };
    const std::size_t before = in_use();
    const auto zone = make_zone(reference_settings(), device, wg::Clock::now(), nullptr);
    const std::size_t total = in_use() - before;
    std::size_t blocks = 0;
    std::size_t largest = 0;
    for (const auto& node : zone->nodes) {
      const std::size_t b = ::malloc_usable_size(const_cast<std::byte*>(node->ref().block()));
      blocks += b;
      largest = std::max(largest, b);
    }
    expect(zone->published == n + 3, "build_zone publishes every peer");
    std::cout << "memory: " << n << " peers: snapshot " << total / zone->published << " bytes a peer (" << total / 1024
              << " KiB): node blocks " << (blocks - largest) / zone->published << ", the PTR set " << largest / zone->published
              << ", the rest (index, shared_ptr and Node, allocator headers) " << (total - blocks) / zone->published << std::endl;
  }
}

}  // namespace

int main(int argc, char** argv) {
  server::limit_allocator_retention();  // as wgsd-server does
  std::vector<std::string> which(argv + 1, argv + argc);
  if (which.empty()) which = {"build", "refresh", "query"};
  for (const auto& w : which) {
    if (w == "build") {
      bench_build();
    } else if (w == "refresh") {
      bench_refresh();
    } else if (w == "query") {
      bench_query();
    } else if (w == "acl") {
      bench_acl();
    } else if (w == "tsig") {
      bench_tsig();
    } else if (w == "pool") {
      bench_pool();
    } else if (w == "memory") {
      bench_memory();
    } else {
      std::fprintf(stderr, "usage: wgsd-micro [build|refresh|query|acl|tsig|pool|memory]...  (unknown '%s')\n", w.c_str());
      return 2;
    }
  }
  return 0;
}
