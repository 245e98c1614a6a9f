// The benchmark's floor: a UDP responder that does no DNS work at all. It answers each query by
// echoing it as an empty NOERROR answer (QR and AA set, the rcode cleared, the question kept), with
// the same I/O as wgsd-server's UDP workers: one SO_REUSEPORT socket per thread, one thread per core,
// recvmmsg/sendmmsg in batches of 32 back to back (poll only when a read finds nothing), IP_PKTINFO
// on the way in and on the way out, a 4 MiB receive buffer. Its CPU time per query is what the kernel's UDP path costs by itself on the
// machine; a server's CPU per query divided by the floor's is the work the server adds.
//
// usage: wgsd-floor ADDRESS PORT [THREADS]   (IPv4; THREADS defaults to the number of cores)
// Only for benchmarks: it answers anything, including what is not DNS.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr unsigned batch = 32;
constexpr std::size_t datagram_max = 4096;
constexpr int receive_buffer = 4 << 20;
constexpr std::size_t header_size = 12;

int open_socket(const in_addr& address, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr = address;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The address a datagram came to, from its IP_PKTINFO; the reply leaves from it.
bool local_of(msghdr& msg, in_addr& local) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      local = info.ipi_addr;
      return true;
    }
  }
  return false;
}

std::size_t reply_control(const in_addr& local, char* buf, std::size_t cap) {
  msghdr m{};
  m.msg_control = buf;
  m.msg_controllen = cap;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  in_pktinfo info{};
  info.ipi_spec_dst = local;
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof info);
  std::memcpy(CMSG_DATA(c), &info, sizeof info);
  return CMSG_SPACE(sizeof info);
}

void serve(int fd) {
  struct Slot {
    std::array<std::uint8_t, datagram_max> in;
    std::array<std::uint8_t, datagram_max> out;
    sockaddr_storage peer;
    alignas(cmsghdr) char control[128];
    alignas(cmsghdr) char reply_control[128];
    iovec in_iov, out_iov;
  };
  std::vector<Slot> slots(batch);
  std::vector<mmsghdr> in(batch);
  std::vector<mmsghdr> out(batch);
  pollfd p{fd, POLLIN, 0};
  // As wgsd-server's workers: read batches back to back while there are any, block in poll only
  // when a read finds nothing.
  bool idle = true;
  for (;;) {
    if (idle && ::poll(&p, 1, -1) < 0 && errno != EINTR) return;
    idle = true;
    for (unsigned i = 0; i < batch; ++i) {
      Slot& s = slots[i];
      s.in_iov = {s.in.data(), s.in.size()};
      in[i].msg_hdr = msghdr{};
      in[i].msg_hdr.msg_name = &s.peer;
      in[i].msg_hdr.msg_namelen = sizeof s.peer;
      in[i].msg_hdr.msg_iov = &s.in_iov;
      in[i].msg_hdr.msg_iovlen = 1;
      in[i].msg_hdr.msg_control = s.control;
      in[i].msg_hdr.msg_controllen = sizeof s.control;
    }
    const int n = ::recvmmsg(fd, in.data(), batch, MSG_DONTWAIT, nullptr);
    if (n <= 0) continue;
    idle = false;
    unsigned replies = 0;
    for (int i = 0; i < n; ++i) {
      Slot& s = slots[static_cast<std::size_t>(i)];
      mmsghdr& q = in[static_cast<std::size_t>(i)];
      if (q.msg_len < header_size || (q.msg_hdr.msg_flags & MSG_TRUNC) != 0) continue;
      // The query itself as the answer: QR and AA set, TC cleared; RD and the opcode kept; RA and
      // the rcode cleared (NOERROR); no answer or authority records. The additional section stays
      // as asked: a query's OPT record comes back as the answer's.
      std::memcpy(s.out.data(), s.in.data(), q.msg_len);
      s.out[2] = static_cast<std::uint8_t>((s.out[2] & 0x79U) | 0x84U);
      s.out[3] = 0;
      std::memset(s.out.data() + 6, 0, 4);
      s.out_iov = {s.out.data(), q.msg_len};
      mmsghdr& m = out[replies++];
      m.msg_hdr = msghdr{};
      m.msg_hdr.msg_name = &s.peer;
      m.msg_hdr.msg_namelen = q.msg_hdr.msg_namelen;
      m.msg_hdr.msg_iov = &s.out_iov;
      m.msg_hdr.msg_iovlen = 1;
      in_addr local{};
      if (local_of(q.msg_hdr, local)) {
        m.msg_hdr.msg_control = s.reply_control;
        m.msg_hdr.msg_controllen = reply_control(local, s.reply_control, sizeof s.reply_control);
      }
    }
    for (unsigned sent = 0; sent < replies;) {
      const int k = ::sendmmsg(fd, out.data() + sent, replies - sent, 0);
      if (k <= 0) {
        if (errno == EINTR) continue;
        ++sent;
        continue;
      }
      sent += static_cast<unsigned>(k);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: wgsd-floor ADDRESS PORT [THREADS]\n");
    return 2;
  }
  in_addr address{};
  if (::inet_pton(AF_INET, argv[1], &address) != 1) {
    std::fprintf(stderr, "wgsd-floor: ADDRESS must be an IPv4 address, got '%s'\n", argv[1]);
    return 2;
  }
  char* end = nullptr;
  const long port = std::strtol(argv[2], &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) {
    std::fprintf(stderr, "wgsd-floor: PORT must be 1-65535, got '%s'\n", argv[2]);
    return 2;
  }
  unsigned threads = std::max(1U, std::thread::hardware_concurrency());
  if (argc == 4) {
    const long t = std::strtol(argv[3], &end, 10);
    if (*end != '\0' || t < 1 || t > 1024) {
      std::fprintf(stderr, "wgsd-floor: THREADS must be 1-1024, got '%s'\n", argv[3]);
      return 2;
    }
    threads = static_cast<unsigned>(t);
  }
  std::vector<int> fds;
  for (unsigned t = 0; t < threads; ++t) {
    const int fd = open_socket(address, static_cast<std::uint16_t>(port));
    if (fd < 0) {
      std::fprintf(stderr, "wgsd-floor: listen udp %s:%ld: %s\n", argv[1], port, std::strerror(errno));
      return 1;
    }
    fds.push_back(fd);
  }
  std::fprintf(stderr, "wgsd-floor: answering on udp %s:%ld with %u threads\n", argv[1], port, threads);
  std::vector<std::thread> workers;
  for (int fd : fds) workers.emplace_back(serve, fd);
  for (auto& w : workers) w.join();
  return 0;
}
