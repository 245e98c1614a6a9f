#include <catch2/catch.hpp>

#include "support/keys.hpp"
#include "support/lab.hpp"
#include "support/uapi_server.hpp"
#include "wg/backend.hpp"
#include "wg/backend_testing.hpp"
#include "wg/error.hpp"

using namespace wgsd;

TEST_CASE("UAPI backend converses over the unix socket", "[wg][uapi]") {
  test::TempDir dir;
  test::UapiServer server(dir.path(), "wgfake0");
  auto backend = wg::make_uapi_backend({dir.path(), std::chrono::milliseconds(500)});

  SECTION("get") {
    server.set_reply("listen_port=7\npublic_key=" + std::string(64, 'a') + "\nendpoint=192.0.2.1:9\nerrno=0\n\n");
    const auto dev = backend->get_device("wgfake0");
    CHECK(dev.listen_port == 7);
    REQUIRE(dev.peers.size() == 1);
    CHECK(server.requests().at(0) == "get=1\n\n");
  }
  SECTION("set sends exactly the update") {
    wg::DeviceUpdate update{"wgfake0", {{test::key_n(1), true, wg::Endpoint::parse("192.0.2.1:9")}}};
    backend->apply(update);
    CHECK(server.requests().at(0) ==
          "set=1\npublic_key=" + wg::hex_encode(test::key_n(1).bytes()) + "\nupdate_only=true\nendpoint=192.0.2.1:9\n\n");
  }
  SECTION("errno from the daemon") {
    server.set_reply("errno=5\n\n");
    CHECK_THROWS_WITH(backend->get_device("wgfake0"), Catch::Contains("uapi: get device 'wgfake0': Input/output error"));
  }
  SECTION("a daemon that never answers cannot hang the caller") {
    server.set_reply("", test::UapiServer::Mode::silent);
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(backend->get_device("wgfake0"), Catch::Contains("daemon did not answer in time"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  }
  SECTION("a daemon that hangs up mid-reply") {
    server.set_reply("listen_port=7\npublic_key=aa", test::UapiServer::Mode::reply);
    CHECK_THROWS_WITH(backend->get_device("wgfake0"), Catch::Contains("truncated reply"));
  }
}

TEST_CASE("a missing device is 'no such device' from every backend", "[wg][uapi]") {
  test::TempDir dir;
  for (auto kind : {wg::BackendKind::uapi, wg::BackendKind::automatic}) {
    auto backend = wg::make_backend(kind, {dir.path(), std::chrono::milliseconds(500)});
    try {
      backend->get_device("wgnope0");
      FAIL("no error");
    } catch (const wg::Error& e) {
      CHECK(e.no_such_device());
      CHECK_THAT(e.what(), Catch::Contains("no such device 'wgnope0'"));
    }
  }
  CHECK_THROWS_WITH(wg::make_uapi_backend()->get_device("../etc"), Catch::Contains("invalid device name '../etc'"));
  CHECK_THROWS_WITH(wg::make_uapi_backend()->get_device("a-very-long-interface-name"), Catch::Contains("invalid device name"));
}

TEST_CASE("UAPI backend keeps no trace of the device's private key after a read", "[wg][uapi]") {
  test::TempDir dir;
  test::UapiServer server(dir.path(), "wgfake0");
  auto backend = wg::make_uapi_backend({dir.path(), std::chrono::milliseconds(500)});
  const std::string hex = "0800000000000000000000000000000000000000000000000000000000abcd40";
  server.set_reply("private_key=" + hex + "\nlisten_port=7\npublic_key=" + std::string(64, 'a') + "\nerrno=0\n\n");
  const auto dev = backend->get_device("wgfake0");
  CHECK_FALSE(dev.public_key.is_zero());
  CHECK_FALSE(wg::uapi_backend_retains(*backend, hex.substr(0, 16)));
  CHECK_FALSE(wg::uapi_backend_retains(*backend, hex.substr(48, 16)));
  // The buffer is zeroed whole after each read, not only the key: nothing of the reply is left.
  CHECK_FALSE(wg::uapi_backend_retains(*backend, "listen_port=7"));
}
