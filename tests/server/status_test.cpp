// `status`: /status.json and the page, built from what the refresher read of a device behind a real
// UAPI socket, with one peer published, one stale, one hidden and one without endpoint; the page is
// rendered by headless Chromium; device data is escaped wherever it goes.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <thread>

#include "dns/fixtures.hpp"
#include "server/ops_pages.hpp"
#include "server/server.hpp"
#include "support/http_get.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"
#include "support/uapi_server.hpp"
#include "wg/backend.hpp"
#include "wg/key.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

std::string hex(const char* b64) { return wg::hex_encode(key_from_b64(b64).bytes()); }

// What `wg` would read: key1 fresh, key2 with a handshake 20 minutes old, key3 hidden, self_key
// (as a peer) never reached.
std::string device_reply() {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(wg::Clock::now().time_since_epoch()).count();
  const auto peer = [](const char* key, const std::string& endpoint, long long handshake, const char* allowed) {
    std::string s = "public_key=" + hex(key) + "\n";
    if (!endpoint.empty()) s += "endpoint=" + endpoint + "\n";
    s += "last_handshake_time_sec=" + std::to_string(handshake) + "\nlast_handshake_time_nsec=0\nallowed_ip=" + allowed + "\n";
    return s;
  };
  return "listen_port=51820\n" + peer(key1, "198.51.100.7:40001", now - 10, "10.0.0.1/32") +
         peer(key2, "[2001:db8::7]:40002", now - 1200, "10.0.0.2/32") + peer(key3, "203.0.113.9:40003", now - 5, "10.0.0.3/32") +
         peer(self_key, "", 0, "10.0.0.4/32") + "errno=0\n\n";
}

// The JSON object of the peer whose key is `key`, as text ("" if absent).
std::string peer_json(const std::string& json, const std::string& key) {
  const auto at = json.find("{\"key\":\"" + key + "\"");
  if (at == std::string::npos) return {};
  return json.substr(at, json.find('}', at) - at + 1);
}

}  // namespace

TEST_CASE("status: /status.json and the page show each peer, published or withheld and why", "[server][http][status]") {
  TempDir dir;
  const auto dns = free_port();
  const auto status = free_port();
  const auto device = unique_name("wgst");
  UapiServer uapi(dir.path(), device);
  uapi.set_reply(device_reply());
  const std::string text = "example.com:" + std::to_string(dns) + " {\n bind 127.0.0.1\n wgsd example.com. " + device +
                           " {\n  ns ns.example.\n  max-age 5m\n  hide " + key3 + "\n }\n status 127.0.0.1:" + std::to_string(status) + "\n}\n";
  server::Log log{[](const std::string&) {}};
  const std::string sockets = dir.path();
  server::Server server(server::parse_config(text, "Corefile"),
                        [&](const server::ZoneConfig&) { return wg::make_uapi_backend({sockets, std::chrono::milliseconds(1000)}); }, log);
  server.start();

  const auto reply = curl(status, "/status.json");
  REQUIRE(reply.status == 200);
  const std::string& json = reply.body;
  INFO(json);
  CHECK(json.find("\"zone\":\"example.com.\",\"device\":\"" + device + "\"") != std::string::npos);
  CHECK(json.find("\"loaded\":true") != std::string::npos);
  CHECK(json.find("\"last_read_ok\":true") != std::string::npos);
  CHECK(json.find("\"peer_counts\":{\"published\":1,\"stale\":1,\"hidden\":1,\"no_endpoint\":1}") != std::string::npos);
  const auto serial = server.stats().zones().at(0).serial;
  CHECK(serial > 0);
  CHECK(json.find("\"serial\":" + std::to_string(serial) + ",") != std::string::npos);

  const auto fresh = peer_json(json, key1);
  CHECK(fresh.find("\"endpoint\":\"198.51.100.7:40001\"") != std::string::npos);
  CHECK(fresh.find("\"published\":true,\"withheld\":null") != std::string::npos);
  CHECK((fresh.find("\"handshake_age_seconds\":10,") != std::string::npos || fresh.find("\"handshake_age_seconds\":11,") != std::string::npos ||
         fresh.find("\"handshake_age_seconds\":12,") != std::string::npos));
  const auto stale = peer_json(json, key2);
  CHECK(stale.find("\"endpoint\":\"[2001:db8::7]:40002\"") != std::string::npos);
  CHECK(stale.find("\"published\":false,\"withheld\":\"stale\"") != std::string::npos);
  CHECK(peer_json(json, key3).find("\"published\":false,\"withheld\":\"hidden\"") != std::string::npos);
  const auto unreached = peer_json(json, self_key);
  CHECK(unreached.find("\"endpoint\":null,\"handshake_age_seconds\":null,\"published\":false,\"withheld\":\"no_endpoint\"") != std::string::npos);

  const auto page = curl(status, "/");
  REQUIRE(page.status == 200);
  for (const char* key : {key1, key2, key3, self_key}) CHECK(page.body.find(key) != std::string::npos);
  CHECK(page.body.find("<script") == std::string::npos);
  CHECK(page.body.find("http://") == std::string::npos);   // no external asset
  CHECK(page.body.find("https://") == std::string::npos);
  CHECK(page.body.find("no: stale") != std::string::npos);
  CHECK(page.body.find("no: hidden") != std::string::npos);
  // Served from what the refresher read: a page costs the device nothing.
  const auto reads = uapi.requests().size();
  for (int i = 0; i < 5; ++i) (void)curl(status, "/status.json");
  CHECK(uapi.requests().size() <= reads + 2);  // at most the refreshes that came due meanwhile
}

TEST_CASE("status: device data and zone names are escaped in the JSON and the page", "[server][http][status]") {
  server::ZoneStatus z;
  z.zone = "a<b>\"&'.example.";
  z.device = "wg0";
  z.last_read = wg::Clock::now();
  z.last_error = "<script>alert(1)</script>\n\"quoted\"";
  const std::string html = server::ops::status_html({z}, wg::Clock::now());
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("a&lt;b&gt;&quot;&amp;&#39;.example.") != std::string::npos);
  const std::string json = server::ops::status_json({z}, wg::Clock::now());
  CHECK(json.find("<") == std::string::npos);
  CHECK(json.find("\"zone\":\"a\\u003cb\\u003e\\\"\\u0026'.example.\"") != std::string::npos);
  CHECK(json.find("\\u000a\\\"quoted\\\"") != std::string::npos);
}

TEST_CASE("status: headless Chromium renders the page with every peer, and takes a screenshot", "[server][http][status][chromium]") {
  require_live({"chromium", "timeout"});
  TempDir dir;
  const auto dns = free_port();
  const auto status = free_port();
  const auto device = unique_name("wgch");
  UapiServer uapi(dir.path(), device);
  uapi.set_reply(device_reply());
  const std::string text = "example.com:" + std::to_string(dns) + " {\n bind 127.0.0.1\n wgsd example.com. " + device +
                           " {\n  ns ns.example.\n  max-age 5m\n  hide " + key3 + "\n }\n status 127.0.0.1:" + std::to_string(status) + "\n}\n";
  server::Log log{[](const std::string&) {}};
  const std::string sockets = dir.path();
  server::Server server(server::parse_config(text, "Corefile"),
                        [&](const server::ZoneConfig&) { return wg::make_uapi_backend({sockets, std::chrono::milliseconds(1000)}); }, log);
  server.start();

  const std::string url = "http://127.0.0.1:" + std::to_string(status) + "/";
  // Root needs --no-sandbox; a profile of its own in the temporary directory; nothing fetched
  // beyond the page.
  const std::string chromium = "timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
                               "--disable-component-update --disable-sync --disable-default-apps --mute-audio --hide-scrollbars "
                               "--user-data-dir=" + dir.path() + "/profile ";
  const std::string png = dir.path() + "/status.png";
  sh(chromium + "--window-size=1100,700 --screenshot=" + png + " " + url + " >/dev/null 2>&1");
  std::ifstream in(png, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(bytes.size() > 1000);
  CHECK(bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0);
  if (const char* keep = std::getenv("WGSD_STATUS_SCREENSHOT")) sh("cp " + png + " " + keep);  // docs/status.png

  const std::string dom = sh_out(chromium + "--dump-dom " + url + " 2>/dev/null; true");
  INFO(dom);
  for (const char* key : {key1, key2, key3, self_key}) CHECK(dom.find(key) != std::string::npos);
  CHECK(dom.find("wgsd status") != std::string::npos);
}
