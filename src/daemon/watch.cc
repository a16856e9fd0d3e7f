// SPDX-License-Identifier: Apache-2.0
#include "daemon/watch.h"

#include <fcntl.h>

#include "components/services/manager.h"
#include "io/durable.h"

namespace rwd::daemon {

std::vector<ServiceFailure> failed_services(
    io::Fs& fs, const std::string& system_root,
    const std::vector<std::pair<std::string, nlohmann::json>>& services_components) {
  namespace svc = components::services;
  std::vector<ServiceFailure> out;
  for (const auto& [name, settings] : services_components) {
    auto ms = svc::parse_manager_settings(settings, "component \"" + name + "\"");
    if (!ms) {
      out.push_back({name, "", ms.error().message()});
      continue;
    }
    auto manager = svc::make_manager(*ms, fs, system_root);
    if (!manager->tracks_activity()) continue;
    std::vector<std::string> units;
    if (settings.contains("units") && settings["units"].is_array())
      for (const auto& u : settings["units"])
        if (u.is_string()) units.push_back(u.get<std::string>());
    for (const auto& unit : units) {
      // A unit that is not enabled is meant to be down; only one that
      // should run and does not is a failure.
      if (manager->tracks_enablement()) {
        auto en = manager->enablement(unit);
        if (en && !en->on) continue;
      }
      auto active = manager->active(unit);
      if (!active)
        out.push_back({name, unit, "its manager cannot tell: " + active.error().message()});
      else if (!*active)
        out.push_back({name, unit, "enabled but not running"});
    }
  }
  return out;
}

Status write_login_notice(io::Fs& fs, const std::string& system_root, const std::string& motd_dir,
                          const std::string& text) {
  // Created when missing (/run/motd.d is a tmpfs directory at boot), one
  // name at a time beneath the root, following no symlink.
  REWIND_ASSIGN_OR_RETURN(io::Fd dfd,
                          components::services::open_dir(fs, system_root, motd_dir, true));
  return io::write_file_atomic(fs, dfd.get(), "rewind", io::as_bytes(text), 0644);
}

}  // namespace rwd::daemon
