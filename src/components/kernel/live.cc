// SPDX-License-Identifier: Apache-2.0
// Reading the running kernel's state beneath the system root, and writing
// tunables back.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "components/kernel/kernel.h"

namespace rwd::components::kernel {

std::string describe_errno(const Error& e) {
  int err = e.sys_errno();
  if (err == 0) return e.message();
  const char* name = ::strerrorname_np(err);
  return fmt::format("{} ({})", ::strerrordesc_np(err), name ? name : "?");
}

namespace {

// Reads an open file to its end: proc files report a size of 0.
Result<std::string> read_all(io::Fs& fs, int fd) {
  std::string out;
  std::vector<std::byte> buf(4096);
  for (;;) {
    REWIND_ASSIGN_OR_RETURN(size_t n, fs.read(fd, buf));
    if (n == 0) return out;
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
}

Result<std::string> read_beneath(Context& ctx, int root, std::string_view rel) {
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, ctx.fs.open_beneath(root, rel, O_RDONLY));
  return read_all(ctx.fs, fd.get());
}

// Recorded facts are taken where readable; a missing or unreadable file
// leaves them out.
std::optional<std::string> read_optional(Context& ctx, int root, std::string_view rel) {
  auto r = read_beneath(ctx, root, rel);
  if (!r) return std::nullopt;
  return std::move(*r);
}

Status walk(Context& ctx, const Settings& s, int dir, std::vector<std::string>& comps, Live& live) {
  REWIND_ASSIGN_OR_RETURN(auto entries, ctx.fs.list_dir(dir));
  for (const auto& e : entries) {
    comps.push_back(e.name);
    std::string key = key_of(comps);
    auto st = ctx.fs.stat_at(dir, e.name);
    if (!st) {
      // Gone between the listing and now (an interface went away).
      comps.pop_back();
      continue;
    }
    if (S_ISDIR(st->mode) && may_hold_keys(s, key)) {
      auto sub = ctx.fs.open_at(dir, e.name, O_RDONLY | O_DIRECTORY);
      if (sub) {
        REWIND_TRY(walk(ctx, s, sub->get(), comps, live));
      } else {
        live.warnings.push_back(
            fmt::format("sysctl {}: not captured: {}", key, describe_errno(sub.error())));
      }
    } else if (S_ISREG(st->mode) && (st->mode & 0222) && (st->mode & 0444) &&
               captured_key(s, key)) {
      auto fd = ctx.fs.open_at(dir, e.name, O_RDONLY);
      auto value = fd ? read_all(ctx.fs, fd->get()) : Result<std::string>(fail(fd.error()));
      if (value)
        live.sysctl.emplace(key, std::move(*value));
      else
        live.warnings.push_back(
            fmt::format("sysctl {}: not captured: {}", key, describe_errno(value.error())));
    }
    comps.pop_back();
  }
  return ok();
}

// The selected entry of a queue/scheduler file: "mq-deadline kyber [bfq] none".
std::string selected(std::string_view text) {
  size_t open = text.find('['), close = text.find(']');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return normalize(text);
  return std::string(text.substr(open + 1, close - open - 1));
}

// sys/block/<dev> is a symlink into sys/devices; it is resolved by name
// (rewind never follows a symlink it finds) and stays beneath the root.
std::optional<std::string> resolve_in_sys_block(Context& ctx, int block, const std::string& dev) {
  auto target = ctx.fs.readlink_at(block, dev);
  if (!target) return "sys/block/" + dev;
  std::vector<std::string> parts;
  std::string t = *target;
  if (!t.empty() && t.front() != '/') t = "sys/block/" + t;
  size_t b = 0;
  while (b <= t.size()) {
    size_t e = t.find('/', b);
    if (e == std::string::npos) e = t.size();
    std::string part = t.substr(b, e - b);
    b = e + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else {
      parts.push_back(part);
    }
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

void record_schedulers(Context& ctx, int root, std::map<std::string, std::string>& out) {
  auto block = ctx.fs.open_beneath(root, "sys/block", O_RDONLY | O_DIRECTORY);
  if (!block) return;
  auto devs = ctx.fs.list_dir(block->get());
  if (!devs) return;
  for (const auto& d : *devs) {
    auto dir = resolve_in_sys_block(ctx, block->get(), d.name);
    if (!dir) continue;
    if (auto text = read_optional(ctx, root, *dir + "/queue/scheduler"))
      out["scheduler." + d.name] = selected(*text);
  }
  if (auto f = read_optional(ctx, root, "sys/kernel/debug/sched/features"))
    out["scheduler.features"] = normalize(*f);
}

}  // namespace

Result<io::Fd> open_root(Context& ctx) {
  return ctx.fs.open_path(ctx.system_root, O_RDONLY | O_DIRECTORY);
}

Result<std::vector<Module>> read_modules(Context& ctx, int root) {
  auto text = read_beneath(ctx, root, "proc/modules");
  if (!text && text.error().sys_errno() == ENOENT) return std::vector<Module>{};
  if (!text) return fail(text.error().with_context("reading /proc/modules"));
  return parse_modules(*text);
}

Result<std::string> read_key(Context& ctx, int root, std::string_view key) {
  REWIND_ASSIGN_OR_RETURN(std::string path, path_of(key));
  return read_beneath(ctx, root, path);
}

Status write_key(Context& ctx, int root, std::string_view key, std::string_view value) {
  REWIND_ASSIGN_OR_RETURN(std::string path, path_of(key));
  // O_TRUNC is what a shell's `>` does on /proc/sys (the kernel ignores it
  // there) and what drops a longer old value from a plain file; no O_CREAT:
  // a key that is gone is reported, not made.
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, ctx.fs.open_beneath(root, path, O_WRONLY | O_TRUNC));
  // The kernel parses each write() on its own: the whole value in one call.
  REWIND_TRY(ctx.fs.write(fd.get(), std::as_bytes(std::span(value.data(), value.size()))));
  return fd.close();
}

Result<Live> read_live(Context& ctx, const Settings& s) {
  Live live;
  REWIND_ASSIGN_OR_RETURN(io::Fd root, open_root(ctx));
  if (s.sysctl) {
    auto sys = ctx.fs.open_beneath(root.get(), "proc/sys", O_RDONLY | O_DIRECTORY);
    if (!sys)
      return fail(Error::not_found("{}/proc/sys cannot be opened ({}): is /proc mounted?",
                                   ctx.system_root == "/" ? "" : ctx.system_root,
                                   describe_errno(sys.error())));
    std::vector<std::string> comps;
    REWIND_TRY(walk(ctx, s, sys->get(), comps, live));
    if (auto f = read_optional(ctx, root.get(), "proc/cmdline"))
      live.recorded["cmdline"] = normalize(*f);
    if (auto f = read_optional(ctx, root.get(), "proc/meminfo"))
      live.recorded.merge(meminfo_totals(*f));
    record_schedulers(ctx, root.get(), live.recorded);
  }
  if (s.modules) {
    REWIND_ASSIGN_OR_RETURN(live.modules, read_modules(ctx, root.get()));
    if (auto f = read_optional(ctx, root.get(), "proc/iomem"))
      live.recorded.merge(iomem_ranges(*f));
    if (auto f = read_optional(ctx, root.get(), "proc/interrupts"))
      live.recorded.merge(interrupt_assignments(*f));
  }
  if (auto f = read_optional(ctx, root.get(), "proc/sys/kernel/osrelease"))
    live.recorded["release"] = normalize(*f);
  return live;
}

}  // namespace rwd::components::kernel
