// SPDX-License-Identifier: Apache-2.0
// rewind hook apt-pre | apt-pkgs | apt-post: called by apt through
// /etc/apt/apt.conf.d/99rewind (system/apt_hook.h says what each does).
#include <cstdlib>

#include "cli/command.h"
#include "io/fs.h"
#include "system/apt_hook.h"

namespace rwd::cli {

namespace {

struct HookArgs {
  std::string stage;
  int info_fd = -1;
};

json change_json(const system::AptPackageChange& c) {
  auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return json{{"name", c.name},
              {"arch", or_null(c.arch)},
              {"old_version", or_null(c.old_version)},
              {"new_version", or_null(c.new_version)},
              {"action", c.action}};
}

}  // namespace

Command hook_command() {
  auto a = std::make_shared<HookArgs>();
  return Command{
      "hook",
      "Package-manager hook: recovery points around each dpkg run (called by apt through "
      "/etc/apt/apt.conf.d/99rewind; never blocks apt)",
      [a](CLI::App& c) {
        c.add_option("stage", a->stage,
                     "apt-pre (DPkg::Pre-Invoke: take the pre point), apt-pkgs "
                     "(DPkg::Pre-Install-Pkgs, protocol version 3 on the input: record apt's "
                     "command line and the package changes in the pre point), apt-post "
                     "(DPkg::Post-Invoke: take the linked post point)")
            ->required()
            ->check(CLI::IsMember({"apt-pre", "apt-pkgs", "apt-post"}));
        c.add_option("--info-fd", a->info_fd,
                     "apt-pkgs: the descriptor apt writes to (default: $APT_HOOK_INFO_FD, else 0)")
            ->check(CLI::NonNegativeNumber);
        c.footer(
            "Runs of one apt, and all dpkg runs of one unattended-upgrades run ([hooks] "
            "apt_coalesce), make one pre/post pair. A busy repository skips the point; a failure "
            "is logged (ROOT/var/log/rewind/apt-hook.log, standard error, syslog) and the hook "
            "exits 0 unless [hooks] apt_refuse_on_error = true.\n\n" +
            std::string(kExitCodeHelp));
      },
      [a](const Globals& gl) {
        system::AptHookOptions o;
        o.system = system_options(gl);
        o.stage = a->stage == "apt-pre"    ? system::AptHookStage::kPre
                  : a->stage == "apt-pkgs" ? system::AptHookStage::kPackages
                                           : system::AptHookStage::kPost;
        o.info_fd = a->info_fd;
        if (o.info_fd < 0) {
          const char* env = std::getenv("APT_HOOK_INFO_FD");
          o.info_fd = env && *env ? std::atoi(env) : 0;
        }
        system::AptHookOutcome r = system::run_apt_hook(io::default_fs(), o);
        if (gl.out.json) {
          json changes = json::array();
          for (const auto& c : r.changes) changes.push_back(change_json(c));
          auto id = [](int64_t v) { return v == 0 ? json(nullptr) : json(v); };
          print_json(json{{"stage", a->stage},
                          {"action", r.action},
                          {"session", r.session},
                          {"pre_id", id(r.pre)},
                          {"post_id", id(r.post)},
                          {"forgotten", id(r.forgotten)},
                          {"changes", changes},
                          {"message", r.message},
                          {"refuse", r.refuse}});
        }
        return r.refuse ? kExitError : kExitOk;
      }};
}

}  // namespace rwd::cli
