// SPDX-License-Identifier: Apache-2.0
// rewind key list|add|passwd|remove: the passphrases of an encrypted
// repository (doc/encryption.md).
#include "cli/command.h"

namespace rwd::cli {

namespace {

struct KeyOptions {
  std::string action;
  std::string new_password_file;
  std::string id;
};

json key_json(const RepositoryKey& k) {
  return json{{"id", k.id},
              {"created", format_time(k.created_ns)},
              {"kdf", "argon2id"},
              {"opslimit", k.kdf_opslimit},
              {"memlimit", k.kdf_memlimit},
              {"current", k.current}};
}

int run_key(const Globals& gl, const KeyOptions& o) {
  auto sys = RollbackSystem::open(system_options(gl));
  if (!sys) return report_error(gl, sys.error());
  if (o.action == "list") {
    auto keys = (*sys)->list_keys();
    if (!keys) return report_error(gl, keys.error());
    if (gl.out.json) {
      json arr = json::array();
      for (const auto& k : *keys) arr.push_back(key_json(k));
      print_json(arr);
    } else {
      for (const auto& k : *keys)
        std::printf("%s %s  created %s  argon2id %llu passes, %llu MiB\n", k.current ? "*" : " ",
                    k.id.c_str(), format_time(k.created_ns).c_str(),
                    static_cast<unsigned long long>(k.kdf_opslimit),
                    static_cast<unsigned long long>(k.kdf_memlimit >> 20));
    }
    return 0;
  }
  if (o.action == "remove") {
    if (Status st = (*sys)->remove_key(o.id); !st) return report_error(gl, st.error());
    if (gl.out.json)
      print_json(json{{"removed", o.id}});
    else if (!gl.out.quiet)
      std::printf("removed key %s\n", o.id.c_str());
    return 0;
  }
  // add, passwd: the current passphrase opens the repository (asked first),
  // then the new one.
  if (auto keys = (*sys)->list_keys(); !keys) return report_error(gl, keys.error());
  auto pass = (*sys)->new_passphrase(o.new_password_file);
  if (!pass) return report_error(gl, pass.error());
  auto id = o.action == "add" ? (*sys)->add_key(*pass) : (*sys)->change_passphrase(*pass);
  if (!id) return report_error(gl, id.error());
  if (gl.out.json)
    print_json(json{{"added", *id}});
  else if (!gl.out.quiet)
    std::printf("%s key %s\n", o.action == "add" ? "added" : "passphrase changed: new",
                id->c_str());
  return 0;
}

}  // namespace

Command key_command() {
  auto o = std::make_shared<KeyOptions>();
  return Command{
      "key", "Manage the passphrases of an encrypted repository (list, add, passwd, remove)",
      [o](CLI::App& c) {
        c.require_subcommand(1, 1);
        c.add_subcommand("list",
                         "List the repository's keys; * marks the one your passphrase opens")
            ->callback([o] { o->action = "list"; });
        for (auto [name, help] :
             {std::pair{"add", "Add a passphrase (the current one is asked or read first)"},
              std::pair{"passwd", "Change the passphrase you opened the repository with"}}) {
          CLI::App* s = c.add_subcommand(name, help);
          s->add_option("--new-password-file", o->new_password_file,
                        "Read the new passphrase from this file (else it is asked twice on the "
                        "terminal)");
          s->callback([o, n = std::string(name)] { o->action = n; });
        }
        CLI::App* rm = c.add_subcommand(
            "remove", "Remove a key by its id (`rewind key list`); the last key cannot be removed");
        rm->add_option("ID", o->id, "The key's id")->required();
        rm->callback([o] { o->action = "remove"; });
      },
      [o](const Globals& gl) { return run_key(gl, *o); }, [o] { return o->action != "list"; }};
}

}  // namespace rwd::cli
