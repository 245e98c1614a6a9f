#include "server/dns_metrics.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <tuple>

#include "dns/wire.hpp"
#include "server/prom_text.hpp"
#include "server/transfer_metrics.hpp"

namespace wgsd::server::metrics {
namespace {

constexpr std::array<const char*, known_types.size()> type_names = {"A",     "AAAA",  "CNAME", "DNSKEY", "DS",  "MX",   "NSEC3", "NSEC", "NS",
                                                                     "PTR",   "RRSIG", "SOA",   "SRV",    "TXT", "IXFR", "AXFR",  "ANY"};
// As CoreDNS writes them (miekg/dns RcodeToString); the unassigned ones by number.
constexpr std::array<const char*, rcode_count> rcode_names = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
                                                              "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "11",
                                                              "12",       "13",      "14",       "15",       "BADVERS", "BADKEY",
                                                              "BADTIME",  "BADMODE", "BADNAME",  "BADALG",   "BADTRUNC", "BADCOOKIE"};
constexpr std::array<const char*, writer_count> writer_names = {"", "wgsd", "acl", "tsig"};
constexpr std::array<const char*, tsig_error_count> tsig_names = {"BADSIG", "BADKEY", "BADTIME", "BADTRUNC", "FORMERR"};
constexpr std::array<const char*, 2> proto_names = {"udp", "tcp"};

// The only writer of `x` adds one: a relaxed load and store, no locked instruction.
inline void bump(std::uint64_t& x, std::uint64_t by = 1) noexcept {
  std::atomic_ref<std::uint64_t> a(x);
  a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

inline std::uint64_t read(const std::uint64_t& x) noexcept {
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(x)).load(std::memory_order_relaxed);
}

std::size_t size_bucket(std::size_t size) noexcept {
  for (std::size_t i = 0; i < size_bounds.size(); ++i) {
    if (size <= size_bounds[i]) return i;
  }
  return size_bounds.size();
}

std::size_t time_bucket(std::uint64_t ns) noexcept {
  std::uint64_t bound = 250000;  // 0.25 ms
  for (std::size_t i = 0; i < time_buckets; ++i, bound *= 2) {
    if (ns <= bound) return i;
  }
  return time_buckets;
}

}  // namespace

std::uint8_t query_zone_slot(const dns::ZoneSet& zones, std::span<const std::uint8_t> query, const dns::ResponseInfo& info) noexcept {
  const dns::Zone* zone = info.zone;
  if (zone == nullptr && info.has_question && info.qname_length <= dns::max_name && info.qname_offset + info.qname_length <= query.size()) {
    std::array<char, dns::max_name> lower;
    for (std::size_t i = 0; i < info.qname_length; ++i) {
      const auto c = static_cast<char>(query[info.qname_offset + i]);
      lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
    }
    std::size_t apex = 0;
    zone = zones.match({lower.data(), info.qname_length}, apex);
  }
  if (zone == nullptr) return 0;
  for (std::size_t i = 0; i < zones.zones.size() && i < zones.metric_slots.size(); ++i) {
    if (zones.zones[i].get() == zone) return zones.metric_slots[i];
  }
  return 0;
}

namespace {

// wgsd_tsig_verified_total: the signed queries that were answered signed.
void render_tsig_verified(std::string& out, const std::map<std::pair<std::string, std::string>, Counts>& sums) {
  prom::Family verified(out, "wgsd_tsig_verified_total", "counter", "Signed queries whose TSIG verified (answered signed).");
  for (const auto& [key, c] : sums) {
    if (c.tsig_verified != 0) verified.sample({{"server", key.first}, {"zone", key.second}}, static_cast<double>(c.tsig_verified));
  }
}

}  // namespace

std::size_t type_index(std::uint16_t qtype) noexcept {
  for (std::size_t i = 0; i < known_types.size(); ++i) {
    if (known_types[i] == qtype) return i;
  }
  return known_types.size();
}

void count(Block& block, const dns::ZoneSet& zones, std::span<const std::uint8_t> query, const dns::ResponseInfo& info, const Query& q) noexcept {
  Counts& c = block.zones[query_zone_slot(zones, query, info)];
  const std::size_t proto = q.proto == dns::Transport::udp ? 0 : 1;
  const std::size_t type = type_index(info.has_question ? info.qtype : 0);
  bump(c.requests[proto][q.family == AF_INET6 ? 1 : 0][type]);
  if (info.dnssec_ok) bump(c.do_requests);
  bump(c.request_size[proto][size_bucket(q.request_size)]);
  bump(c.request_bytes[proto], q.request_size);
  bump(c.duration[type][time_bucket(q.duration_ns)]);
  bump(c.duration_ns[type], q.duration_ns);
  if (info.acl_checked) bump(c.acl[static_cast<std::size_t>(info.acl)]);
  if (info.tsig_verified) bump(c.tsig_verified);
  if (info.tsig_error != 0) {
    const std::size_t t = info.tsig_error == 16 ? 0 : info.tsig_error == 17 ? 1 : info.tsig_error == 18 ? 2 : info.tsig_error == 22 ? 3 : 4;
    bump(c.tsig[t]);
  }
  if (q.response_size == 0) return;  // dropped: no response
  const Writer writer = info.acl == dns::AclAction::block || info.acl == dns::AclAction::filter ? Writer::acl
                        : info.tsig_error != 0                                                   ? Writer::tsig
                        : info.zone != nullptr                                                   ? Writer::wgsd
                                                                                                 : Writer::server;
  bump(c.responses[std::min<std::size_t>(info.rcode, rcode_count)][static_cast<std::size_t>(writer)]);
  bump(c.response_size[proto][size_bucket(q.response_size)]);
  bump(c.response_bytes[proto], q.response_size);
}

Registry::Registry() : zone_names_{"dropped"}, transfers_(std::make_unique<TransferCounts>()) {}

Registry::~Registry() {
  for (auto& b : blocks_) std::free(b->zones);
}

std::uint8_t Registry::zone_slot(const std::string& zone) {
  std::lock_guard lock(mutex_);
  const auto it = std::find(zone_names_.begin(), zone_names_.end(), zone);
  if (it != zone_names_.end()) return static_cast<std::uint8_t>(it - zone_names_.begin());
  if (zone_names_.size() == max_zones) return 0;  // past the table: counted as no zone of ours
  zone_names_.push_back(zone);
  return static_cast<std::uint8_t>(zone_names_.size() - 1);
}

Block* Registry::acquire(const std::string& server) {
  std::lock_guard lock(mutex_);
  for (auto& b : blocks_) {
    if (!b->in_use && b->server == server) {
      b->in_use = true;
      return b.get();
    }
  }
  // calloc: zeroed pages the kernel hands out as they are first touched, so the zone slots never
  // used cost no memory.
  auto* zones = static_cast<Counts*>(std::calloc(max_zones, sizeof(Counts)));
  if (zones == nullptr) throw std::bad_alloc();
  auto b = std::make_unique<Block>();
  b->server = server;
  b->zones = zones;
  b->in_use = true;
  blocks_.push_back(std::move(b));
  return blocks_.back().get();
}

std::vector<std::string> Registry::zone_names() const {
  std::lock_guard lock(mutex_);
  return zone_names_;
}

void Registry::release(Block* block) noexcept {
  std::lock_guard lock(mutex_);
  if (block != nullptr) block->in_use = false;
}

std::string server_label(const std::optional<wg::IpAddress>& address, std::uint16_t port) {
  if (!address) return "dns://:" + std::to_string(port);
  return "dns://" + wg::Endpoint{*address, port}.to_string();
}

void Registry::render(std::string& out) const {
  // Sums per (server, zone): every block of a server, whichever thread has it now.
  std::map<std::pair<std::string, std::string>, Counts> sums;
  {
    std::lock_guard lock(mutex_);
    for (const auto& b : blocks_) {
      for (std::size_t z = 0; z < zone_names_.size(); ++z) {
        const Counts& src = b->zones[z];
        const auto* words = reinterpret_cast<const std::uint64_t*>(&src);
        bool any = false;
        for (std::size_t i = 0; i < sizeof(Counts) / 8 && !any; ++i) any = read(words[i]) != 0;
        if (!any) continue;
        auto [it, fresh] = sums.try_emplace({b->server, zone_names_[z]});
        if (fresh) std::memset(&it->second, 0, sizeof(Counts));
        auto* dst = reinterpret_cast<std::uint64_t*>(&it->second);
        for (std::size_t i = 0; i < sizeof(Counts) / 8; ++i) dst[i] += read(words[i]);
      }
    }
  }
  using prom::Labels;
  prom::Family requests(out, "coredns_dns_requests_total", "counter", "Counter of DNS requests made per zone, protocol and family.");
  for (const auto& [key, c] : sums) {
    for (std::size_t p = 0; p < 2; ++p) {
      for (std::size_t f = 0; f < 2; ++f) {
        for (std::size_t t = 0; t < type_count; ++t) {
          if (c.requests[p][f][t] == 0) continue;
          requests.sample({{"server", key.first}, {"zone", key.second}, {"view", ""}, {"proto", proto_names[p]}, {"family", f == 0 ? "1" : "2"},
                           {"type", t < known_types.size() ? type_names[t] : "other"}},
                          c.requests[p][f][t]);
        }
      }
    }
  }
  prom::Family dos(out, "coredns_dns_do_requests_total", "counter", "Counter of DNS requests with DO bit set per zone.");
  for (const auto& [key, c] : sums) {
    if (c.do_requests != 0) dos.sample({{"server", key.first}, {"zone", key.second}, {"view", ""}}, c.do_requests);
  }
  prom::Family responses(out, "coredns_dns_responses_total", "counter", "Counter of response status codes.");
  for (const auto& [key, c] : sums) {
    for (std::size_t r = 0; r <= rcode_count; ++r) {
      for (std::size_t w = 0; w < writer_count; ++w) {
        if (c.responses[r][w] == 0) continue;
        responses.sample({{"server", key.first}, {"zone", key.second}, {"view", ""}, {"rcode", r < rcode_count ? rcode_names[r] : "other"},
                          {"plugin", writer_names[w]}},
                         c.responses[r][w]);
      }
    }
  }
  std::vector<double> time_bounds;
  for (std::size_t i = 0; i < time_buckets; ++i) time_bounds.push_back(0.00025 * static_cast<double>(1ULL << i));
  prom::Family duration(out, "coredns_dns_request_duration_seconds", "histogram", "Histogram of the time (in seconds) each request took per zone.");
  for (const auto& [key, c] : sums) {
    for (std::size_t t = 0; t < type_count; ++t) {
      const std::span<const std::uint64_t> buckets(c.duration[t], time_buckets + 1);
      if (std::all_of(buckets.begin(), buckets.end(), [](std::uint64_t n) { return n == 0; })) continue;
      duration.histogram({{"server", key.first}, {"zone", key.second}, {"view", ""}, {"type", t < known_types.size() ? type_names[t] : "other"}},
                         time_bounds, buckets, static_cast<double>(c.duration_ns[t]) / 1e9);
    }
  }
  const std::vector<double> sizes(size_bounds.begin(), size_bounds.end());
  const auto size_family = [&](const char* name, const char* help, auto buckets_of, auto bytes_of) {
    prom::Family family(out, name, "histogram", help);
    for (const auto& [key, c] : sums) {
      for (std::size_t p = 0; p < 2; ++p) {
        const std::span<const std::uint64_t> buckets(buckets_of(c)[p], size_bounds.size() + 1);
        if (std::all_of(buckets.begin(), buckets.end(), [](std::uint64_t n) { return n == 0; })) continue;
        family.histogram({{"server", key.first}, {"zone", key.second}, {"view", ""}, {"proto", proto_names[p]}}, sizes, buckets,
                         static_cast<double>(bytes_of(c)[p]));
      }
    }
  };
  size_family("coredns_dns_request_size_bytes", "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
              [](const Counts& c) { return c.request_size; }, [](const Counts& c) { return c.request_bytes; });
  size_family("coredns_dns_response_size_bytes", "Size of the returned response in bytes.", [](const Counts& c) { return c.response_size; },
              [](const Counts& c) { return c.response_bytes; });
  constexpr std::array<const char*, 4> acl_metrics = {"coredns_acl_allowed_requests_total", "coredns_acl_blocked_requests_total",
                                                      "coredns_acl_filtered_requests_total", "coredns_acl_dropped_requests_total"};
  constexpr std::array<const char*, 4> acl_help = {"Counter of DNS requests being allowed.", "Counter of DNS requests being blocked.",
                                                    "Counter of DNS requests being filtered.", "Counter of DNS requests being dropped."};
  for (std::size_t a = 0; a < 4; ++a) {
    prom::Family acl(out, acl_metrics[a], "counter", acl_help[a]);
    for (const auto& [key, c] : sums) {
      if (c.acl[a] != 0) acl.sample({{"server", key.first}, {"zone", key.second}, {"view", ""}}, c.acl[a]);
    }
  }
  render_tsig_verified(out, sums);
  prom::Family tsig(out, "wgsd_tsig_failures_total", "counter", "Signed queries refused, by TSIG error.");
  for (const auto& [key, c] : sums) {
    for (std::size_t t = 0; t < tsig_error_count; ++t) {
      if (c.tsig[t] != 0) tsig.sample({{"server", key.first}, {"zone", key.second}, {"error", tsig_names[t]}}, c.tsig[t]);
    }
  }
}

}  // namespace wgsd::server::metrics
