// The refresher: what it publishes, and that a replaced snapshot is freed by it, not by a reader.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <thread>

#include "dns/fixtures.hpp"
#include "server/memory.hpp"
#include "server/peer_cache.hpp"
#include "support/fake_backend.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;

TEST_CASE("a replaced snapshot is freed by the refresher, never by the query thread that lets go last", "[server][refresh]") {
  auto backend = std::make_shared<FakeBackend>();
  wg::Device device = reference_device();
  backend->put(device);
  server::ZoneConfig zone = reference_zone_config(device.name);
  server::SnapshotHolder holder;
  server::Log log([](const std::string&) {});
  server::PeerCache cache({zone}, {{0}}, {&holder}, sharing(*backend), log);  // the test keeps the fake to change the device
  cache.refresh(true);

  server::SnapshotHolder::Reader reader(holder);  // a query thread's view
  REQUIRE(reader.current().zones.size() == 1);
  std::weak_ptr<const dns::Zone> first = reader.current().zones[0];
  REQUIRE(first.lock()->loaded);

  device.peers[0].endpoint = wg::Endpoint::parse("192.0.2.99:1");
  backend->put(device);
  cache.refresh(true);
  CHECK(reader.current().zones[0] != first.lock());  // the reader moved on and let the old one go
  CHECK_FALSE(first.expired());                       // ... but it was not freed on that thread
  cache.refresh(true);                                 // the next refresh frees it
  CHECK(first.expired());

  // A reader that holds on keeps it alive, however many refreshes pass.
  std::weak_ptr<const dns::Zone> second = reader.current().zones[0];
  server::SnapshotHolder::Reader slow(holder);
  (void)slow.current();
  device.peers[0].endpoint = wg::Endpoint::parse("192.0.2.98:1");
  backend->put(device);
  cache.refresh(true);
  (void)reader.current();
  for (int i = 0; i < 3; ++i) cache.refresh(true);
  CHECK_FALSE(second.expired());
  (void)slow.current();  // it lets go
  cache.refresh(true);
  CHECK(second.expired());
}

TEST_CASE("after a reload the snapshots the old configuration served are freed by the new refresher, not by a query thread", "[server][refresh][reload]") {
  auto backend = std::make_shared<FakeBackend>();
  wg::Device device = reference_device();
  backend->put(device);
  const server::BackendFactory factory = sharing(*backend);
  server::ZoneConfig zone = reference_zone_config(device.name);
  server::ZoneConfig other = zone;
  other.settings.zone = "other.example.";
  server::SnapshotHolder holder;
  server::Log log([](const std::string&) {});
  auto old = std::make_unique<server::PeerCache>(std::vector{zone}, std::vector<std::vector<std::size_t>>{{0}}, std::vector{&holder}, factory, log);
  old->refresh(true);
  server::SnapshotHolder::Reader reader(holder);
  std::weak_ptr<const dns::Zone> dropped = reader.current().zones[0];
  // A replaced snapshot still waiting in the old cache's retired list, held by a slow reader.
  server::SnapshotHolder::Reader slow(holder);
  (void)slow.current();
  device.peers[0].endpoint = wg::Endpoint::parse("192.0.2.99:1");
  backend->put(device);
  old->refresh(true);
  std::weak_ptr<const dns::Zone> replaced = reader.current().zones[0];
  REQUIRE(replaced.lock() != dropped.lock());

  // The reload drops the zone for another one.
  server::PeerCache next({other}, {{0}}, {&holder}, factory, log);
  next.load(old.get());
  next.prepare(old.get());
  next.commit();
  old.reset();
  REQUIRE(reader.current().zones[0]->apex != replaced.lock()->apex);  // the reader let go of the dropped zone
  CHECK_FALSE(replaced.expired());                                   // ... it was not freed on its thread
  (void)slow.current();
  CHECK_FALSE(dropped.expired());
  next.refresh(true);  // the new refresher frees both
  CHECK(replaced.expired());
  CHECK(dropped.expired());
}

TEST_CASE("the refresher reads a large device less often unless refresh is given", "[server][refresh]") {
  auto backend = std::make_shared<FakeBackend>();
  const wg::Device device = large_reference_device(30000);  // 3s between reads by default
  backend->put(device);
  server::ZoneConfig zone = reference_zone_config(device.name);
  server::ZoneConfig given = zone;
  given.refresh = std::chrono::milliseconds(1000);
  server::SnapshotHolder holder;
  server::Log log([](const std::string&) {});
  server::PeerCache by_default({zone}, {{0}}, {&holder}, sharing(*backend), log);
  server::PeerCache explicit_1s({given}, {{0}}, {&holder}, sharing(*backend), log);
  // Each is due its interval after its own read began. The explicit one reads first, so that however
  // long a read of 30,000 peers takes (seconds in a sanitizer build), the default one's 3 s have not
  // passed when the explicit one's 1 s has.
  const auto start = std::chrono::steady_clock::now();
  explicit_1s.refresh(true);
  by_default.refresh(true);
  REQUIRE(backend->gets() == 2);
  std::this_thread::sleep_until(start + std::chrono::milliseconds(1100));
  by_default.refresh();  // not due for 3s
  CHECK(backend->gets() == 2);
  explicit_1s.refresh();  // due after its 1s
  CHECK(backend->gets() == 3);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // they bring allocators of their own
namespace {
long resident_kb() {
  std::ifstream statm("/proc/self/statm");
  long size = 0;
  long resident = 0;
  statm >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}
}  // namespace

TEST_CASE("the memory of a snapshot the refresher frees goes back to the system", "[server][refresh][memory]") {
  // glibc gives back by itself only the top of a heap: a snapshot freed below the one that replaced
  // it stayed resident, and a registry of 100,000 peers grew by tens of MB as its endpoints moved.
  auto backend = std::make_shared<FakeBackend>();
  wg::Device device = large_reference_device(20000, "10.0.0.1/32");
  backend->put(device);
  server::ZoneConfig zone = reference_zone_config(device.name);
  server::SnapshotHolder holder;
  server::Log log([](const std::string&) {});
  server::PeerCache cache({zone}, {{0}}, {&holder}, sharing(*backend), log);
  // The baseline without what building the device above left free: the refresh gives that back too.
  server::release_free_memory();
  const long before = resident_kb();
  cache.refresh(true);
  std::weak_ptr<const dns::Zone> first = holder.get()->zones[0];
  const long with_one = resident_kb();
  device.peers[0].endpoint = wg::Endpoint::parse("192.0.2.99:1");
  backend->put(device);
  cache.refresh(true);  // a second snapshot; the first is retired
  REQUIRE_FALSE(first.expired());
  cache.refresh(true);  // nothing changed: the first is freed
  REQUIRE(first.expired());
  const long after = resident_kb();
  INFO("resident: " << before << " kB before, " << with_one << " kB with the first snapshot, " << after << " kB with the second alone");
  REQUIRE(with_one - before > 4096);  // a snapshot of 20,000 peers takes MBs
  // One snapshot again: about what the first took.
  CHECK(after <= with_one + (with_one - before) / 10);
}
#endif
