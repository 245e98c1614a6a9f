// The netlink backend over a stand-in for the kernel's socket: what it keeps between reads.
#include <catch2/catch.hpp>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>

#include "support/keys.hpp"
#include "support/netlink_dump.hpp"
#include "wg/backend_testing.hpp"
#include "wg/error.hpp"
#include "wg/netlink_codec.hpp"

using namespace wgsd;
using test::Dump;
using test::key_n;

namespace {

// Plays the kernel: answers CTRL_CMD_GETFAMILY with family 0x1b and WG_CMD_GET_DEVICE with device
// "wg0" (private key, public key, one peer), and counts what it was asked.
struct FakeKernel {
  unsigned opens = 0;
  unsigned family_lookups = 0;
  unsigned dumps = 0;
  bool fail_next_receive = false;
  int device_errno = 0;
  std::vector<std::vector<std::byte>> sets;  // every WG_CMD_SET_DEVICE received
  std::size_t refuse_set = 0;                // 1-based: the set message answered with EINVAL; 0: none
  bool split_dump = false;                   // the peer's allowed IPs continue in a second message,
                                             // and every message is a datagram of its own
  std::array<std::uint8_t, 32> private_key{};

  FakeKernel() {
    for (std::size_t i = 0; i < private_key.size(); ++i) private_key[i] = static_cast<std::uint8_t>(0xc0 + i);
  }
  wg::NetlinkOpener opener() {
    return [this]() -> std::unique_ptr<wg::NetlinkIo> { return std::make_unique<Io>(*this, 1000 + ++opens); };
  }

  class Io final : public wg::NetlinkIo {
  public:
    Io(FakeKernel& k, std::uint32_t port) : k_(k), port_(port) {}
    [[nodiscard]] std::uint32_t port_id() const override { return port_; }
    void send(std::span<const std::byte> message, const std::string&) override {
      nlmsghdr req{};
      std::memcpy(&req, message.data(), sizeof req);
      Dump d;
      if (req.nlmsg_type == GENL_ID_CTRL) {
        ++k_.family_lookups;
        nlmsghdr* nlh = d.begin_raw(GENL_ID_CTRL);
        auto* genl = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
        genl->cmd = CTRL_CMD_NEWFAMILY;
        mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, test::family);
        d.finish();
        d.error(0);
      } else if (static_cast<const genlmsghdr*>(static_cast<const void*>(message.data() + MNL_NLMSG_HDRLEN))->cmd == WG_CMD_SET_DEVICE) {
        k_.sets.emplace_back(message.begin(), message.end());
        d.error(k_.sets.size() == k_.refuse_set ? EINVAL : 0);
      } else if (k_.device_errno != 0) {
        ++k_.dumps;
        d.error(k_.device_errno);
      } else {
        ++k_.dumps;
        REQUIRE(req.nlmsg_type == test::family);
        d.begin();
        mnl_attr_put(d.nlh(), WGDEVICE_A_PRIVATE_KEY, k_.private_key.size(), k_.private_key.data());
        nlattr* peers = d.peers();
        nlattr* p = d.peer(1, 0);
        d.endpoint("198.51.100.7:40001");
        if (k_.split_dump) {
          nlattr* ips = mnl_attr_nest_start(d.nlh(), WGPEER_A_ALLOWEDIPS);
          d.allowed("10.0.0.1/32");
          d.end(ips);
          d.end(p);
          d.end(peers);
          d.finish();
          d.begin("wg0", false);  // as the kernel continues: no device attributes, the peer's key again
          peers = d.peers();
          p = d.peer(1, 0);
          ips = mnl_attr_nest_start(d.nlh(), WGPEER_A_ALLOWEDIPS);
          d.allowed("fd00::2/128");
          d.end(ips);
        }
        d.end(p);
        d.end(peers);
        d.finish();
        d.done();
      }
      // Every reply message carries the request's sequence number and our port id.
      auto bytes = d.copy();
      for (std::size_t at = 0; at < bytes.size();) {
        nlmsghdr h{};
        std::memcpy(&h, bytes.data() + at, sizeof h);
        h.nlmsg_seq = req.nlmsg_seq;
        h.nlmsg_pid = port_;
        std::memcpy(bytes.data() + at, &h, sizeof h);
        if (k_.split_dump) pending_.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin() + static_cast<std::ptrdiff_t>(at + MNL_ALIGN(h.nlmsg_len)));
        at += MNL_ALIGN(h.nlmsg_len);
      }
      if (!k_.split_dump) pending_.push_back(std::move(bytes));
    }
    std::size_t receive(std::span<std::byte> buf, const std::string& what) override {
      if (k_.fail_next_receive) {
        k_.fail_next_receive = false;
        throw wg::Error(EIO, "netlink: " + what + ": receive");
      }
      REQUIRE_FALSE(pending_.empty());
      const auto msg = std::move(pending_.front());
      pending_.pop_front();
      REQUIRE(msg.size() <= buf.size());
      std::memcpy(buf.data(), msg.data(), msg.size());
      return msg.size();
    }

  private:
    FakeKernel& k_;
    std::uint32_t port_;
    std::deque<std::vector<std::byte>> pending_;
  };
};

}  // namespace

TEST_CASE("netlink backend keeps its socket and family id between reads, and reopens after a failure", "[wg][netlink]") {
  FakeKernel kernel;
  auto backend = wg::make_netlink_backend(kernel.opener());
  for (int i = 0; i < 3; ++i) {
    const auto dev = backend->get_device("wg0");
    REQUIRE(dev.peers.size() == 1);
    CHECK(dev.peers[0].endpoint->to_string() == "198.51.100.7:40001");
  }
  CHECK(kernel.opens == 1);
  CHECK(kernel.family_lookups == 1);
  CHECK(kernel.dumps == 3);

  // A missing device is an answer, not a broken socket: it stays.
  kernel.device_errno = ENODEV;
  CHECK_THROWS_WITH(backend->get_device("wg0"), Catch::Contains("no such device 'wg0'"));
  kernel.device_errno = 0;
  backend->get_device("wg0");
  CHECK(kernel.opens == 1);

  // A failed receive drops the socket; the next read opens a new one and resolves the family again.
  kernel.fail_next_receive = true;
  CHECK_THROWS_WITH(backend->get_device("wg0"), Catch::Contains("netlink: get device 'wg0': receive"));
  CHECK(backend->get_device("wg0").peers.size() == 1);
  CHECK(kernel.opens == 2);
  CHECK(kernel.family_lookups == 2);
}

TEST_CASE("netlink backend keeps no trace of the device's private key", "[wg][netlink]") {
  FakeKernel kernel;
  auto backend = wg::make_netlink_backend(kernel.opener());
  const auto dev = backend->get_device("wg0");
  CHECK(dev.public_key == key_n(99));
  CHECK_FALSE(wg::netlink_backend_retains(*backend, std::as_bytes(std::span(kernel.private_key))));
  // The receive buffer is wiped whole, not only the key: nothing of the dump is left.
  CHECK_FALSE(wg::netlink_backend_retains(*backend, std::as_bytes(std::span(key_n(99).bytes()))));
}

TEST_CASE("netlink backend sends a large update as several messages, each acknowledged, and stops at a refusal", "[wg][netlink]") {
  FakeKernel kernel;
  auto backend = wg::make_netlink_backend(kernel.opener());
  wg::PeerUpdate add{key_n(5), false, wg::Endpoint::parse("192.0.2.1:51820")};
  std::vector<wg::Prefix> ips;
  for (unsigned i = 0; i < 10'000; ++i) {
    ips.emplace_back(wg::IpAddress::v4({10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}), 32);
  }
  add.allowed_ips = ips;
  backend->apply({"wg0", {add}});
  const std::size_t count = kernel.sets.size();
  CHECK(count > 1);
  std::vector<std::byte> all;
  std::uint32_t prev_seq = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto& m = kernel.sets[i];
    CHECK(m.size() <= wg::set_device_message_limit);
    nlmsghdr h{};
    std::memcpy(&h, m.data(), sizeof h);
    if (i > 0) CHECK(h.nlmsg_seq == prev_seq + 1);  // each its own sequence number, matched to its ACK
    prev_seq = h.nlmsg_seq;
    all.insert(all.end(), m.begin(), m.end());
  }
  const auto dev = wg::parse_device_messages(all, "wg0");
  REQUIRE(dev.peers.size() == 1);
  CHECK(dev.peers[0].allowed_ips == ips);

  // The kernel refuses the second message: the error names it, and nothing more is sent.
  kernel.sets.clear();
  kernel.refuse_set = 2;
  CHECK_THROWS_WITH(backend->apply({"wg0", {add}}),
                    Catch::Contains("netlink: set device 'wg0' (message 2 of " + std::to_string(count) + ")"));
  CHECK(kernel.sets.size() == 2);
}

TEST_CASE("netlink backend reads a dump whose peer continues in a later datagram", "[wg][netlink]") {
  FakeKernel kernel;
  kernel.split_dump = true;
  auto backend = wg::make_netlink_backend(kernel.opener());
  const auto dev = backend->get_device("wg0");
  REQUIRE(dev.peers.size() == 1);
  CHECK(dev.peers[0].endpoint->to_string() == "198.51.100.7:40001");
  CHECK(dev.peers[0].allowed_ips == std::vector<wg::Prefix>{*wg::Prefix::parse("10.0.0.1/32"), *wg::Prefix::parse("fd00::2/128")});
}
