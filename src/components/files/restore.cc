// SPDX-License-Identifier: Apache-2.0
// Restore of file trees. Order of work (durability rule 1, batched):
//   1. every chunk needed exists in the index (before the target changes);
//   2. directories are made (0700 while being filled), symlinks, FIFOs and
//      devices created under temporary names;
//   3. files are written under temporary names (0600) by worker threads,
//      with owner, mode, xattrs and times set through their descriptors;
//   4. one syncfs, then the renames over the targets, then one more syncfs;
//   5. hard links, then directory metadata (deepest first), then syncfs.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "components/files/files.h"
#include "io/durable.h"

namespace rwd::components::files {

using store::ChunkId;
using store::Entry;
using store::EntryType;

namespace {

constexpr size_t kBatchFiles = 4096;
constexpr uint64_t kBatchBytes = 512ull << 20;
constexpr uint32_t kSpecialFlags = FS_IMMUTABLE_FL | FS_APPEND_FL;

using DirRef = std::shared_ptr<io::Fd>;

// chattr +i / +a refuse renames and unlinks: cleared before either.
Status clear_special_flags(io::Fs& fs, int dirfd, const std::string& name, const io::Stat& st) {
  uint32_t type = st.mode & S_IFMT;
  if (type != S_IFREG && type != S_IFDIR) return ok();
  auto fd = fs.open_at(dirfd, name, O_RDONLY | O_NONBLOCK | (type == S_IFDIR ? O_DIRECTORY : 0));
  if (!fd) return ok();
  auto fl = fs.get_flags(fd->get());
  if (fl && (*fl & kSpecialFlags) != 0) REWIND_TRY(fs.set_flags(fd->get(), *fl & ~kSpecialFlags));
  return ok();
}

// Removes an entry and, for a directory, everything beneath it; relative to
// dirfd, never following a symlink.
Status remove_tree(io::Fs& fs, int dirfd, const std::string& name) {
  REWIND_ASSIGN_OR_RETURN(io::Stat st, fs.stat_at(dirfd, name));
  REWIND_TRY(clear_special_flags(fs, dirfd, name, st));
  if ((st.mode & S_IFMT) == S_IFDIR) {
    REWIND_ASSIGN_OR_RETURN(io::Fd d, fs.open_at(dirfd, name, O_RDONLY | O_DIRECTORY));
    REWIND_ASSIGN_OR_RETURN(auto list, fs.list_dir(d.get()));
    for (const auto& de : list) REWIND_TRY(remove_tree(fs, d.get(), de.name));
    return fs.unlink_at(dirfd, name, AT_REMOVEDIR);
  }
  return fs.unlink_at(dirfd, name, 0);
}

struct FileJob {
  DirRef dir;
  std::string name;
  const Entry* entry;  // metadata
  const Entry* data;   // content (the hard-link target for a detached hard link)
  std::string temp;
};

struct Pending {
  DirRef dir;
  std::string temp;
  std::string name;
  const Entry* entry;
};

class Restorer {
 public:
  Restorer(io::Fs& fs, store::Repository& repo, const std::vector<Entry>& entries,
           const RestoreOptions& opts, ProgressObserver& obs)
      : fs_(fs), repo_(repo), entries_(entries), opts_(opts), obs_(obs) {
    progress_.operation = "restore";
    progress_.phase = "write";
  }

  Result<RestoreResult> run();

 private:
  Status plan();
  Status open_base();
  Result<DirRef> ensure_dir(int parentfd, const std::string& name, bool* created,
                            uint32_t* cleared_flags);
  Status clear_special_flags(int dirfd, const std::string& name, const io::Stat& st);
  Status remove_tree(int dirfd, const std::string& name);
  Status place(int dirfd, const std::string& temp, const std::string& name, const Entry& e);
  Status write_file(FileJob& job);
  Status run_jobs();
  Status flush_batch();
  Status sync_all();
  Status apply_dir_metadata(int fd, const Entry& e);
  Status set_xattrs(int fd, const Entry& e);
  Status make_special(int dirfd, const Entry& e, std::string* temp);
  std::string target_rel(const std::string& path) const;

  io::Fs& fs_;
  store::Repository& repo_;
  const std::vector<Entry>& entries_;
  const RestoreOptions& opts_;
  ProgressObserver& obs_;
  Progress progress_;
  RestoreResult result_;

  std::vector<char> selected_;  // per entry: 1 restore, 2 ancestor only
  std::vector<char> created_;   // per entry: directory created by us
  std::unordered_set<uint64_t> link_targets_;
  std::unordered_map<uint64_t, std::pair<DirRef, std::string>> placed_;  // link targets
  io::Fd root_;
  DirRef base_parent_;     // parent of the component root in the target
  std::string base_name_;  // "" when the component root is the target root itself
  std::string comp_rel_;   // component path relative to the system root ("" for "/")
  std::vector<FileJob> jobs_;
  uint64_t batch_bytes_ = 0;
  std::vector<Pending> pending_;
  std::map<uint64_t, DirRef> devs_;  // one directory per file system, for syncfs
  std::vector<std::pair<size_t, uint32_t>> restore_flags_;  // ancestor dirs whose flags we cleared
};

std::string Restorer::target_rel(const std::string& path) const {
  if (comp_rel_.empty()) return path.empty() ? "." : path;
  return path.empty() ? comp_rel_ : comp_rel_ + "/" + path;
}

Status Restorer::plan() {
  const size_t n = entries_.size();
  selected_.assign(n, 0);
  created_.assign(n, 0);
  if (opts_.exact) {
    std::unordered_map<std::string_view, size_t> index;
    for (size_t i = 0; i < n; ++i) index.emplace(entries_[i].path, i);
    std::vector<size_t> picked;
    for (const std::string& p : *opts_.exact)
      if (auto it = index.find(p); it != index.end()) picked.push_back(it->second);
    // A hard link is only equal to the point with its whole group.
    std::unordered_map<uint64_t, std::vector<size_t>> groups;
    for (size_t i = 0; i < n; ++i)
      if (entries_[i].type == EntryType::kHardlink) groups[entries_[i].link_index].push_back(i);
    for (size_t k = 0; k < picked.size(); ++k) {
      size_t i = picked[k];
      size_t head = entries_[i].type == EntryType::kHardlink ? entries_[i].link_index : i;
      if (head >= n) continue;
      auto mark = [&](size_t j) {
        if (selected_[j] != 1) {
          selected_[j] = 1;
          if (j != i) picked.push_back(j);
        }
      };
      selected_[i] = 1;
      mark(head);
      if (auto g = groups.find(head); g != groups.end())
        for (size_t j : g->second) mark(j);
    }
    // Their directories, to be made only when missing.
    for (size_t i = 0; i < n; ++i) {
      if (selected_[i] != 1) continue;
      std::string_view p = entries_[i].path;
      while (!p.empty()) {
        size_t slash = p.rfind('/');
        p = slash == std::string_view::npos ? std::string_view() : p.substr(0, slash);
        auto it = index.find(p);
        if (it == index.end() || selected_[it->second] != 0) break;
        selected_[it->second] = 2;
      }
      if (i != 0 && selected_[0] == 0) selected_[0] = 2;
    }
  } else if (opts_.select.empty()) {
    std::fill(selected_.begin(), selected_.end(), 1);
  } else {
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      for (const std::string& s : opts_.select) {
        if (store::path_within(entries_[i].path, s)) {
          selected_[i] = 1;
          any = true;
        } else if (store::path_within(s, entries_[i].path) && entries_[i].type == EntryType::kDir &&
                   selected_[i] == 0) {
          selected_[i] = 2;
        }
      }
    }
    if (!any) return fail(Error::not_found("none of the requested paths is in the snapshot"));
  }
  // Every chunk needed must be in the index before anything is written.
  REWIND_TRY(repo_.load_index());
  uint64_t total_bytes = 0, total_files = 0;
  for (size_t i = 0; i < n; ++i) {
    if (selected_[i] != 1) continue;
    const Entry* d = &entries_[i];
    if (d->type == EntryType::kHardlink) {
      if (selected_[d->link_index] == 1) {
        link_targets_.insert(d->link_index);
        continue;
      }
      d = &entries_[d->link_index];
    }
    if (d->type != EntryType::kFile) continue;
    ++total_files;
    total_bytes += d->size;
    for (const auto& c : d->chunks) {
      auto loc = repo_.locate(c.id);
      if (!loc || loc->type != store::ChunkType::kData)
        return fail(Error::corrupted_data("chunk {} needed by '{}' is missing from the repository",
                                          c.id.to_hex(), entries_[i].path));
    }
  }
  progress_.files_total = total_files;
  progress_.bytes_total = total_bytes;
  return ok();
}

Status Restorer::open_base() {
  REWIND_ASSIGN_OR_RETURN(root_, fs_.open_path(opts_.target_root, O_RDONLY | O_DIRECTORY));
  comp_rel_ = opts_.component_path == "/" ? "" : opts_.component_path.substr(1);
  if (comp_rel_.empty()) {
    base_name_.clear();
    return ok();
  }
  // Make the component's parent directories (they are outside the snapshot).
  size_t slash = comp_rel_.rfind('/');
  std::string parent = slash == std::string::npos ? "" : comp_rel_.substr(0, slash);
  base_name_ = slash == std::string::npos ? comp_rel_ : comp_rel_.substr(slash + 1);
  REWIND_ASSIGN_OR_RETURN(io::Fd cur, fs_.open_at(root_.get(), ".", O_RDONLY | O_DIRECTORY));
  size_t pos = 0;
  while (!parent.empty() && pos <= parent.size()) {
    size_t next = parent.find('/', pos);
    if (next == std::string::npos) next = parent.size();
    std::string comp = parent.substr(pos, next - pos);
    pos = next + 1;
    auto st = fs_.stat_at(cur.get(), comp);
    if (!st) {
      if (st.error().code() != ErrorCode::kNotFound) return fail(st.error());
      REWIND_TRY(fs_.mkdir_at(cur.get(), comp, 0755));
    } else if ((st->mode & S_IFMT) != S_IFDIR) {
      return fail(Error::invalid_state("{}: '{}' in the target is not a directory",
                                       opts_.target_root, comp));
    }
    REWIND_ASSIGN_OR_RETURN(io::Fd nxt, fs_.open_at(cur.get(), comp, O_RDONLY | O_DIRECTORY));
    cur = std::move(nxt);
  }
  base_parent_ = std::make_shared<io::Fd>(std::move(cur));
  return ok();
}

Status Restorer::clear_special_flags(int dirfd, const std::string& name, const io::Stat& st) {
  return files::clear_special_flags(fs_, dirfd, name, st);
}

Status Restorer::remove_tree(int dirfd, const std::string& name) {
  return files::remove_tree(fs_, dirfd, name);
}

Result<DirRef> Restorer::ensure_dir(int parentfd, const std::string& name, bool* created,
                                    uint32_t* cleared_flags) {
  *created = false;
  *cleared_flags = 0;
  auto st = fs_.stat_at(parentfd, name);
  if (st && (st->mode & S_IFMT) != S_IFDIR) {
    // A symlink, file, FIFO or device where the point has a directory: the
    // entry is replaced, never followed.
    REWIND_TRY(remove_tree(parentfd, name));
    st = fail(Error::not_found("removed"));
  }
  if (!st) {
    if (st.error().code() != ErrorCode::kNotFound) return fail(st.error());
    REWIND_TRY(fs_.mkdir_at(parentfd, name, 0700));
    *created = true;
  }
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, fs_.open_at(parentfd, name, O_RDONLY | O_DIRECTORY));
  if (!*created) {
    // An immutable or append-only directory refuses new names: clear the
    // flags while it is filled; they are set again at the end (the point's
    // flags, or the directory's own when it is only on the way).
    auto fl = fs_.get_flags(fd.get());
    if (fl && (*fl & kSpecialFlags) != 0) {
      REWIND_TRY(fs_.set_flags(fd.get(), *fl & ~kSpecialFlags));
      *cleared_flags = *fl;
    }
  }
  return std::make_shared<io::Fd>(std::move(fd));
}

Status Restorer::set_xattrs(int fd, const Entry& e) {
  // Names the point lacks go first (an ACL inherited from a default ACL, a
  // user.* attribute added since); SELinux labels stay with the system.
  REWIND_ASSIGN_OR_RETURN(auto present, fs_.list_xattrs(fd));
  for (const std::string& name : present) {
    if (name == "security.selinux") continue;
    bool keep = std::any_of(e.xattrs.begin(), e.xattrs.end(),
                            [&](const store::Xattr& x) { return x.name == name; });
    if (!keep) REWIND_TRY(fs_.remove_xattr(fd, name));
  }
  for (const store::Xattr& x : e.xattrs) {
    Status st = fs_.set_xattr(fd, x.name, x.value);
    if (!st) {
      int en = st.error().sys_errno();
      if (en == ENOTSUP || en == EOPNOTSUPP) {
        result_.warnings.push_back(
            fmt::format("'{}': xattr {} not supported by the target", e.path, x.name));
        continue;
      }
      return fail(st.error().with_context(fmt::format("'{}': xattr {}", e.path, x.name)));
    }
  }
  return ok();
}

Status Restorer::write_file(FileJob& job) {
  const Entry& e = *job.entry;
  const Entry& d = *job.data;
  REWIND_ASSIGN_OR_RETURN(io::StagedFile f, io::StagedFile::create(fs_, job.dir->get(), 0600));
  std::vector<std::byte> buf;
  if (d.sparse) {
    REWIND_TRY(fs_.ftruncate(f.fd(), d.size));
    size_t xi = 0;
    uint64_t xoff = 0;  // offset within extent xi
    for (const auto& c : d.chunks) {
      REWIND_TRY(repo_.read_chunk(c.id, store::ChunkType::kData, buf));
      size_t done = 0;
      while (done < buf.size()) {
        if (xi >= d.extents.size())
          return fail(Error::corrupted_data("'{}': data beyond its extents", e.path));
        const auto& x = d.extents[xi];
        size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size() - done, x.length - xoff));
        REWIND_TRY(fs_.pwrite(f.fd(), {buf.data() + done, n}, x.offset + xoff));
        done += n;
        xoff += n;
        if (xoff == x.length) {
          ++xi;
          xoff = 0;
        }
      }
    }
  } else {
    for (const auto& c : d.chunks) {
      REWIND_TRY(repo_.read_chunk(c.id, store::ChunkType::kData, buf));
      REWIND_TRY(f.append(buf));
    }
  }
  // Owner first (chown clears setuid bits and capabilities), then xattrs
  // (ACLs, security.capability; extra names removed), then the mode (whose
  // group bits are the ACL mask, as captured), then times.
  REWIND_TRY(fs_.fchown(f.fd(), e.uid, e.gid));
  REWIND_TRY(set_xattrs(f.fd(), e));
  REWIND_TRY(fs_.fchmod(f.fd(), e.mode));
  REWIND_TRY(fs_.futimens(f.fd(), e.mtime_ns, e.mtime_ns));
  job.temp = f.temp();
  REWIND_TRY(f.close_keep());
  return ok();
}

Status Restorer::run_jobs() {
  if (jobs_.empty()) return ok();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> files_written{0}, bytes_written{0};
  std::mutex mu;
  std::optional<Error> first;
  const std::thread::id reporter = std::this_thread::get_id();
  auto work = [&] {
    while (!failed.load()) {
      size_t i = next.fetch_add(1);
      if (i >= jobs_.size()) break;
      Status st = write_file(jobs_[i]);
      if (!st) {
        std::lock_guard lk(mu);
        if (!first)
          first = st.error().with_context(fmt::format("restoring '{}'", jobs_[i].entry->path));
        failed = true;
        continue;
      }
      files_written += 1;
      bytes_written += jobs_[i].data->size;
      // Progress within a batch, from the calling thread only (observers
      // need not be thread-safe).
      if (std::this_thread::get_id() == reporter) {
        Progress p = progress_;
        p.files_done = result_.files + files_written.load();
        p.bytes_done = result_.bytes + bytes_written.load();
        obs_.on_progress(p);
      }
    }
  };
  int nthreads = std::max(1, std::min<int>(opts_.threads, static_cast<int>(jobs_.size())));
  std::vector<std::thread> threads;
  for (int t = 1; t < nthreads; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (first) {
    // Nothing of this batch was renamed: remove the temporary files.
    for (auto& j : jobs_)
      if (!j.temp.empty())
        ignore_status(fs_.unlink_at(j.dir->get(), j.temp), "cleanup after a failed restore");
    for (auto& p : pending_)
      ignore_status(fs_.unlink_at(p.dir->get(), p.temp), "cleanup after a failed restore");
    jobs_.clear();
    pending_.clear();
    return fail(*first);
  }
  for (auto& j : jobs_) {
    pending_.push_back(Pending{j.dir, j.temp, j.name, j.entry});
    ++result_.files;
    result_.bytes += j.data->size;
    progress_.files_done = result_.files;
    progress_.bytes_done = result_.bytes;
  }
  obs_.on_progress(progress_);
  jobs_.clear();
  return ok();
}

Status Restorer::sync_all() {
  for (auto& [dev, dir] : devs_) REWIND_TRY(fs_.syncfs(dir->get()));
  return ok();
}

Status Restorer::place(int dirfd, const std::string& temp, const std::string& name,
                       const Entry& e) {
  auto st = fs_.stat_at(dirfd, name);
  if (st) {
    if ((st->mode & S_IFMT) == S_IFDIR)
      REWIND_TRY(remove_tree(dirfd, name));
    else
      REWIND_TRY(clear_special_flags(dirfd, name, *st));
  }
  REWIND_TRY(fs_.rename_at(dirfd, temp, dirfd, name));
  if ((e.flags & kSpecialFlags) != 0 && e.type != EntryType::kSymlink) {
    auto fd = fs_.open_at(dirfd, name, O_RDONLY | O_NONBLOCK);
    if (fd) REWIND_TRY(fs_.set_flags(fd->get(), e.flags));
  }
  return ok();
}

Status Restorer::flush_batch() {
  REWIND_TRY(run_jobs());
  if (pending_.empty()) return ok();
  // Data durable before any name points at it.
  if (Status st = sync_all(); !st) {
    for (auto& p : pending_)
      ignore_status(fs_.unlink_at(p.dir->get(), p.temp), "cleanup after a failed restore");
    pending_.clear();
    return st;
  }
  for (size_t i = 0; i < pending_.size(); ++i) {
    Pending& p = pending_[i];
    Status st = place(p.dir->get(), p.temp, p.name, *p.entry);
    if (!st) {
      for (size_t k = i; k < pending_.size(); ++k)
        ignore_status(fs_.unlink_at(pending_[k].dir->get(), pending_[k].temp),
                      "cleanup after a failed restore");
      pending_.clear();
      return fail(st.error().with_context(fmt::format("restoring '{}'", p.entry->path)));
    }
    uint64_t idx = static_cast<uint64_t>(p.entry - entries_.data());
    if (link_targets_.contains(idx)) placed_[idx] = {p.dir, p.name};
  }
  pending_.clear();
  batch_bytes_ = 0;
  return sync_all();
}

Status Restorer::make_special(int dirfd, const Entry& e, std::string* temp) {
  *temp = io::temp_name();
  switch (e.type) {
    case EntryType::kSymlink:
      REWIND_TRY(fs_.symlink_at(e.target, dirfd, *temp));
      break;
    case EntryType::kFifo:
      REWIND_TRY(fs_.mknod_at(dirfd, *temp, S_IFIFO | 0600, 0));
      break;
    case EntryType::kCharDev:
      REWIND_TRY(fs_.mknod_at(dirfd, *temp, S_IFCHR | 0600, e.rdev));
      break;
    case EntryType::kBlockDev:
      REWIND_TRY(fs_.mknod_at(dirfd, *temp, S_IFBLK | 0600, e.rdev));
      break;
    default:
      return fail(Error::invalid_state("not a special entry"));
  }
  REWIND_TRY(fs_.lchown_at(dirfd, *temp, e.uid, e.gid));
  if (e.type != EntryType::kSymlink) REWIND_TRY(fs_.chmod_at(dirfd, *temp, e.mode));
  REWIND_TRY(fs_.lutimens_at(dirfd, *temp, e.mtime_ns, e.mtime_ns));
  return ok();
}

Status Restorer::apply_dir_metadata(int fd, const Entry& e) {
  auto fl = fs_.get_flags(fd);
  if (fl && (*fl & kSpecialFlags) != 0) REWIND_TRY(fs_.set_flags(fd, *fl & ~kSpecialFlags));
  REWIND_TRY(fs_.fchown(fd, e.uid, e.gid));
  REWIND_TRY(set_xattrs(fd, e));
  REWIND_TRY(fs_.fchmod(fd, e.mode));
  REWIND_TRY(fs_.futimens(fd, e.mtime_ns, e.mtime_ns));
  if (e.flags != 0) {
    Status st = fs_.set_flags(fd, e.flags);
    if (!st)
      result_.warnings.push_back(
          fmt::format("'{}': inode flags not restored: {}", e.path, st.error().message()));
  }
  return ok();
}

Result<RestoreResult> Restorer::run() {
  REWIND_TRY(plan());
  REWIND_TRY(open_base());
  {
    // Every file is written beside its target before the old one goes.
    REWIND_ASSIGN_OR_RETURN(io::FsSpace sp, fs_.statfs(root_.get()));
    uint64_t need = progress_.bytes_total + (16ull << 20);
    if (sp.free_bytes < need)
      return fail(Error::no_space("not enough free space in {}: need {}, have {}",
                                  opts_.target_root, store::format_bytes(need),
                                  store::format_bytes(sp.free_bytes)));
  }
  {
    REWIND_ASSIGN_OR_RETURN(io::Stat rst, fs_.fstat(root_.get()));
    REWIND_ASSIGN_OR_RETURN(io::Fd dup, fs_.open_at(root_.get(), ".", O_RDONLY | O_DIRECTORY));
    devs_[rst.dev] = std::make_shared<io::Fd>(std::move(dup));
  }
  // The stack of open directories along the current path.
  std::vector<std::pair<std::string, DirRef>> stack;
  std::vector<size_t> dirs_to_finish;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (selected_[i] == 0) continue;
    int parentfd;
    std::string name;
    DirRef parent_ref;
    if (i == 0) {
      if (e.type == EntryType::kDir) {
        if (base_name_.empty()) {
          REWIND_ASSIGN_OR_RETURN(io::Fd d, fs_.open_at(root_.get(), ".", O_RDONLY | O_DIRECTORY));
          stack.emplace_back("", std::make_shared<io::Fd>(std::move(d)));
        } else {
          bool created = false;
          uint32_t cleared = 0;
          REWIND_ASSIGN_OR_RETURN(DirRef d,
                                  ensure_dir(base_parent_->get(), base_name_, &created, &cleared));
          created_[i] = created;
          if (cleared && selected_[i] != 1 && !opts_.exact) restore_flags_.emplace_back(i, cleared);
          stack.emplace_back("", d);
        }
        if (selected_[i] == 1 || created_[i] || opts_.exact) dirs_to_finish.push_back(i);
        continue;
      }
      if (base_name_.empty())
        return fail(Error::invalid_state("the snapshot's root is not a directory"));
      parent_ref = base_parent_;
      parentfd = base_parent_->get();
      name = base_name_;
    } else {
      size_t slash = e.path.rfind('/');
      std::string parent = slash == std::string::npos ? "" : e.path.substr(0, slash);
      while (!stack.empty() && stack.back().first != parent) stack.pop_back();
      if (stack.empty())
        return fail(Error::corrupted_data("'{}': parent directory was not restored", e.path));
      parent_ref = stack.back().second;
      parentfd = parent_ref->get();
      name = slash == std::string::npos ? e.path : e.path.substr(slash + 1);
    }
    switch (e.type) {
      case EntryType::kDir: {
        bool created = false;
        uint32_t cleared = 0;
        REWIND_ASSIGN_OR_RETURN(DirRef d, ensure_dir(parentfd, name, &created, &cleared));
        created_[i] = created;
        if (cleared && selected_[i] != 1 && !created && !opts_.exact)
          restore_flags_.emplace_back(i, cleared);
        auto dst = fs_.fstat(d->get());
        if (dst && !devs_.contains(dst->dev)) devs_[dst->dev] = d;
        stack.emplace_back(e.path, d);
        // With an exact selection the directories on the way are the point's too
        // (a rename or removal inside changed their mtime): their metadata is set.
        if (selected_[i] == 1 || created || opts_.exact) dirs_to_finish.push_back(i);
        ++result_.entries;
        break;
      }
      case EntryType::kFile:
        jobs_.push_back(FileJob{parent_ref, name, &e, &e, {}});
        batch_bytes_ += e.size;
        ++result_.entries;
        break;
      case EntryType::kHardlink:
        if (!link_targets_.contains(e.link_index)) {
          // The link's target is not restored: a copy of its data.
          jobs_.push_back(
              FileJob{parent_ref, name, &entries_[e.link_index], &entries_[e.link_index], {}});
          ++result_.entries;
        }
        break;
      default: {
        std::string temp;
        REWIND_TRY(make_special(parentfd, e, &temp));
        pending_.push_back(Pending{parent_ref, temp, name, &e});
        ++result_.entries;
        break;
      }
    }
    if (jobs_.size() >= kBatchFiles || batch_bytes_ >= kBatchBytes) REWIND_TRY(flush_batch());
  }
  REWIND_TRY(flush_batch());
  // Hard links, to files now in place.
  stack.clear();
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (selected_[i] != 1 || e.type != EntryType::kHardlink ||
        !link_targets_.contains(e.link_index))
      continue;
    auto it = placed_.find(e.link_index);
    if (it == placed_.end())
      return fail(Error::invalid_state("'{}': hard link target was not placed", e.path));
    size_t slash = e.path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : e.path.substr(0, slash);
    std::string name = slash == std::string::npos ? e.path : e.path.substr(slash + 1);
    REWIND_ASSIGN_OR_RETURN(
        io::Fd dir, fs_.open_beneath(root_.get(), target_rel(parent), O_RDONLY | O_DIRECTORY));
    std::string temp = io::temp_name();
    REWIND_TRY(fs_.link_at(it->second.first->get(), it->second.second, dir.get(), temp));
    Status st = place(dir.get(), temp, name, e);
    if (!st) {
      ignore_status(fs_.unlink_at(dir.get(), temp), "cleanup after a failed restore");
      return fail(st.error());
    }
    ++result_.entries;
  }
  // Directory metadata last, deepest first, so that their mtimes stay.
  for (auto it = dirs_to_finish.rbegin(); it != dirs_to_finish.rend(); ++it) {
    const Entry& e = entries_[*it];
    REWIND_ASSIGN_OR_RETURN(
        io::Fd d, fs_.open_beneath(root_.get(), target_rel(e.path), O_RDONLY | O_DIRECTORY));
    REWIND_TRY(apply_dir_metadata(d.get(), e));
  }
  for (const auto& [idx, flags] : restore_flags_) {
    REWIND_ASSIGN_OR_RETURN(io::Fd d, fs_.open_beneath(root_.get(), target_rel(entries_[idx].path),
                                                       O_RDONLY | O_DIRECTORY));
    REWIND_TRY(fs_.set_flags(d.get(), flags));
  }
  REWIND_TRY(sync_all());
  return result_;
}

}  // namespace

Result<RestoreResult> restore(io::Fs& fs, store::Repository& repo,
                              const std::vector<Entry>& entries, const RestoreOptions& opts,
                              ProgressObserver& obs) {
  Restorer r(fs, repo, entries, opts, obs);
  return r.run();
}

namespace {

// Removes one live entry named by its component-relative path: files,
// links and specials are unlinked, directories removed only when empty.
// Never follows a symlink: the parent is opened beneath the root with
// RESOLVE_NO_SYMLINKS and the name is acted on relative to it.
Status remove_live(io::Fs& fs, int rootfd, const std::string& comp_rel, const std::string& path,
                   std::vector<std::string>& warnings) {
  std::string full = comp_rel.empty() ? path : (path.empty() ? comp_rel : comp_rel + "/" + path);
  size_t slash = full.rfind('/');
  std::string parent = slash == std::string::npos ? "." : full.substr(0, slash);
  std::string name = slash == std::string::npos ? full : full.substr(slash + 1);
  auto dir = fs.open_beneath(rootfd, parent, O_RDONLY | O_DIRECTORY);
  if (!dir) {
    if (dir.error().code() == ErrorCode::kNotFound) return ok();  // gone already
    return fail(dir.error());
  }
  auto st = fs.stat_at(dir->get(), name);
  if (!st) return st.error().code() == ErrorCode::kNotFound ? ok() : fail(st.error());
  uint32_t type = st->mode & S_IFMT;
  if (type == S_IFREG || type == S_IFDIR) {
    // chattr +i / +a refuse the unlink: clear them first.
    auto fd =
        fs.open_at(dir->get(), name, O_RDONLY | O_NONBLOCK | (type == S_IFDIR ? O_DIRECTORY : 0));
    if (fd) {
      auto fl = fs.get_flags(fd->get());
      if (fl && (*fl & kSpecialFlags) != 0)
        REWIND_TRY(fs.set_flags(fd->get(), *fl & ~kSpecialFlags));
    }
  }
  Status rm = fs.unlink_at(dir->get(), name, type == S_IFDIR ? AT_REMOVEDIR : 0);
  if (!rm) {
    if (type == S_IFDIR &&
        (rm.error().sys_errno() == ENOTEMPTY || rm.error().sys_errno() == EEXIST)) {
      warnings.push_back(fmt::format("'{}' kept: it holds entries the component excludes", path));
      return ok();
    }
    if (rm.error().code() == ErrorCode::kNotFound) return ok();
    return fail(rm.error());
  }
  return ok();
}

}  // namespace

Status remove_component(io::Fs& fs, const std::string& target_root,
                        const std::vector<std::string>& paths) {
  REWIND_ASSIGN_OR_RETURN(io::Fd root, fs.open_path(target_root, O_RDONLY | O_DIRECTORY));
  for (const std::string& p : paths) {
    if (p == "/") return fail(Error::invalid_state("refusing to remove the whole system root"));
    std::string rel = p.substr(1);
    size_t slash = rel.rfind('/');
    std::string parent = slash == std::string::npos ? "." : rel.substr(0, slash);
    std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    auto dir = fs.open_beneath(root.get(), parent, O_RDONLY | O_DIRECTORY);
    if (!dir) {
      if (dir.error().code() == ErrorCode::kNotFound) continue;
      return fail(dir.error());
    }
    Status st = remove_tree(fs, dir->get(), name);
    if (!st && st.error().code() != ErrorCode::kNotFound) return fail(st.error());
  }
  return fs.syncfs(root.get());
}

Result<RestoreResult> apply_rollback(io::Fs& fs, store::Repository& repo,
                                     const std::vector<Entry>& snapshot, const RollbackPlan& plan,
                                     bool incremental, const RestoreOptions& opts,
                                     ProgressObserver& obs) {
  RestoreResult out;
  std::vector<std::string> warnings;
  if (!plan.remove.empty()) {
    REWIND_ASSIGN_OR_RETURN(io::Fd root, fs.open_path(opts.target_root, O_RDONLY | O_DIRECTORY));
    std::string comp_rel = opts.component_path == "/" ? "" : opts.component_path.substr(1);
    for (const std::string& p : plan.remove)
      REWIND_TRY(remove_live(fs, root.get(), comp_rel, p, warnings));
    REWIND_TRY(fs.syncfs(root.get()));
  }
  RestoreOptions ro = opts;
  if (incremental) {
    std::vector<std::string> exact = plan.replace;
    exact.insert(exact.end(), plan.add.begin(), plan.add.end());
    // A removal changed its directory's mtime: the directory is set back too.
    for (const std::string& p : plan.remove) {
      size_t slash = p.rfind('/');
      exact.push_back(slash == std::string::npos ? std::string() : p.substr(0, slash));
    }
    ro.exact = std::move(exact);
  }
  if (!ro.exact || !ro.exact->empty()) {
    REWIND_ASSIGN_OR_RETURN(out, restore(fs, repo, snapshot, ro, obs));
  }
  out.removed = plan.remove.size();
  for (auto& w : warnings) out.warnings.push_back(std::move(w));
  return out;
}

Status write_content(io::Fs& fs, store::Repository& repo, const Entry& e, int out_fd) {
  if (e.type != EntryType::kFile)
    return fail(Error::invalid_state("'{}' is a {}, not a file", e.path, entry_type_name(e.type)));
  std::vector<std::byte> buf;
  uint64_t pos = 0;
  auto zeros = [&](uint64_t n) -> Status {
    std::vector<std::byte> z(std::min<uint64_t>(n, 1 << 20));
    while (n > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, z.size()));
      REWIND_TRY(fs.write(out_fd, {z.data(), k}));
      n -= k;
    }
    return ok();
  };
  if (!e.sparse) {
    for (const auto& c : e.chunks) {
      REWIND_TRY(repo.read_chunk(c.id, store::ChunkType::kData, buf));
      REWIND_TRY(fs.write(out_fd, buf));
    }
    return ok();
  }
  size_t xi = 0;
  uint64_t xoff = 0;
  for (const auto& c : e.chunks) {
    REWIND_TRY(repo.read_chunk(c.id, store::ChunkType::kData, buf));
    size_t done = 0;
    while (done < buf.size() && xi < e.extents.size()) {
      const auto& x = e.extents[xi];
      if (pos < x.offset + xoff) {
        REWIND_TRY(zeros(x.offset + xoff - pos));
        pos = x.offset + xoff;
      }
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size() - done, x.length - xoff));
      REWIND_TRY(fs.write(out_fd, {buf.data() + done, n}));
      done += n;
      xoff += n;
      pos += n;
      if (xoff == x.length) {
        ++xi;
        xoff = 0;
      }
    }
  }
  if (pos < e.size) REWIND_TRY(zeros(e.size - pos));
  return ok();
}

}  // namespace rwd::components::files
