// `acl` through the running server: queries over UDP and TCP from several loopback source
// addresses, each statement's reply (or its absence), and a reload that changes the rules.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "dns/fixtures.hpp"
#include "server/server.hpp"
#include "support/dns_case.hpp"
#include "support/fake_backend.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

// Waits at most `ms` for `fd` to be readable.
bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

// A client socket bound to `source`, connected to the server on the loopback of the same family.
struct Client {
  int fd{-1};
  bool tcp{};
  Client(const std::string& source, std::uint16_t port, bool over_tcp) : tcp(over_tcp) {
    const auto from = wg::IpAddress::parse(source);
    REQUIRE(from);
    const auto to = wg::IpAddress::parse(from->is_v4() ? "127.0.0.1" : "::1");
    fd = ::socket(from->is_v4() ? AF_INET : AF_INET6, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_storage ss{};
    auto len = wg::Endpoint{*from, 0}.to_sockaddr(ss);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) == 0);
    len = wg::Endpoint{*to, port}.to_sockaddr(ss);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) == 0);
  }
  ~Client() { ::close(fd); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The reply to `q`, or nullopt when nothing came within `wait_ms`.
  std::optional<std::vector<std::uint8_t>> ask(const std::vector<std::uint8_t>& q, int wait_ms = 2000) {
    std::vector<std::uint8_t> framed;
    framed.reserve(q.size() + 2);
    if (tcp) {
      framed.push_back(static_cast<std::uint8_t>(q.size() >> 8));
      framed.push_back(static_cast<std::uint8_t>(q.size() & 0xff));
    }
    for (const std::uint8_t b : q) framed.push_back(b);
    REQUIRE(::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(framed.size()));
    std::vector<std::uint8_t> reply(65537);
    std::size_t got = 0;
    while (!tcp || got < 2 || got < 2 + ((static_cast<std::size_t>(reply[0]) << 8) | reply[1])) {
      if (!readable(fd, wait_ms)) return std::nullopt;
      const ssize_t n = ::recv(fd, reply.data() + got, reply.size() - got, 0);
      if (n <= 0) return std::nullopt;
      got += static_cast<std::size_t>(n);
      if (!tcp) break;
    }
    reply.resize(got);
    if (tcp) reply.erase(reply.begin(), reply.begin() + 2);
    return reply;
  }
};

// "refused+ede18", "refused", "noerror-empty", "noerror-N" (N answers), or "none".
std::string outcome(const std::optional<std::vector<std::uint8_t>>& reply) {
  if (!reply) return "none";
  const auto pkt = parse_response(*reply);
  REQUIRE(pkt);
  const auto rc = ldns_pkt_get_rcode(pkt.get());
  if (rc == LDNS_RCODE_REFUSED) {
    // The EDE option, if any, is the last 6 bytes: code 15, length 2, INFO-CODE.
    const auto& r = *reply;
    const bool ede18 = r.size() >= 6 && r[r.size() - 6] == 0 && r[r.size() - 5] == 15 && r[r.size() - 3] == 2 && r[r.size() - 1] == 18;
    return ede18 ? "refused+ede18" : "refused";
  }
  if (rc != LDNS_RCODE_NOERROR) return "rcode-" + std::to_string(rc);
  if (ldns_pkt_ancount(pkt.get()) == 0 && ldns_pkt_nscount(pkt.get()) == 0) return "noerror-empty";
  return "noerror-" + std::to_string(ldns_pkt_ancount(pkt.get()));
}

std::vector<std::uint8_t> query(const std::string& name, ldns_rr_type type) {
  QueryOptions o;
  o.edns = true;
  return make_query(name, type, o);
}

// A message that does not parse, of the three kinds that cannot be read for their question:
// "qdcount=2" (one question, the count says two), "tsig-not-last" (a TSIG before an OPT) and
// "two-tsig". "" is the well-formed query for `type`.
std::vector<std::uint8_t> shaped(const std::string& shape, ldns_rr_type type) {
  if (shape.empty()) return query(name1, type);
  auto q = make_query(name1, type);
  if (shape == "qdcount=2") {
    q[5] = 2;
    return q;
  }
  // Root owner, TYPE, CLASS, TTL 0, RDLENGTH 0: enough for the layout to be wrong.
  const auto rr = [&](std::uint16_t rrtype, std::uint16_t rrclass) {
    const std::uint8_t b[] = {0, static_cast<std::uint8_t>(rrtype >> 8), static_cast<std::uint8_t>(rrtype & 0xff),
                              static_cast<std::uint8_t>(rrclass >> 8), static_cast<std::uint8_t>(rrclass & 0xff), 0, 0, 0, 0, 0, 0};
    q.insert(q.end(), std::begin(b), std::end(b));
    ++q[11];
  };
  rr(250, 255);  // TSIG
  if (shape == "tsig-not-last") rr(41, 1232);  // OPT after it
  else rr(250, 255);
  return q;
}

}  // namespace

TEST_CASE("acl over UDP and TCP: statements x sources x types from loopback addresses", "[server][acl]") {
  const auto port = free_port();
  Serving s(".:" + std::to_string(port) +
            " {\n"
            " wgsd example.com. wgref0 {\n  ns ns.example.\n }\n"
            " acl {\n"
            "  allow net 127.0.0.1 ::1\n"
            "  filter type TXT net 127.0.0.2\n"
            "  drop type SRV net 127.0.0.2\n"
            "  drop net 127.0.0.4\n"
            "  block net 127.0.0.0/8\n"
            " }\n"
            "}\n");
  struct Case { std::string source; ldns_rr_type type; std::string want; std::string shape; };
  std::vector<Case> cases = {
      {"127.0.0.1", LDNS_RR_TYPE_SRV, "noerror-1", ""},     {"127.0.0.1", LDNS_RR_TYPE_TXT, "noerror-1", ""},
      {"127.0.0.2", LDNS_RR_TYPE_TXT, "noerror-empty", ""}, {"127.0.0.2", LDNS_RR_TYPE_SRV, "none", ""},
      {"127.0.0.2", LDNS_RR_TYPE_A, "refused+ede18", ""},   {"127.0.0.3", LDNS_RR_TYPE_SRV, "refused+ede18", ""},
      {"127.0.0.3", LDNS_RR_TYPE_AXFR, "refused+ede18", ""}, {"127.0.0.4", LDNS_RR_TYPE_SRV, "none", ""},
      // A message that does not parse is judged by its source alone: the statements without a
      // type whose net matches. `drop` sends nothing; anything else leaves the FORMERR.
      {"127.0.0.4", LDNS_RR_TYPE_SRV, "none", "qdcount=2"},   {"127.0.0.4", LDNS_RR_TYPE_SRV, "none", "tsig-not-last"},
      {"127.0.0.4", LDNS_RR_TYPE_SRV, "none", "two-tsig"},    {"127.0.0.2", LDNS_RR_TYPE_SRV, "formerr", "qdcount=2"},
      {"127.0.0.3", LDNS_RR_TYPE_SRV, "formerr", "two-tsig"}, {"127.0.0.1", LDNS_RR_TYPE_SRV, "formerr", "tsig-not-last"},
  };
  if (has_ipv6_loopback()) cases.push_back({"::1", LDNS_RR_TYPE_SRV, "noerror-1", ""});
  for (const bool tcp : {false, true}) {
    for (const auto& c : cases) {
      INFO((tcp ? "tcp " : "udp ") << c.source << " " << c.type << " " << c.shape);
      Client client(c.source, static_cast<std::uint16_t>(port), tcp);
      const auto reply = client.ask(shaped(c.shape, c.type), c.want == "none" ? 300 : 2000);
      if (c.want == "formerr") {
        REQUIRE(reply);
        REQUIRE(reply->size() >= 12);
        CHECK(((*reply)[3] & 0x0f) == 1);
      } else {
        CHECK(outcome(reply) == c.want);
      }
    }
  }
  // TCP: a dropped query leaves the connection open; the next one on it is answered.
  Client client("127.0.0.2", static_cast<std::uint16_t>(port), true);
  CHECK(outcome(client.ask(query(name1, LDNS_RR_TYPE_SRV), 300)) == "none");
  CHECK(outcome(client.ask(query(name1, LDNS_RR_TYPE_TXT))) == "noerror-empty");
}

TEST_CASE("acl: a block without acl beside one with it on the same sockets keeps its zone open", "[server][acl]") {
  const auto port = std::to_string(free_port());
  Serving s("example.com:" + port + " {\n wgsd example.com. wgref0 {\n  ns ns.example.\n }\n acl {\n  block\n }\n}\n" +
            "open.test:" + port + " {\n wgsd open.test. wgref0 {\n  ns ns.example.\n }\n}\n");
  Client a("127.0.0.1", static_cast<std::uint16_t>(std::stoi(port)), false);
  CHECK(outcome(a.ask(query("example.com.", LDNS_RR_TYPE_SOA))) == "refused+ede18");
  CHECK(outcome(a.ask(query("open.test.", LDNS_RR_TYPE_SOA))) == "noerror-1");
}

TEST_CASE("acl: a reload applies changed acl lines on the sockets it keeps", "[server][acl][reload]") {
  const auto port = free_port();
  const auto corefile = [&](const std::string& acl) {
    return ".:" + std::to_string(port) + " {\n wgsd example.com. wgref0 {\n  ns ns.example.\n }\n" + acl + "}\n";
  };
  Serving s(corefile(" acl {\n  block net 127.0.0.2\n }\n"));
  const auto udp = [&](const std::string& source) {
    Client c(source, static_cast<std::uint16_t>(port), false);
    return outcome(c.ask(query(name1, LDNS_RR_TYPE_SRV), 500));
  };
  CHECK(udp("127.0.0.2") == "refused+ede18");
  CHECK(udp("127.0.0.3") == "noerror-1");
  s.server->reload(server::parse_config(corefile(" acl {\n  drop net 127.0.0.3\n }\n"), "Corefile"));
  CHECK(udp("127.0.0.2") == "noerror-1");
  CHECK(udp("127.0.0.3") == "none");
  s.server->reload(server::parse_config(corefile(""), "Corefile"));
  CHECK(udp("127.0.0.3") == "noerror-1");
}
