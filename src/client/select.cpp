#include "client/select.hpp"

#include <ldns/ldns.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "client/endpoint_check.hpp"
#include "client/lookup.hpp"
#include "client/resolver.hpp"
#include "dns/wire.hpp"
#include "wg/error.hpp"

namespace wgsd::client {
namespace {

// One query to one registry, driven to its end (or to a stop on `stop_fd`). Empty on failure.
std::vector<std::uint8_t> ask_one(const wg::Endpoint& registry, const std::string& qname, const ResolverOptions& ro, int stop_fd,
                                  std::string& error) {
  Exchange ex(registry, qname, dns::type::srv, ro);
  ex.start(SteadyClock::now());
  while (ex.state() == Exchange::State::running) {
    pollfd fds[2] = {{ex.fd(), ex.events(), 0}, {stop_fd, POLLIN, 0}};
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(ex.deadline() - SteadyClock::now()).count();
    const int r = ::poll(fds, stop_fd >= 0 ? 2 : 1, static_cast<int>(std::clamp<long long>(wait, 0, 60000)));
    if (r < 0 && errno != EINTR) break;
    if (stop_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      error = "stopped";
      return {};
    }
    const auto now = SteadyClock::now();
    if (r > 0 && fds[0].revents != 0) ex.on_ready(fds[0].revents, now);
    ex.on_deadline(now);
  }
  if (ex.state() != Exchange::State::done) {
    error = ex.error().empty() ? "no answer" : ex.error();
    return {};
  }
  return ex.reply();
}

// The member keys named by the SRV set of `qname` in `reply`: each target's first label is the
// base32 of a key. nullopt when the reply is not a usable answer (error says why).
std::optional<std::vector<std::string>> pool_targets(const std::vector<std::uint8_t>& reply, const std::string& qname, std::string& error) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, reply.data(), reply.size()) != LDNS_STATUS_OK || raw == nullptr) {
    error = "unparsable reply";
    return std::nullopt;
  }
  std::unique_ptr<ldns_pkt, decltype(&ldns_pkt_free)> pkt(raw, ldns_pkt_free);
  const auto rcode = ldns_pkt_get_rcode(pkt.get());
  if (rcode == LDNS_RCODE_NXDOMAIN) return std::vector<std::string>{};
  if (rcode != LDNS_RCODE_NOERROR) {
    error = "registry answered rcode " + std::to_string(rcode);
    return std::nullopt;
  }
  std::unique_ptr<ldns_rdf, decltype(&ldns_rdf_deep_free)> owner(ldns_dname_new_frm_str(qname.c_str()), ldns_rdf_deep_free);
  std::vector<std::string> out;
  const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SRV || ldns_rr_rd_count(rr) != 4 || ldns_dname_compare(ldns_rr_owner(rr), owner.get()) != 0) continue;
    char* text = ldns_rdf2str(ldns_rr_rdf(rr, 3));
    if (text != nullptr) out.emplace_back(text);
    std::free(text);
  }
  return out;
}

std::optional<wg::Key> key_of_target(const std::string& target) {
  const auto dot = target.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const auto bytes = wg::base32_decode(target.substr(0, dot));
  if (!bytes || bytes->size() != wg::key_size) return std::nullopt;
  std::array<std::uint8_t, wg::key_size> b{};
  std::copy(bytes->begin(), bytes->end(), b.begin());
  return wg::Key(b);
}

const wg::Peer* find_peer(const wg::Device& d, const wg::Key& k) {
  for (const auto& p : d.peers) {
    if (p.public_key == k) return &p;
  }
  return nullptr;
}

bool contains(const std::vector<wg::Key>& v, const wg::Key& k) { return std::find(v.begin(), v.end(), k) != v.end(); }

}  // namespace

std::vector<PoolMember> ask_pool(const Options& options, const SelectOptions& select, int stop_fd, std::string& error) {
  const ResolverOptions ro{options.timeout, options.retries, options.tsig ? &*options.tsig : nullptr};
  const std::string qname = "_wireguard._udp." + select.pool + "." + options.zone;
  std::optional<std::vector<std::string>> targets;
  for (const auto& registry : options.registries) {
    std::string why;
    const auto reply = ask_one(registry, qname, ro, stop_fd, why);
    if (!reply.empty()) targets = pool_targets(reply, qname, why);
    if (targets) break;
    error = registry.to_string() + ": " + qname + ": " + why;
    if (why == "stopped") return {};
  }
  if (!targets) return {};
  std::vector<std::string> names;
  for (const auto& t : *targets) {
    if (key_of_target(t)) names.push_back(t);
  }
  LookupOptions lo;
  lo.timeout = options.timeout;
  lo.retries = options.retries;
  lo.concurrency = options.concurrency;
  lo.stop_fd = stop_fd;
  lo.key = options.tsig ? &*options.tsig : nullptr;
  const auto answers = lookup_all(names, options.registries, lo);
  std::vector<PoolMember> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (const auto& a : answers[i]) {
      if (a.kind != RegistryAnswer::Kind::found) continue;
      out.push_back({*key_of_target(names[i]), a.endpoint, a.allowed});
      break;
    }
  }
  if (out.empty() && !names.empty()) error = "no member of " + qname + " could be looked up";
  return out;
}

Selector::Selector(Options options, SelectOptions select, wg::Backend& backend, MemberSource members, std::uint64_t seed)
    : options_(std::move(options)), select_(std::move(select)), backend_(backend), members_(std::move(members)), random_(seed) {
  if (select_.state_file.empty()) return;
  std::ifstream in(select_.state_file);
  std::string line;
  if (in && std::getline(in, line)) {
    if (const auto k = wg::Key::from_base64(line)) {
      installed_ = *k;
      resumed_ = true;
    }
  }
}

void Selector::save_state(std::ostream& log) const {
  if (select_.state_file.empty()) return;
  std::error_code ec;
  const std::filesystem::path path(select_.state_file);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const std::string tmp = select_.state_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (installed_) out << installed_->to_base64() << "\n";
    out.flush();
    if (!out) {
      log << "wgsd-client: --select: cannot write " << tmp << ": the installed member will not be recognised after a restart\n";
      return;
    }
  }
  if (std::rename(tmp.c_str(), select_.state_file.c_str()) != 0) {
    log << "wgsd-client: --select: cannot write " << select_.state_file << "\n";
  }
}

void Selector::remove(std::ostream& log, const std::string& why) {
  if (!installed_) return;
  log << "wgsd-client: " << installed_->to_base64() << ": " << why << "; removed\n";
  wg::PeerUpdate u;
  u.public_key = *installed_;
  u.remove = true;
  try {
    backend_.apply(wg::DeviceUpdate{options_.device, {u}});
  } catch (const std::exception& e) {
    log << "wgsd-client: " << installed_->to_base64() << ": could not remove the peer: " << e.what() << "\n";
  }
  installed_.reset();
  phase_ = Phase::none;
  save_state(log);
}

void Selector::install(const PoolMember& m, Steady::time_point now, std::ostream& log) {
  wg::PeerUpdate u{m.key, false, m.endpoint};
  u.allowed_ips = m.allowed;
  u.persistent_keepalive = select_.keepalive;
  // Noted before the write: a crash between the two leaves a state file naming a peer that may not
  // exist, which the next start clears; the other order could leave a peer nobody removes.
  installed_ = m.key;
  save_state(log);
  try {
    backend_.apply(wg::DeviceUpdate{options_.device, {u}});
  } catch (const std::exception& e) {
    log << "wgsd-client: " << m.key.to_base64() << ": could not install the peer: " << e.what() << "\n";
    installed_.reset();
    save_state(log);
    return;
  }
  history_.push_back(m.key);
  phase_ = Phase::trying;
  since_ = now;
  last_growth_ = now;
  last_rx_ = 0;
  log << "wgsd-client: " << m.key.to_base64() << ": installed with endpoint " << m.endpoint.to_string() << ", trying it for "
      << select_.check.count() << "ms\n";
}

Selector::Steady::time_point Selector::step(Steady::time_point now, wg::Clock::time_point wall, std::ostream& log) {
  const auto next = now + select_.check;
  // While a member is installed the device is looked at every second: a try ends as soon as the
  // handshake is there, and the silence of an established member is measured to the second, not to
  // the next --check (which could add a whole --check to the failover).
  const auto soon = now + std::min<std::chrono::milliseconds>(select_.check, poll_interval);
  wg::Device device;
  try {
    device = backend_.get_device(options_.device);
  } catch (const std::exception& e) {
    log << "wgsd-client: device '" << options_.device << "': " << e.what() << "\n";
    return next;
  }
  if (installed_) {
    const wg::Peer* peer = find_peer(device, *installed_);
    if (peer == nullptr) {
      log << "wgsd-client: " << installed_->to_base64() << ": no longer on the device\n";
      installed_.reset();
      phase_ = Phase::none;
      resumed_ = false;
      save_state(log);
    } else {
      const bool fresh = peer->last_handshake && wall - *peer->last_handshake < select_.established;
      if (resumed_) {
        // Installed before a restart: judged at once, as at the end of a try.
        resumed_ = false;
        phase_ = Phase::trying;
        since_ = now - select_.check;
        last_rx_ = peer->rx_bytes;
        last_growth_ = now;
        tried_.push_back(*installed_);
        log << "wgsd-client: " << installed_->to_base64() << ": installed before a restart, taken over\n";
      }
      if (peer->rx_bytes != last_rx_) {
        last_rx_ = peer->rx_bytes;
        last_growth_ = now;
      }
      if (phase_ == Phase::trying) {
        if (!fresh && now - since_ < select_.check) return std::min(since_ + select_.check, soon);
        if (!fresh) {
          remove(log, "no handshake within " + std::to_string(select_.check.count()) + "ms");
        } else {
          phase_ = Phase::established;
          since_ = now;
          last_growth_ = now;
          log << "wgsd-client: " << installed_->to_base64() << ": established\n";
          return soon;
        }
      } else if (!fresh) {
        remove(log, "handshake older than --established");
      } else if (now - last_growth_ >= select_.silence()) {
        remove(log, "nothing received for " + std::to_string(select_.silence().count() / 1000) + "s");
      } else {
        return std::min(last_growth_ + select_.silence(), soon);
      }
    }
  }
  // Nothing installed: the next member not tried in this cycle.
  std::string error;
  const auto members = members_(error);
  known_.clear();
  std::vector<const PoolMember*> usable;
  for (const auto& m : members) {
    known_.push_back(m.key);
    if (find_peer(device, m.key) != nullptr) continue;  // a peer this did not install is never touched
    if (const auto why = why_unusable(m.endpoint.address, device)) {
      log << "wgsd-client: " << m.key.to_base64() << ": endpoint " << m.endpoint.to_string() << " refused: " << *why << "\n";
      continue;
    }
    usable.push_back(&m);
  }
  if (usable.empty()) {
    log << "wgsd-client: --select " << select_.pool << ": no member to try" << (error.empty() ? "" : ": " + error) << "\n";
    return next;
  }
  std::vector<const PoolMember*> untried;
  for (const auto* m : usable) {
    if (!contains(tried_, m->key)) untried.push_back(m);
  }
  if (untried.empty()) {
    tried_.clear();  // every member had its turn: a new cycle
    untried = usable;
  }
  const PoolMember& pick = *untried[std::uniform_int_distribution<std::size_t>(0, untried.size() - 1)(random_)];
  tried_.push_back(pick.key);
  install(pick, now, log);
  return installed_ ? soon : next;
}

void Selector::print_json(std::ostream& out, Steady::time_point now) const {
  out << "{";
  bool first = true;
  auto one = [&](const wg::Key& k) {
    out << (first ? "" : ",") << "\"" << k.to_base64() << "\":";
    first = false;
    if (installed_ && *installed_ == k && phase_ == Phase::established) {
      out << std::chrono::duration_cast<std::chrono::seconds>(now - since_).count();
    } else {
      out << "false";
    }
  };
  for (const auto& k : known_) one(k);
  if (installed_ && !contains(known_, *installed_)) one(*installed_);
  out << "}\n";
}

}  // namespace wgsd::client
