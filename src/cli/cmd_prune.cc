// SPDX-License-Identifier: Apache-2.0
// rewind prune
#include "cli/command.h"

namespace rwd::cli {

Command prune_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "prune", "Remove the data that no kept recovery point references",
      [o](CLI::App& c) {
        c.add_flag("--dry-run", o->dry_run, "Show what would be removed; change nothing");
        auto* shred = c.add_flag("--shred", o->shred,
                                 "Overwrite deleted data with zeros before unlinking it "
                                 "(default: the configuration's [repository] shred)");
        c.add_flag("--no-shred", o->no_shred, "Do not overwrite, whatever the configuration says")
            ->excludes(shred);
        c.footer(
            "Forget points first (`rewind forget`); prune then deletes the packs only forgotten\n"
            "points used and repacks packs that are partly used (live chunks are copied to new\n"
            "packs before the old ones go), removes superseded root records and leftover\n"
            "temporary files. Safe to interrupt at any moment. Readers (list, show, diff,\n"
            "restore) keep working meanwhile; other writers wait (--wait) or are refused.\n"
            "If a kept point's data cannot be read, prune deletes nothing (exit code 13).\n"
            "Overwriting cannot reach copies that copy-on-write file systems (btrfs, zfs) or\n"
            "SSD wear levelling keep: there, repository encryption is the protection.\n"
            "In an encrypted repository, a shredding prune that leaves no recovery point also\n"
            "forgets key material: the data key that sealed every chunk is replaced by a new\n"
            "one and the old key file overwritten, so copies of old chunks that overwriting\n"
            "could not reach can no longer be opened, even with the passphrase.");
      },
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        PruneRequest req;
        req.dry_run = o->dry_run;
        if (o->shred) req.shred = true;
        if (o->no_shred) req.shred = false;
        CliObserver obs(gl.out);
        auto r = (*sys)->prune(req, obs);
        obs.finish();
        if (!r) return report_error(gl, r.error());
        if (gl.out.json) {
          print_json(json{{"dry_run", r->dry_run},
                          {"shredded", r->shredded},
                          {"points", r->points},
                          {"live_chunks", r->live_chunks},
                          {"dead_chunks", r->dead_chunks},
                          {"packs_before", r->packs_before},
                          {"packs_removed", r->packs_removed},
                          {"packs_repacked", r->packs_repacked},
                          {"packs_written", r->packs_written},
                          {"bytes_before", r->bytes_before},
                          {"bytes_after", r->bytes_after},
                          {"bytes_repacked", r->bytes_repacked},
                          {"reclaimed", r->reclaimed},
                          {"roots_removed", r->roots_removed},
                          {"temp_removed", r->temp_removed},
                          {"key_forgotten", r->key_forgotten},
                          {"data_key_generation", r->data_key_generation}});
        } else if (!gl.out.quiet) {
          auto n = [](uint64_t v) { return static_cast<unsigned long long>(v); };
          std::printf(
              "%s %llu packs, repack %llu (into %llu new, %s copied); %llu unused chunks of "
              "%llu recovery points' data\n",
              r->dry_run ? "would remove" : "removed", n(r->packs_removed), n(r->packs_repacked),
              n(r->packs_written), human_bytes(r->bytes_repacked).c_str(), n(r->dead_chunks),
              n(r->points));
          if (r->roots_removed || r->temp_removed)
            std::printf("%s %llu superseded root records, %llu leftover temporary files\n",
                        r->dry_run ? "would remove" : "removed", n(r->roots_removed),
                        n(r->temp_removed));
          std::printf("%s %s (packs: %s -> %s)%s\n", r->dry_run ? "would reclaim" : "reclaimed",
                      human_bytes(r->reclaimed).c_str(), human_bytes(r->bytes_before).c_str(),
                      human_bytes(r->bytes_after).c_str(),
                      r->shredded ? "; deleted data overwritten" : "");
          if (r->key_forgotten && r->dry_run)
            std::printf(
                "would forget key material: no recovery point is left, so the data key "
                "(generation %llu) would be replaced and the old one overwritten\n",
                n(r->data_key_generation));
          else if (r->key_forgotten)
            std::printf(
                "key material forgotten: no recovery point was left, so the data key was replaced "
                "(generation %llu) and the old one overwritten\n",
                n(r->data_key_generation));
        }
        return 0;
      },
      [o] { return !o->dry_run; }};
}

}  // namespace rwd::cli
