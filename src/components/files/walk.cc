// SPDX-License-Identifier: Apache-2.0
#include "components/files/walk.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "io/durable.h"

namespace rwd::components::files {

using store::Entry;
using store::EntryType;

const std::vector<std::string>& default_excludes() {
  // ".rw-tmp-*" are rewind's own temporary files, which a crashed restore
  // can leave behind (`recover` removes them): never part of a point.
  // dpkg's and apt's lock files belong to whoever runs them: a rollback
  // holds them (engine), never captures or restores them.
  // The audit log's key and heads (src/audit/audit.h) must stay outside the
  // repository (a copy in a point would hand the key to whoever reads it),
  // and a rollback must not turn a head back.
  static const std::vector<std::string> k = {"/proc",
                                             "/sys",
                                             "/dev",
                                             "/run",
                                             "/tmp",
                                             "/swapfile",
                                             "/swap.img",
                                             "/lost+found",
                                             ".rw-tmp-*",
                                             "/var/lib/dpkg/lock",
                                             "/var/lib/dpkg/lock-frontend",
                                             "/var/lib/dpkg/triggers/Lock",
                                             "/var/lib/apt/lists/lock",
                                             "/var/cache/apt/archives/lock",
                                             "/etc/rewind/audit"};
  return k;
}

Result<std::string> normalize_abs(std::string_view path) {
  if (path.empty() || path.front() != '/')
    return fail(Error::usage("'{}' is not an absolute path", path));
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view comp = path.substr(i, j - i);
    i = j + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") return fail(Error::usage("'{}' contains '..'", path));
    out += '/';
    out += comp;
  }
  return out.empty() ? std::string("/") : out;
}

Walker::Walker(io::Fs& fs, const CaptureOptions& opts, ContentFn content,
               const std::vector<Entry>* previous, ProgressObserver& obs, std::string operation)
    : fs_(fs),
      opts_(opts),
      content_(std::move(content)),
      obs_(obs),
      operation_(std::move(operation)) {
  if (opts.default_excludes)
    for (const auto& p : default_excludes()) patterns_.push_back(p);
  for (const auto& p : opts.exclude) patterns_.push_back(p);
  if (previous)
    for (const Entry& e : *previous) prev_.emplace(e.path, &e);
  progress_.operation = operation_;
  progress_.phase = "scan";
}

void Walker::warn(std::string msg) {
  obs_.on_warning(msg);
  warnings_.push_back(std::move(msg));
}

bool Walker::excluded(const std::string& abs, bool is_dir) const {
  std::string_view base = std::string_view(abs).substr(abs.rfind('/') + 1);
  for (std::string p : patterns_) {
    if (p.empty()) continue;
    bool dir_only = p.size() > 1 && p.back() == '/';
    if (dir_only) {
      if (!is_dir) continue;
      p.pop_back();
    }
    int flags = p.find("**") == std::string::npos ? FNM_PATHNAME : 0;
    bool m;
    if (p.front() == '/') {
      m = ::fnmatch(p.c_str(), abs.c_str(), flags) == 0;
    } else if (p.find('/') == std::string::npos) {
      m = ::fnmatch(p.c_str(), std::string(base).c_str(), 0) == 0;
    } else {
      m = ::fnmatch(("*/" + p).c_str(), abs.c_str(), 0) == 0;
    }
    if (m) return true;
  }
  return false;
}

namespace {
EntryType type_of(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return EntryType::kFile;
    case S_IFDIR:
      return EntryType::kDir;
    case S_IFLNK:
      return EntryType::kSymlink;
    case S_IFIFO:
      return EntryType::kFifo;
    case S_IFCHR:
      return EntryType::kCharDev;
    case S_IFBLK:
      return EntryType::kBlockDev;
    default:
      return EntryType::kFifo;
  }
}

std::string join(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

std::string join_abs(const std::string& abs, const std::string& name) {
  return abs == "/" ? "/" + name : abs + "/" + name;
}

Status read_xattrs(io::Fs& fs, int fd, Entry& e) {
  auto names = fs.list_xattrs(fd);
  if (!names) return fail(names.error());
  std::sort(names->begin(), names->end());
  for (const std::string& n : *names) {
    auto v = fs.get_xattr(fd, n);
    if (!v) {
      if (v.error().sys_errno() == ENODATA) continue;
      return fail(v.error());
    }
    e.xattrs.push_back(store::Xattr{n, std::move(*v)});
  }
  return ok();
}

bool is_cachedir_tag(io::Fs& fs, int dirfd) {
  auto fd = fs.open_at(dirfd, "CACHEDIR.TAG", O_RDONLY);
  if (!fd) return false;
  auto st = fs.fstat(fd->get());
  if (!st || (st->mode & S_IFMT) != S_IFREG) return false;
  static constexpr std::string_view kSig = "Signature: 8a477f597d28d172789f06886806bc55";
  std::byte buf[43];
  auto n = fs.pread(fd->get(), buf, 0);
  return n && *n == kSig.size() && std::memcmp(buf, kSig.data(), kSig.size()) == 0;
}
}  // namespace

Status Walker::read_file(int fd, const io::Stat& st, Entry& e, const std::string& abs) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    REWIND_ASSIGN_OR_RETURN(io::Stat before, attempt == 0 ? Result<io::Stat>(st) : fs_.fstat(fd));
    e.size = before.size;
    e.mtime_ns = before.mtime_ns;
    e.ctime_ns = before.ctime_ns;
    e.sparse = false;
    e.extents.clear();
    if (before.blocks * 512 < before.size) {
      // Holes: record the data extents.
      int64_t off = 0;
      const auto size = static_cast<int64_t>(before.size);
      while (off < size) {
        REWIND_ASSIGN_OR_RETURN(int64_t d, fs_.seek_data(fd, off));
        if (d < 0 || d >= size) break;
        REWIND_ASSIGN_OR_RETURN(int64_t h, fs_.seek_hole(fd, d));
        if (h < 0 || h > size) h = size;
        e.extents.push_back(store::Extent{static_cast<uint64_t>(d), static_cast<uint64_t>(h - d)});
        off = h;
      }
      e.sparse = !(e.extents.size() == 1 && e.extents[0].offset == 0 &&
                   e.extents[0].length == before.size);
      if (!e.sparse) e.extents.clear();
    }
    REWIND_ASSIGN_OR_RETURN(e.chunks, content_(fd, e.extents, e.sparse, e.size));
    ++stats_.files_read;
    stats_.bytes_read += e.data_length();
    REWIND_ASSIGN_OR_RETURN(io::Stat after, fs_.fstat(fd));
    uint64_t got = 0;
    for (const auto& c : e.chunks) got += c.length;
    if (after.size == before.size && after.mtime_ns == before.mtime_ns &&
        after.ctime_ns == before.ctime_ns && got == e.data_length())
      return ok();
  }
  e.torn = true;
  // Keep the entry consistent with the data read.
  uint64_t got = 0;
  for (const auto& c : e.chunks) got += c.length;
  if (!e.sparse)
    e.size = got;
  else {
    e.sparse = false;
    e.extents.clear();
    e.size = got;
  }
  warn(fmt::format("{}: changed while it was being captured; stored as read (marked torn)", abs));
  return ok();
}

Status Walker::make_entry(int parentfd, const std::string& name, const std::string& rel,
                          const io::Stat& st, Entry& e, io::Fd* keep_dir) {
  e.path = rel;
  e.type = type_of(st.mode);
  e.mode = st.mode & 07777;
  e.uid = st.uid;
  e.gid = st.gid;
  e.mtime_ns = st.mtime_ns;
  e.dev = st.dev;
  e.ino = st.ino;
  e.ctime_ns = st.ctime_ns;
  std::string abs = rel.empty() ? opts_.path : join_abs(opts_.path, rel);
  switch (e.type) {
    case EntryType::kSymlink: {
      REWIND_ASSIGN_OR_RETURN(e.target, fs_.readlink_at(parentfd, name));
      if (e.target.empty()) e.target = ".";
      break;
    }
    case EntryType::kCharDev:
    case EntryType::kBlockDev:
      e.rdev = st.rdev;
      break;
    case EntryType::kFifo:
      break;
    case EntryType::kDir: {
      REWIND_ASSIGN_OR_RETURN(io::Fd fd, fs_.open_at(parentfd, name, O_RDONLY | O_DIRECTORY));
      REWIND_ASSIGN_OR_RETURN(io::Stat again, fs_.fstat(fd.get()));
      if (again.ino != st.ino)
        return fail(Error::invalid_state("{} was replaced during the walk", abs));
      REWIND_TRY(read_xattrs(fs_, fd.get(), e));
      REWIND_ASSIGN_OR_RETURN(e.flags, fs_.get_flags(fd.get()));
      *keep_dir = std::move(fd);
      break;
    }
    case EntryType::kFile: {
      if (st.nlink > 1) {
        auto& m = links_[st.dev];
        auto it = m.find(st.ino);
        if (it != m.end()) {
          e.type = EntryType::kHardlink;
          e.link_index = it->second;
          e.size = 0;
          return ok();
        }
        m.emplace(st.ino, index_);
      }
      // Unchanged inode, size, mtime and ctime: content, xattrs and flags are
      // the previous point's (writing any of them changes the ctime), and
      // the file is not even opened.
      auto pit = prev_.find(rel);
      if (pit != prev_.end() && pit->second->type == EntryType::kFile && !pit->second->torn &&
          pit->second->ino == st.ino && pit->second->size == st.size &&
          pit->second->mtime_ns == st.mtime_ns && pit->second->ctime_ns == st.ctime_ns) {
        e.size = st.size;
        e.chunks = pit->second->chunks;
        e.sparse = pit->second->sparse;
        e.extents = pit->second->extents;
        e.xattrs = pit->second->xattrs;
        e.flags = pit->second->flags;
        return ok();
      }
      auto fdr = fs_.open_at(parentfd, name, O_RDONLY | O_NOATIME);
      if (!fdr && fdr.error().sys_errno() == EPERM) fdr = fs_.open_at(parentfd, name, O_RDONLY);
      if (!fdr) return fail(fdr.error());
      io::Fd fd = std::move(*fdr);
      REWIND_ASSIGN_OR_RETURN(io::Stat cur, fs_.fstat(fd.get()));
      if (cur.ino != st.ino)
        return fail(Error::invalid_state("{} was replaced during the walk", abs));
      REWIND_TRY(read_xattrs(fs_, fd.get(), e));
      REWIND_ASSIGN_OR_RETURN(e.flags, fs_.get_flags(fd.get()));
      e.size = cur.size;
      REWIND_TRY(read_file(fd.get(), cur, e, abs));
      break;
    }
    case EntryType::kHardlink:
      break;
  }
  return ok();
}

Status Walker::run(const std::function<Status(Entry&&)>& emit) {
  REWIND_ASSIGN_OR_RETURN(io::Fd root, fs_.open_path(opts_.system_root, O_PATH | O_DIRECTORY));
  std::string rel_comp = opts_.path == "/" ? "" : opts_.path.substr(1);
  io::Fd parent;
  std::string name;
  if (rel_comp.empty()) {
    REWIND_ASSIGN_OR_RETURN(parent, fs_.open_path(opts_.system_root, O_PATH | O_DIRECTORY));
    name = ".";
  } else {
    size_t slash = rel_comp.rfind('/');
    std::string dir = slash == std::string::npos ? "" : rel_comp.substr(0, slash);
    name = slash == std::string::npos ? rel_comp : rel_comp.substr(slash + 1);
    auto p = fs_.open_beneath(root.get(), dir.empty() ? "." : dir, O_PATH | O_DIRECTORY);
    if (!p) return fail(p.error().with_context(fmt::format("capturing {}", opts_.path)));
    parent = std::move(*p);
  }
  auto st = name == "." ? fs_.stat_at(parent.get(), "") : fs_.stat_at(parent.get(), name);
  if (!st) return fail(st.error().with_context(fmt::format("capturing {}", opts_.path)));
  if ((st->mode & S_IFMT) == S_IFSOCK)
    return fail(Error::invalid_state("{} is a socket; sockets are not captured", opts_.path));
  Entry e;
  io::Fd dirfd;
  REWIND_TRY(make_entry(parent.get(), name, "", *st, e, &dirfd));
  bool is_dir = e.type == EntryType::kDir;
  ++stats_.entries;
  ++index_;
  REWIND_TRY(emit(std::move(e)));
  if (is_dir) REWIND_TRY(walk_dir(dirfd.get(), "", opts_.path, st->dev, emit));
  progress_.files_done = stats_.entries;
  progress_.bytes_done = stats_.size;
  obs_.on_progress(progress_);
  return ok();
}

Status Walker::walk_dir(int dirfd, const std::string& rel, const std::string& abs, uint64_t dev,
                        const std::function<Status(Entry&&)>& emit) {
  REWIND_ASSIGN_OR_RETURN(auto list, fs_.list_dir(dirfd));
  std::sort(list.begin(), list.end(),
            [](const io::DirEntry& a, const io::DirEntry& b) { return a.name < b.name; });
  for (const io::DirEntry& de : list) {
    std::string crel = join(rel, de.name);
    std::string cabs = join_abs(abs, de.name);
    auto st = fs_.stat_at(dirfd, de.name);
    if (!st) {
      if (st.error().code() == ErrorCode::kNotFound) continue;  // vanished since the listing
      return fail(st.error().with_context(cabs));
    }
    uint32_t fmt_bits = st->mode & S_IFMT;
    if (fmt_bits == S_IFSOCK) {
      warn(fmt::format("{}: socket skipped", cabs));
      continue;
    }
    bool dir = fmt_bits == S_IFDIR;
    bool leftover =
        opts_.temp_leftovers && !dir && std::string_view(de.name).starts_with(io::kTempPrefix);
    if (!leftover && excluded(cabs, dir)) continue;
    if (!opts_.include.empty()) {
      // Only the component's paths and the directories on the way to them.
      bool keep = false;
      for (const std::string& inc : opts_.include)
        if (store::path_within(cabs, inc) || (dir && store::path_within(inc, cabs))) keep = true;
      if (!keep) continue;
    }
    if (dir && opts_.repo_ino != 0 && st->dev == opts_.repo_dev && st->ino == opts_.repo_ino)
      continue;
    Entry e;
    io::Fd childfd;
    Status mst = make_entry(dirfd, de.name, crel, *st, e, &childfd);
    if (!mst) {
      if (mst.error().code() == ErrorCode::kNotFound) continue;
      return fail(mst.error().with_context(cabs));
    }
    bool descend = dir;
    if (dir && is_cachedir_tag(fs_, childfd.get())) {
      warn(fmt::format("{}: holds CACHEDIR.TAG, skipped", cabs));
      continue;
    }
    if (dir && st->dev != dev && opts_.one_file_system) {
      warn(fmt::format("{}: another file system is mounted here; its contents are not captured",
                       cabs));
      descend = false;
    }
    if (e.type == EntryType::kFile) stats_.size += e.size;
    ++stats_.entries;
    ++index_;
    REWIND_TRY(emit(std::move(e)));
    if ((stats_.entries & 255) == 0) {
      progress_.files_done = stats_.entries;
      progress_.bytes_done = stats_.bytes_read;
      obs_.on_progress(progress_);
    }
    if (descend) REWIND_TRY(walk_dir(childfd.get(), crel, cabs, dev, emit));
  }
  return ok();
}

}  // namespace rwd::components::files
