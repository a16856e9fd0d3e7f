// SPDX-License-Identifier: Apache-2.0
#include "store/permissions.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string_view>
#include <vector>

namespace rwd::store {

namespace {

// The directory's path with symlinks resolved, from the kernel's name of an
// open descriptor; the path as given when /proc is not mounted.
std::string real_path(io::Fs& fs, const io::Fd& dir, const std::string& given) {
  auto link = fs.readlink_at(AT_FDCWD, "/proc/self/fd/" + std::to_string(dir.get()));
  if (link && !link->empty() && link->front() == '/') return *link;
  return given;
}

// "/", "/a", "/a/b", ... "/a/b/c" for "/a/b/c".
std::vector<std::string> prefixes(const std::string& path) {
  std::vector<std::string> out{"/"};
  size_t pos = 1;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) out.push_back(path.substr(0, next));
    pos = next + 1;
  }
  return out;
}

Status check_dir(const std::string& path, const io::Stat& st, uid_t euid, bool is_repository) {
  const unsigned mode = st.mode & 07777;
  const bool root_sticky = st.uid == 0 && (mode & S_ISVTX) != 0;
  const bool others_write = (mode & S_IWOTH) != 0 || ((mode & S_IWGRP) != 0 && st.gid != 0);
  if (others_write && (is_repository || !root_sticky))
    return fail(Error::permission_denied(
        "{} is writable by {} (mode {:04o}): they could replace the repository's data; run `chmod "
        "go-w {}` or move the repository",
        path, (mode & S_IWOTH) != 0 ? "every user" : "group " + std::to_string(st.gid), mode,
        path));
  if (st.uid != 0 && st.uid != euid)
    return fail(Error::permission_denied(
        "{} belongs to uid {}, not to root{}: its owner could replace the repository; run `chown "
        "root {}` or move the repository",
        path, st.uid, euid == 0 ? "" : " or to you", path));
  return ok();
}

}  // namespace

Status check_repository_permissions(io::Fs& fs, const std::string& path) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, fs.open_path(path, O_PATH | O_DIRECTORY));
  const std::string real = real_path(fs, dir, path);
  const uid_t euid = ::geteuid();
  for (const std::string& p : prefixes(real)) {
    REWIND_ASSIGN_OR_RETURN(io::Stat st, fs.stat_at(AT_FDCWD, p));
    REWIND_TRY(check_dir(p, st, euid, p == real));
  }
  // Inside a 0700 directory nobody else reaches these, but a repository
  // copied with its modes from elsewhere may have them open to others.
  for (const char* sub : {"packs", "roots"}) {
    auto st = fs.stat_at(dir.get(), sub);
    if (!st) continue;  // missing: the open that needs it says so
    REWIND_TRY(check_dir(real + "/" + sub, *st, euid, true));
  }
  return ok();
}

Error explain_access_error(Error e, const std::string& path) {
  if (e.code() != ErrorCode::kPermissionDenied || ::geteuid() == 0) return e;
  return Error(ErrorCode::kPermissionDenied,
               fmt::format("{}: {}; the repository belongs to root: non-root users reach it "
                           "through rewindd's socket (run rewindd, and ask an administrator to "
                           "allow your user or group in its [daemon] rules)",
                           path, e.message()),
               e.sys_errno());
}

}  // namespace rwd::store
