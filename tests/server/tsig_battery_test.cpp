// Hostile TSIG records against a running server that has keys: every MAC size, lies in the lengths,
// repeated and misplaced records, unknown algorithms, huge other data, TSIG in a response. Each
// gets the reply RFC 8945 prescribes, over UDP and TCP, and the server keeps answering signed.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>

#include "dns/fixtures.hpp"
#include "dns/tsig.hpp"
#include "dns/wire.hpp"
#include "support/dns_case.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr const char* secret = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";
constexpr const char* secret512 = "bG9uZ2VyLXNlY3JldC1mb3ItaG1hYy1zaGE1MTItaW4td2dzZC10c2lnLXRlc3RzLTY0LWJ5dGVzLW9mLWtleQ==";

dns::tsig::Key make(const char* name, const char* alg, const char* b64) {
  std::string error;
  auto k = dns::tsig::make_key(name, alg, b64, error);
  REQUIRE(k);
  return *k;
}

std::uint64_t now() { return static_cast<std::uint64_t>(std::time(nullptr)); }

// One connected socket to 127.0.0.1:port, UDP or TCP (framed).
struct Client {
  int fd{-1};
  bool tcp{};
  Client(std::uint16_t port, bool over_tcp) : tcp(over_tcp) {
    fd = ::socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~Client() { ::close(fd); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The reply to `q`, or nullopt when nothing came within `wait_ms`.
  std::optional<Bytes> ask(const Bytes& q, int wait_ms = 2000) {
    Bytes framed;
    if (tcp) framed = {static_cast<std::uint8_t>(q.size() >> 8), static_cast<std::uint8_t>(q.size() & 0xff)};
    framed.insert(framed.end(), q.begin(), q.end());
    if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(framed.size())) return std::nullopt;
    Bytes reply(65537);
    std::size_t got = 0;
    while (!tcp || got < 2 || got < 2 + ((static_cast<std::size_t>(reply[0]) << 8) | reply[1])) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, wait_ms) != 1) return std::nullopt;
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

// The parts of a TSIG record, to write it with honest or lying lengths.
struct Tsig {
  Bytes owner;
  Bytes algorithm;
  std::uint64_t time{};
  std::uint16_t fudge{300};
  Bytes mac;
  std::uint16_t original_id{};
  std::uint16_t error{};
  Bytes other;
  std::uint16_t rr_class{255};
  std::uint32_t ttl{};
  std::optional<std::uint16_t> mac_size, other_size, rdlength;  // lies; nullopt: the true value

  [[nodiscard]] Bytes wire() const {
    Bytes rd = algorithm;
    for (int i = 5; i >= 0; --i) rd.push_back(static_cast<std::uint8_t>(time >> (8 * i)));
    auto u16 = [](Bytes& b, std::uint16_t v) {
      b.push_back(static_cast<std::uint8_t>(v >> 8));
      b.push_back(static_cast<std::uint8_t>(v & 0xff));
    };
    u16(rd, fudge);
    u16(rd, mac_size.value_or(static_cast<std::uint16_t>(mac.size())));
    rd.insert(rd.end(), mac.begin(), mac.end());
    u16(rd, original_id);
    u16(rd, error);
    u16(rd, other_size.value_or(static_cast<std::uint16_t>(other.size())));
    rd.insert(rd.end(), other.begin(), other.end());
    Bytes rr = owner;
    u16(rr, dns::type::tsig);
    u16(rr, rr_class);
    u16(rr, static_cast<std::uint16_t>(ttl >> 16));
    u16(rr, static_cast<std::uint16_t>(ttl & 0xffff));
    u16(rr, rdlength.value_or(static_cast<std::uint16_t>(rd.size())));
    rr.insert(rr.end(), rd.begin(), rd.end());
    return rr;
  }
};

// `base` with `records` appended to its additional section.
Bytes with(const Bytes& base, std::initializer_list<Bytes> records) {
  Bytes q = base;
  for (const auto& r : records) {
    q.insert(q.end(), r.begin(), r.end());
    const auto arcount = static_cast<std::uint16_t>(dns::get_u16(&q[10]) + 1);
    q[10] = static_cast<std::uint8_t>(arcount >> 8);
    q[11] = static_cast<std::uint8_t>(arcount & 0xff);
  }
  return q;
}

// `q` (unsigned, ARCOUNT as is) signed with `key` now: the whole message and its TSIG's parts.
struct Signed {
  Bytes message;
  Tsig tsig;
};
Signed sign(const Bytes& q, const dns::tsig::Key& key) {
  Bytes m = q;
  const std::size_t length = m.size();
  m.resize(length + 400);
  dns::tsig::SignParams p;
  p.time_signed = now();
  p.original_id = dns::get_u16(q.data());
  m.resize(dns::tsig::sign(m, length, key, p));
  REQUIRE(m.size() > length);
  std::size_t owner = 0;
  REQUIRE(dns::tsig::locate(m, owner) == dns::tsig::Found::last);
  const auto rec = dns::tsig::read_record(m, owner);
  REQUIRE(rec);
  Tsig t;
  t.owner.assign(key.name.begin(), key.name.end());
  const auto alg = *dns::name_to_wire(std::string(dns::tsig::algorithm_name(key.algorithm)) + ".");
  t.algorithm.assign(alg.begin(), alg.end());
  t.time = rec->time_signed;
  t.mac.assign(m.begin() + static_cast<std::ptrdiff_t>(rec->mac_offset), m.begin() + static_cast<std::ptrdiff_t>(rec->mac_offset + rec->mac_length));
  t.original_id = rec->original_id;
  return {m, t};
}

// What came back: "none", or "RCODE/TSIG-ERROR/signed|unsigned|-" (- : no TSIG record).
std::string outcome(const std::optional<Bytes>& reply, const Bytes& query, const dns::tsig::Key& key) {
  if (!reply) return "none";
  const Bytes& r = *reply;
  if (r.size() < dns::header_size || parse_response(r) == nullptr) return "unparsable";
  const std::string rc = dns::rcode_name(static_cast<std::uint16_t>(r[3] & 0x0f));
  std::size_t owner = 0;
  if (dns::tsig::locate(r, owner) != dns::tsig::Found::last) return rc + "/-";
  const auto rec = dns::tsig::read_record(r, owner);
  if (!rec) return rc + "/broken";
  const std::string error = std::to_string(rec->error);
  if (rec->mac_length == 0) return rc + "/" + error + "/unsigned";
  std::size_t qowner = 0;
  if (dns::tsig::locate(query, qowner) != dns::tsig::Found::last) return rc + "/" + error + "/signed-to-what";
  const auto qrec = dns::tsig::read_record(query, qowner);
  const auto check = qrec ? dns::tsig::verify_response(r, *rec, key, dns::tsig::mac_of(query, *qrec), now()) : dns::tsig::Check::formerr;
  const bool good = check == dns::tsig::Check::ok || (check == dns::tsig::Check::badtime && rec->error == dns::tsig::badtime);
  return rc + "/" + error + (good ? "/signed" : "/badly-signed");
}

}  // namespace

TEST_CASE("tsig battery: hostile TSIG records get FORMERR or NOTAUTH as RFC 8945 says, and the server keeps serving", "[server][battery][tsig]") {
  TempDir dir;
  std::ofstream(dir.path() + "/keys") << "key \"k512.example\" {\n\talgorithm hmac-sha512;\n\tsecret \"" << secret512 << "\";\n};\n";
  const auto port = free_port();
  Serving s(".:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgref0 {\n  ns ns.example.\n }\n tsig {\n  secret key.example. " +
            secret + "\n  secrets " + dir.path() + "/keys\n }\n}\n");
  const dns::tsig::Key k256 = make("key.example.", "hmac-sha256", secret);
  const dns::tsig::Key k512 = make("k512.example.", "hmac-sha512", secret512);
  const Bytes plain = make_query(name1, LDNS_RR_TYPE_SRV, {.id = 0x4242});
  const Bytes edns = make_query(name1, LDNS_RR_TYPE_SRV, {.edns = true, .id = 0x4243});

  for (const bool tcp : {false, true}) {
    INFO((tcp ? "TCP" : "UDP"));
    Client c(port, tcp);
    auto ask = [&](const Bytes& q, const dns::tsig::Key& key, int wait_ms = 2000) { return outcome(c.ask(q, wait_ms), q, key); };
    // The server answers a good signed query with the peer, signed: checked after each group.
    // Serving: a good signed query is answered. Three tries, so that one reply slowed past the
    // client's timeout on a busy machine (sanitizer builds) is not taken for a dead server.
    auto healthy = [&]() -> bool {
      for (int attempt = 0; attempt < 3; ++attempt) {
        if (!c.tcp) {  // late replies to earlier queries are not this one's
          std::uint8_t stale[512];
          while (::recv(c.fd, stale, sizeof stale, MSG_DONTWAIT) > 0) {
          }
        }
        const Signed good = sign(edns, k256);
        const auto r = c.ask(good.message, 5000);
        if (!r) continue;
        if (outcome(r, good.message, k256) != "NOERROR/0/signed") return false;
        const auto pkt = parse_response(*r);
        return pkt != nullptr && ldns_pkt_ancount(pkt.get()) == 1;
      }
      return false;
    };
    REQUIRE(healthy());

    SECTION("MAC sizes from 0 to past the hash, with honest lengths") {
      for (const auto* key : {&k256, &k512}) {
        const Signed good = sign(plain, *key);
        const std::size_t hash = good.tsig.mac.size(), least = dns::tsig::min_mac_size(key->algorithm);
        for (std::size_t n = 0; n <= hash + 8; ++n) {
          CAPTURE(dns::tsig::algorithm_name(key->algorithm), n);
          Tsig cut = good.tsig;  // the true MAC cut to n bytes (or padded)
          cut.mac.resize(n, 0xaa);
          Tsig garbage = good.tsig;
          garbage.mac.assign(n, 0x5c);
          const std::string expect_cut = n < least ? "FORMERR/-" : n <= hash ? "NOERROR/0/signed" : "FORMERR/-";
          const std::string expect_garbage = n < least ? "FORMERR/-" : n <= hash ? "NOTAUTH/16/unsigned" : "FORMERR/-";
          CHECK(ask(with(plain, {cut.wire()}), *key) == expect_cut);
          CHECK(ask(with(plain, {garbage.wire()}), *key) == expect_garbage);
        }
      }
      CHECK(healthy());
    }

    SECTION("lies in RDLENGTH, MAC size and other length, and cut records") {
      const Signed good = sign(plain, k256);
      const Bytes real = good.tsig.wire();
      const std::size_t rdlength = real.size() - good.tsig.owner.size() - 10;
      auto lie = [&](auto edit) {
        Tsig t = good.tsig;
        edit(t);
        return ask(with(plain, {t.wire()}), k256);
      };
      for (const std::uint16_t v : {0, 1, 31, 33, 0x00ff, 0x0100, 0x7fff, 0xffff}) {
        CAPTURE(v);
        CHECK(lie([&](Tsig& t) { t.mac_size = v; }) == "FORMERR/-");
      }
      for (const std::uint16_t v : {1, 2, 6, 0x0100, 0xffff}) {
        CAPTURE(v);
        CHECK(lie([&](Tsig& t) { t.other_size = v; }) == "FORMERR/-");
      }
      for (const std::size_t v : {std::size_t{0}, std::size_t{1}, rdlength - 1, rdlength + 1, std::size_t{0xffff}}) {
        CAPTURE(v);
        CHECK(lie([&](Tsig& t) { t.rdlength = static_cast<std::uint16_t>(v); }) == "FORMERR/-");
      }
      // Not a TSIG the RFC knows: class IN, a TTL.
      CHECK(lie([](Tsig& t) { t.rr_class = 1; }) == "FORMERR/-");
      CHECK(lie([](Tsig& t) { t.ttl = 1; }) == "FORMERR/-");
      // The message cut anywhere inside the record.
      for (std::size_t cut = plain.size() + 1; cut < good.message.size(); cut += 3) {
        CAPTURE(cut);
        CHECK(ask(Bytes(good.message.begin(), good.message.begin() + static_cast<std::ptrdiff_t>(cut)), k256) == "FORMERR/-");
      }
      CHECK(healthy());
    }

    SECTION("two TSIGs, a TSIG before the OPT or in another section, a TSIG question") {
      const Signed good = sign(plain, k256);
      const Bytes real = good.tsig.wire();
      CHECK(ask(with(plain, {real, real}), k256) == "FORMERR/-");
      CHECK(ask(with(good.message, {real}), k256) == "FORMERR/-");
      const Bytes opt(edns.end() - 11, edns.end());
      CHECK(ask(with(plain, {real, opt}), k256) == "FORMERR/-");
      Bytes in_answer = with(plain, {real});
      in_answer[10] = 0, in_answer[11] = 0, in_answer[7] = 1;  // ANCOUNT 1, ARCOUNT 0
      CHECK(ask(in_answer, k256) == "FORMERR/-");
      Bytes in_authority = in_answer;
      in_authority[7] = 0, in_authority[9] = 1;
      CHECK(ask(in_authority, k256) == "FORMERR/-");
      CHECK(ask(sign(make_query("example.com.", LDNS_RR_TYPE_TSIG), k256).message, k256) == "FORMERR/0/signed");
      CHECK(healthy());
    }

    SECTION("unknown algorithms and key names, compressed names, clocks far off") {
      const Signed good = sign(plain, k256);
      for (const char* alg : {"hmac-md5.sig-alg.reg.int.", "hmac-sha1.", "hmac-sha224.", "hmac-sha384.", "gss-tsig.", "hmac-sha512.", ".",
                              "hmac-sha256.example."}) {
        CAPTURE(alg);
        Tsig t = good.tsig;
        const auto wire = *dns::name_to_wire(alg);
        t.algorithm.assign(wire.begin(), wire.end());
        CHECK(ask(with(plain, {t.wire()}), k256) == "NOTAUTH/17/unsigned");
      }
      Tsig longest = good.tsig;  // a 255-octet algorithm name
      longest.algorithm.clear();
      for (int i = 0; i < 4; ++i) {
        longest.algorithm.push_back(i < 3 ? 63 : 61);
        longest.algorithm.insert(longest.algorithm.end(), i < 3 ? 63 : 61, 'h');
      }
      longest.algorithm.push_back(0);
      CHECK(ask(with(plain, {longest.wire()}), k256) == "NOTAUTH/17/unsigned");
      Tsig pointer = good.tsig;  // algorithm and key name pointing at the question name
      pointer.algorithm = {0xc0, 0x0c};
      CHECK(ask(with(plain, {pointer.wire()}), k256) == "NOTAUTH/17/unsigned");
      pointer = good.tsig;
      pointer.owner = {0xc0, 0x0c};
      CHECK(ask(with(plain, {pointer.wire()}), k256) == "NOTAUTH/17/unsigned");
      Tsig loop = good.tsig;
      loop.algorithm = {0xc0, static_cast<std::uint8_t>(plain.size() + good.tsig.owner.size() + 10)};  // points at itself
      CHECK(ask(with(plain, {loop.wire()}), k256) == "FORMERR/-");
      Tsig nobody = good.tsig;
      const auto name = *dns::name_to_wire("nobody.example.");
      nobody.owner.assign(name.begin(), name.end());
      CHECK(ask(with(plain, {nobody.wire()}), k256) == "NOTAUTH/17/unsigned");
      // Well outside the fudge of 300 s, however long a slow (sanitizer) build takes to answer.
      for (const std::uint64_t t : {std::uint64_t{0}, now() - 900, now() + 900, std::uint64_t{0xffffffffffff}}) {
        CAPTURE(t);
        Bytes m = plain;
        const std::size_t length = m.size();
        m.resize(length + 400);
        dns::tsig::SignParams p;
        p.time_signed = t;
        p.original_id = 0x4242;
        m.resize(dns::tsig::sign(m, length, k256, p));
        CHECK(ask(m, k256) == "NOTAUTH/18/signed");
      }
      CHECK(healthy());
    }

    SECTION("huge other data, an error already set, the MAC of a response") {
      const Signed good = sign(plain, k256);
      for (const std::size_t n : {std::size_t{6}, std::size_t{7}, std::size_t{3000}, std::size_t{5000}, std::size_t{60000}}) {
        CAPTURE(n);
        Tsig t = good.tsig;
        t.other.assign(n, 0x55);
        // The other data is under the MAC: BADSIG. A UDP query over 4096 bytes is not read at all.
        const bool unread = !tcp && n > 4000;
        CHECK(ask(with(plain, {t.wire()}), k256, unread ? 300 : 2000) == (unread ? "none" : "NOTAUTH/16/unsigned"));
      }
      Tsig error = good.tsig;
      error.error = dns::tsig::badsig;
      CHECK(ask(with(plain, {error.wire()}), k256) == "NOTAUTH/16/unsigned");
      // A signed response sent to the server: never answered.
      Bytes response = good.message;
      response[2] |= 0x80;
      CHECK(c.ask(response, 200) == std::nullopt);
      CHECK(healthy());
    }

    SECTION("thousands of random edits of signed queries: every reply parses, and the server stays") {
      const std::vector<Bytes> seeds = {sign(plain, k256).message, sign(edns, k512).message};
      std::size_t replies = 0;
      for (unsigned i = 0; i < 1500; ++i) {
        const Bytes& seed = seeds[i % seeds.size()];
        Bytes q = seed;
        const std::size_t tsig_start = (i % 2 == 0 ? plain.size() : edns.size());
        for (unsigned e = 0, edits = 1 + randombytes_uniform(4); e < edits; ++e) {
          // Mostly inside the TSIG record, sometimes anywhere.
          const std::size_t from = randombytes_uniform(4) == 0 ? 0 : tsig_start;
          const std::size_t at = from + randombytes_uniform(static_cast<std::uint32_t>(q.size() - from));
          switch (randombytes_uniform(3)) {
            case 0: q[at] ^= static_cast<std::uint8_t>(1 << randombytes_uniform(8)); break;
            case 1: q[at] = static_cast<std::uint8_t>(randombytes_uniform(256)); break;
            default: q.resize(at); break;
          }
          if (q.size() <= tsig_start) break;
        }
        if (q.size() < dns::header_size) q = seed;  // unanswered: over TCP the server would close
        q[2] &= 0x7f;
        const auto r = c.ask(q, 300);
        if (!r) continue;  // too short, or a TCP connection the edit broke: checked by healthy() below
        ++replies;
        REQUIRE(parse_response(*r) != nullptr);
        REQUIRE(r->size() <= (tcp ? 65535u : 1232u));
      }
      CHECK(replies > 1000);
      CHECK(healthy());
    }
  }
}
