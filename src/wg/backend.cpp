// Backend choice, as wg(8) makes it: a UAPI socket wins, else the kernel.
#include <net/if.h>
#include <sys/stat.h>

#include "wg/backend.hpp"
#include "wg/error.hpp"

namespace wgsd::wg {
namespace {

class AutoBackend final : public Backend {
public:
  explicit AutoBackend(BackendOptions options)
      : options_(std::move(options)), uapi_(make_uapi_backend(options_)), netlink_(make_netlink_backend()) {}

  Device get_device(const std::string& name) override { return choose(name).get_device(name); }
  void apply(const DeviceUpdate& update) override { choose(update.name).apply(update); }
  [[nodiscard]] Access access(const std::string& name) const override {
    if (uapi_socket(name)) return uapi_->access(name);
    if (::if_nametoindex(name.c_str()) != 0) return netlink_->access(name);
    return Access{Access::Kind::absent, options_.uapi_dir + "/" + name + ".sock"};
  }

private:
  Backend& choose(const std::string& name) {
    check_device_name(name);
    if (uapi_socket(name)) return *uapi_;
    return kernel_;
  }
  [[nodiscard]] bool uapi_socket(const std::string& name) const {
    struct stat st{};
    const std::string path = options_.uapi_dir + "/" + name + ".sock";
    return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
  }

  // Netlink, where a missing "wireguard" family (no kernel module) also means "no such device":
  // with no UAPI socket either, the device does not exist, and that is what the user must read.
  class Kernel final : public Backend {
  public:
    explicit Kernel(Backend& netlink) : netlink_(netlink) {}
    Device get_device(const std::string& name) override {
      try {
        return netlink_.get_device(name);
      } catch (const Error& e) {
        rethrow(e, name);
      }
    }
    void apply(const DeviceUpdate& update) override {
      try {
        netlink_.apply(update);
      } catch (const Error& e) {
        rethrow(e, update.name);
      }
    }

  private:
    [[noreturn]] static void rethrow(const Error& e, const std::string& name) {
      if (e.code() == std::make_error_code(std::errc::protocol_not_supported)) {
        throw Error(std::errc::no_such_device, "no such device '" + name + "' (no UAPI socket, no wireguard kernel module)");
      }
      throw;
    }
    Backend& netlink_;
  };

  BackendOptions options_;
  std::unique_ptr<Backend> uapi_;
  std::unique_ptr<Backend> netlink_;
  Kernel kernel_{*netlink_};
};

}  // namespace

std::optional<BackendKind> parse_backend_kind(std::string_view text) {
  if (text == "auto") return BackendKind::automatic;
  if (text == "uapi") return BackendKind::uapi;
  if (text == "netlink") return BackendKind::netlink;
  return std::nullopt;
}

void check_device_name(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw Error(std::errc::invalid_argument, "invalid device name '" + name + "' (1-15 characters, no '/')");
  }
}

std::unique_ptr<Backend> make_backend(BackendKind kind, const BackendOptions& options) {
  switch (kind) {
    case BackendKind::uapi: return make_uapi_backend(options);
    case BackendKind::netlink: return make_netlink_backend();
    case BackendKind::automatic: break;
  }
  return std::make_unique<AutoBackend>(options);
}

}  // namespace wgsd::wg
