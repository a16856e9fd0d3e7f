// SPDX-License-Identifier: Apache-2.0
// rewind init
#include "cli/command.h"

namespace rwd::cli {

Command init_command() {
  auto o = std::make_shared<CommandOptions>();
  // Audited only when it made the repository: a refused init (the
  // directory already holds one) leaves that repository untouched.
  auto created = std::make_shared<bool>(false);
  return Command{
      "init", "Create a new, empty repository",
      [o](CLI::App& c) {
        c.add_option("--compression", o->compression,
                     "zstd level, 0 for none (default: the configuration's, else 3)")
            ->check(CLI::Range(0, 19));
        o->compression = -1;
        c.add_flag("--encrypt", o->encrypt,
                   "Encrypt the repository under a passphrase (--password-file, "
                   "$REWIND_PASSWORD_FILE, or asked twice); see doc/encryption.md");
      },
      [o, created](const Globals& gl) {
        SystemOptions so = system_options(gl);
        auto st = RollbackSystem::init_repository(
            so, o->compression < 0 ? std::nullopt : std::optional<int>(o->compression), o->encrypt);
        if (!st) return report_error(gl, st.error());
        *created = true;
        if (gl.out.json)
          print_json(json{{"repository", *st}, {"encrypted", o->encrypt}});
        else if (!gl.out.quiet)
          std::printf("created %srepository %s\n", o->encrypt ? "encrypted " : "", st->c_str());
        return 0;
      },
      [created] { return *created; }};
}

}  // namespace rwd::cli
