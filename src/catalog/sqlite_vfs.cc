// SPDX-License-Identifier: Apache-2.0
// The SQLite VFS over io::Fs (see sqlite_vfs.h). Modelled on SQLite's
// os_unix.c: same lock bytes and lock protocol, same -shm layout and
// dead-man switch, but open-file-description locks instead of process-owned
// POSIX locks, so every connection (one open file description per file) is
// its own lock owner and no per-inode bookkeeping is needed.
#include "catalog/sqlite_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace rwd::catalog {
namespace {

// Lock bytes of a database file (SQLite's os.h). SQLite never stores data in
// the page that holds them.
constexpr int64_t kPendingByte = 0x40000000;
constexpr int64_t kReservedByte = kPendingByte + 1;
constexpr int64_t kSharedFirst = kPendingByte + 2;
constexpr int64_t kSharedSize = 510;
// Lock bytes of the -shm file (os_unix.c UNIX_SHM_BASE, UNIX_SHM_DMS).
constexpr int64_t kShmBase = 120;
constexpr int64_t kShmDms = kShmBase + SQLITE_SHM_NLOCK;

constexpr int kSectorSize = 4096;
constexpr int kMaxPathname = 4096;
constexpr mode_t kFileMode = 0600;

// The file types (SQLITE_OPEN_MAIN_DB ...) of an xOpen flags word.
constexpr int kOpenTypeMask = 0x0FFFFF00;

struct VfsEntry {
  io::Fs* fs = nullptr;
  sqlite3_vfs* base = nullptr;  // the default VFS, for services that are not file I/O
  std::string name;
  sqlite3_vfs vfs{};
};

VfsEntry& entry_of(sqlite3_vfs* vfs) { return *static_cast<VfsEntry*>(vfs->pAppData); }

// For xGetLastError: the errno and message of this thread's last failure.
thread_local int t_last_errno = 0;
thread_local std::string t_last_message;

int report(const Error& e, int rc) {
  t_last_errno = e.sys_errno();
  t_last_message = e.message();
  sqlite3_log(rc, "rewind vfs: %s", e.message().c_str());
  return rc;
}

}  // namespace

int last_vfs_errno() { return t_last_errno; }
void clear_last_vfs_errno() { t_last_errno = 0; }

namespace {

bool is_busy(const Error& e) { return e.code() == ErrorCode::kBusy; }
bool is_enoent(const Error& e) {
  return e.sys_errno() == ENOENT || (e.sys_errno() == 0 && e.code() == ErrorCode::kNotFound);
}
bool is_eexist(const Error& e) { return e.sys_errno() == EEXIST; }
// SQLITE_FULL for a full file system, else `rc`.
int space_or(const Error& e, int rc) { return e.code() == ErrorCode::kNoSpace ? SQLITE_FULL : rc; }

struct ShmMapping {
  void* addr = nullptr;
  size_t length = 0;
};

// A connection's view of the -shm file: its own open file description (so
// its OFD locks conflict with every other connection's) and its own mappings.
struct Shm {
  io::Fd fd;
  std::string path;
  size_t region_size = 0;
  std::vector<ShmMapping> mappings;
  std::vector<char*> regions;  // region i starts at regions[i]
  uint32_t shared_mask = 0;    // lock slots held shared
  uint32_t excl_mask = 0;      // lock slots held exclusive
};

struct FileState {
  VfsEntry* entry = nullptr;
  io::Fs* fs = nullptr;
  io::Fd fd;
  std::string path;  // empty for an anonymous temporary file
  bool delete_on_close = false;
  bool sync_dir = false;  // created by xOpen: the first xSync also syncs its directory
  int lock = SQLITE_LOCK_NONE;
  int last_errno = 0;
  std::optional<Shm> shm;
};

// SQLite allocates szOsFile bytes per open file and passes them to xOpen; the
// sqlite3_file header must come first. The C++ state lives in the same block:
// xOpen constructs it with placement new and xClose destroys it. This is the
// only manual lifetime management in the file, required because SQLite owns
// the memory.
struct VfsFile {
  sqlite3_file base;
  alignas(FileState) unsigned char storage[sizeof(FileState)];
};
static_assert(std::is_standard_layout_v<VfsFile>);
static_assert(alignof(VfsFile) <= 8, "SQLite aligns sqlite3_file blocks to 8 bytes");

FileState& state(sqlite3_file* file) {
  return *std::launder(reinterpret_cast<FileState*>(reinterpret_cast<VfsFile*>(file)->storage));
}

int report_file(FileState& s, const Error& e, int rc) {
  s.last_errno = e.sys_errno();
  return report(e, rc);
}

// ---------------------------------------------------------------------------
// Path helpers. Paths handed to the VFS are absolute (xFullPathname).

std::pair<std::string, std::string> split_path(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  if (slash == 0) return {"/", path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

Result<io::Fd> open_dir(io::Fs& fs, const std::string& dir) {
  return fs.open_path(dir, O_RDONLY | O_DIRECTORY);
}

Status sync_parent_dir(io::Fs& fs, const std::string& path) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, open_dir(fs, split_path(path).first));
  REWIND_TRY(fs.fsync_dir(dir.get()));
  return dir.close();
}

Status unlink_path(io::Fs& fs, const std::string& path) {
  const auto [dir_path, name] = split_path(path);
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, open_dir(fs, dir_path));
  REWIND_TRY(fs.unlink_at(dir.get(), name));
  return dir.close();
}

struct Opened {
  io::Fd fd;
  bool created = false;
};

// Opens `path`; with `create` makes it when missing (O_EXCL, so that
// `created` is exact and a new file's directory entry is synced later).
Result<Opened> open_file(io::Fs& fs, const std::string& path, int oflags, bool create,
                         bool exclusive) {
  if (exclusive) {
    REWIND_ASSIGN_OR_RETURN(io::Fd fd, fs.open_path(path, oflags | O_CREAT | O_EXCL, kFileMode));
    return Opened{std::move(fd), true};
  }
  for (int attempt = 0;; ++attempt) {
    Result<io::Fd> fd = fs.open_path(path, oflags, 0);
    if (fd) return Opened{std::move(*fd), false};
    if (!create || !is_enoent(fd.error()) || attempt >= 8) return fail(std::move(fd).error());
    Result<io::Fd> made = fs.open_path(path, oflags | O_CREAT | O_EXCL, kFileMode);
    if (made) return Opened{std::move(*made), true};
    if (!is_eexist(made.error())) return fail(std::move(made).error());
    // Created by someone else meanwhile: open the existing file.
  }
}

// An unnamed temporary file: a unique name in $TMPDIR (or /tmp), unlinked
// right after it is created.
Result<io::Fd> open_anonymous(io::Fs& fs) {
  const char* env = std::getenv("TMPDIR");
  const std::string dir = (env != nullptr && env[0] != '\0') ? env : "/tmp";
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t r = 0;
    sqlite3_randomness(sizeof(r), &r);
    const std::string path = fmt::format("{}/etilqs_{:016x}", dir, r);
    Result<io::Fd> fd = fs.open_path(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, kFileMode);
    if (!fd) {
      if (is_eexist(fd.error())) continue;
      return fail(std::move(fd).error());
    }
    REWIND_TRY(unlink_path(fs, path));
    return std::move(*fd);
  }
  return fail(Error::io("no unique temporary file name in {}", dir));
}

// ---------------------------------------------------------------------------
// Byte-range locks.

// A non-blocking OFD lock: SQLITE_OK, SQLITE_BUSY on conflict, else io_rc.
int lock_range(FileState& s, int fd, int type, int64_t start, int64_t len, int io_rc) {
  Status st = s.fs->ofd_lock(fd, static_cast<short>(type), start, len, false);
  if (st) return SQLITE_OK;
  if (is_busy(st.error())) return SQLITE_BUSY;
  return report_file(s, st.error(), io_rc);
}

// ---------------------------------------------------------------------------
// Shared memory (-shm).

int shm_open(FileState& s) {
  io::Fs& fs = *s.fs;
  Shm shm;
  shm.path = s.path + "-shm";
  Result<io::Fd> fd = fs.open_path(shm.path, O_RDWR | O_CREAT | O_NOFOLLOW, kFileMode);
  if (!fd) return report_file(s, fd.error(), SQLITE_CANTOPEN);
  shm.fd = std::move(*fd);
  const int h = shm.fd.get();
  // Dead-man switch: whoever has the -shm open holds a shared lock on the
  // DMS byte. Getting it exclusively means nobody does, so the content is
  // left over from connections that are gone and must be reset.
  Status excl = fs.ofd_lock(h, F_WRLCK, kShmDms, 1, false);
  if (excl) {
    if (Status t = fs.ftruncate(h, 0); !t) return report_file(s, t.error(), SQLITE_IOERR_SHMOPEN);
    if (int rc = lock_range(s, h, F_RDLCK, kShmDms, 1, SQLITE_IOERR_SHMOPEN); rc != SQLITE_OK) {
      return rc;
    }
  } else if (is_busy(excl.error())) {
    // BUSY only while another connection is between its exclusive lock and
    // the downgrade; SQLite retries a BUSY xShmMap.
    if (int rc = lock_range(s, h, F_RDLCK, kShmDms, 1, SQLITE_IOERR_LOCK); rc != SQLITE_OK) {
      return rc;
    }
  } else {
    return report_file(s, excl.error(), SQLITE_IOERR_LOCK);
  }
  s.shm = std::move(shm);
  return SQLITE_OK;
}

// Unmaps and closes the -shm (which releases its locks); unlinks it first
// when `unlink_file`.
int shm_close(FileState& s, bool unlink_file) {
  if (!s.shm) return SQLITE_OK;
  Shm& shm = *s.shm;
  int rc = SQLITE_OK;
  for (const ShmMapping& m : shm.mappings) {
    if (Status st = s.fs->munmap(m.addr, m.length); !st && rc == SQLITE_OK) {
      rc = report_file(s, st.error(), SQLITE_IOERR_SHMMAP);
    }
  }
  if (unlink_file) {
    if (Status st = unlink_path(*s.fs, shm.path);
        !st && !is_enoent(st.error()) && rc == SQLITE_OK) {
      rc = report_file(s, st.error(), SQLITE_IOERR_DELETE);
    }
  }
  if (Status st = shm.fd.close(); !st && rc == SQLITE_OK) {
    rc = report_file(s, st.error(), SQLITE_IOERR_CLOSE);
  }
  s.shm.reset();
  return rc;
}

// ---------------------------------------------------------------------------
// sqlite3_io_methods.

int x_close(sqlite3_file* file) {
  FileState& s = state(file);
  int rc = shm_close(s, false);
  if (Status st = s.fd.close(); !st && rc == SQLITE_OK) {
    rc = report_file(s, st.error(), SQLITE_IOERR_CLOSE);
  }
  if (s.delete_on_close && !s.path.empty()) {
    if (Status st = unlink_path(*s.fs, s.path); !st && !is_enoent(st.error()) && rc == SQLITE_OK) {
      rc = report_file(s, st.error(), SQLITE_IOERR_DELETE);
    }
  }
  std::destroy_at(&s);
  file->pMethods = nullptr;
  return rc;
}

int x_read(sqlite3_file* file, void* buf, int amount, sqlite3_int64 offset) {
  FileState& s = state(file);
  std::span<std::byte> out(static_cast<std::byte*>(buf), static_cast<size_t>(amount));
  Result<size_t> n = s.fs->pread(s.fd.get(), out, static_cast<uint64_t>(offset));
  if (!n) return report_file(s, n.error(), SQLITE_IOERR_READ);
  if (*n < out.size()) {
    // SQLite requires the unread tail to be zeroed.
    std::memset(out.data() + *n, 0, out.size() - *n);
    s.last_errno = 0;
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int x_write(sqlite3_file* file, const void* buf, int amount, sqlite3_int64 offset) {
  FileState& s = state(file);
  std::span<const std::byte> data(static_cast<const std::byte*>(buf), static_cast<size_t>(amount));
  Status st = s.fs->pwrite(s.fd.get(), data, static_cast<uint64_t>(offset));
  if (!st) return report_file(s, st.error(), space_or(st.error(), SQLITE_IOERR_WRITE));
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  FileState& s = state(file);
  Status st = s.fs->ftruncate(s.fd.get(), static_cast<uint64_t>(size));
  if (!st) return report_file(s, st.error(), space_or(st.error(), SQLITE_IOERR_TRUNCATE));
  return SQLITE_OK;
}

int x_sync(sqlite3_file* file, int /*flags*/) {
  FileState& s = state(file);
  // A failed fsync is final (the kernel may have dropped the dirty pages):
  // it is reported, never retried here.
  if (Status st = s.fs->fsync(s.fd.get()); !st) {
    return report_file(s, st.error(), SQLITE_IOERR_FSYNC);
  }
  if (s.sync_dir) {
    s.sync_dir = false;
    if (Status st = sync_parent_dir(*s.fs, s.path); !st) {
      return report_file(s, st.error(), SQLITE_IOERR_DIR_FSYNC);
    }
  }
  return SQLITE_OK;
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  FileState& s = state(file);
  Result<io::Stat> st = s.fs->fstat(s.fd.get());
  if (!st) return report_file(s, st.error(), SQLITE_IOERR_FSTAT);
  *size = static_cast<sqlite3_int64>(st->size);
  return SQLITE_OK;
}

// The lock protocol of os_unix.c (unixLock): SHARED = read lock on the shared
// range, taken while holding a read lock on PENDING_BYTE; RESERVED = write
// lock on RESERVED_BYTE; PENDING = write lock on PENDING_BYTE; EXCLUSIVE =
// write lock on the shared range.
int x_lock(sqlite3_file* file, int level) {
  FileState& s = state(file);
  if (s.lock >= level) return SQLITE_OK;
  const int fd = s.fd.get();
  if (level == SQLITE_LOCK_SHARED) {
    int rc = lock_range(s, fd, F_RDLCK, kPendingByte, 1, SQLITE_IOERR_LOCK);
    if (rc != SQLITE_OK) return rc;
    rc = lock_range(s, fd, F_RDLCK, kSharedFirst, kSharedSize, SQLITE_IOERR_LOCK);
    const int unlock_rc = lock_range(s, fd, F_UNLCK, kPendingByte, 1, SQLITE_IOERR_UNLOCK);
    if (rc != SQLITE_OK) return rc;
    if (unlock_rc != SQLITE_OK) return unlock_rc;
    s.lock = SQLITE_LOCK_SHARED;
    return SQLITE_OK;
  }
  if (level == SQLITE_LOCK_RESERVED) {
    const int rc = lock_range(s, fd, F_WRLCK, kReservedByte, 1, SQLITE_IOERR_LOCK);
    if (rc == SQLITE_OK) s.lock = SQLITE_LOCK_RESERVED;
    return rc;
  }
  // PENDING, then EXCLUSIVE. A connection left in PENDING by a busy
  // EXCLUSIVE attempt keeps new readers out until it gets there.
  if (s.lock < SQLITE_LOCK_PENDING) {
    const int rc = lock_range(s, fd, F_WRLCK, kPendingByte, 1, SQLITE_IOERR_LOCK);
    if (rc != SQLITE_OK) return rc;
    s.lock = SQLITE_LOCK_PENDING;
  }
  if (level == SQLITE_LOCK_PENDING) return SQLITE_OK;
  const int rc = lock_range(s, fd, F_WRLCK, kSharedFirst, kSharedSize, SQLITE_IOERR_LOCK);
  if (rc == SQLITE_OK) s.lock = SQLITE_LOCK_EXCLUSIVE;
  return rc;
}

int x_unlock(sqlite3_file* file, int level) {
  FileState& s = state(file);
  if (s.lock <= level) return SQLITE_OK;
  const int fd = s.fd.get();
  if (s.lock > SQLITE_LOCK_SHARED) {
    if (level == SQLITE_LOCK_SHARED) {
      const int rc = lock_range(s, fd, F_RDLCK, kSharedFirst, kSharedSize, SQLITE_IOERR_RDLOCK);
      if (rc != SQLITE_OK) return rc == SQLITE_BUSY ? SQLITE_IOERR_RDLOCK : rc;
    }
    // PENDING_BYTE and RESERVED_BYTE.
    const int rc = lock_range(s, fd, F_UNLCK, kPendingByte, 2, SQLITE_IOERR_UNLOCK);
    if (rc != SQLITE_OK) return rc;
  }
  if (level == SQLITE_LOCK_NONE) {
    const int rc = lock_range(s, fd, F_UNLCK, 0, 0, SQLITE_IOERR_UNLOCK);
    if (rc != SQLITE_OK) return rc;
  }
  s.lock = level;
  return SQLITE_OK;
}

int x_check_reserved_lock(sqlite3_file* file, int* out) {
  FileState& s = state(file);
  if (s.lock > SQLITE_LOCK_SHARED) {
    *out = 1;
    return SQLITE_OK;
  }
  // F_OFD_GETLK ignores this connection's own locks.
  Result<bool> held = s.fs->ofd_lock_conflicts(s.fd.get(), F_WRLCK, kReservedByte, 1);
  if (!held) {
    *out = 0;
    return report_file(s, held.error(), SQLITE_IOERR_CHECKRESERVEDLOCK);
  }
  *out = *held ? 1 : 0;
  return SQLITE_OK;
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  FileState& s = state(file);
  switch (op) {
    case SQLITE_FCNTL_LOCKSTATE:
      *static_cast<int*>(arg) = s.lock;
      return SQLITE_OK;
    case SQLITE_FCNTL_LAST_ERRNO:
      *static_cast<int*>(arg) = s.last_errno;
      return SQLITE_OK;
    case SQLITE_FCNTL_SIZE_HINT:
      // Only a hint: nothing is preallocated (the file grows by writes).
      return SQLITE_OK;
    case SQLITE_FCNTL_VFSNAME:
      *static_cast<char**>(arg) = sqlite3_mprintf("%s", s.entry->name.c_str());
      return SQLITE_OK;
    default:
      return SQLITE_NOTFOUND;
  }
}

int x_sector_size(sqlite3_file* /*file*/) { return kSectorSize; }

int x_device_characteristics(sqlite3_file* /*file*/) { return SQLITE_IOCAP_POWERSAFE_OVERWRITE; }

int x_shm_map(sqlite3_file* file, int region, int region_size, int extend, void volatile** out) {
  FileState& s = state(file);
  *out = nullptr;
  if (!s.shm) {
    if (s.path.empty()) return SQLITE_IOERR_SHMOPEN;
    const int rc = shm_open(s);
    if (rc != SQLITE_OK) return rc;
  }
  Shm& shm = *s.shm;
  const size_t size = static_cast<size_t>(region_size);
  if (shm.region_size == 0) shm.region_size = size;
  if (shm.region_size != size || region < 0) return SQLITE_IOERR_SHMMAP;
  const int h = shm.fd.get();
  // Map whole pages: with pages larger than a region, map several at once.
  const long page = sysconf(_SC_PAGESIZE);
  const size_t per_map =
      page > 0 && static_cast<size_t>(page) > size ? static_cast<size_t>(page) / size : 1;
  const size_t wanted = (static_cast<size_t>(region) / per_map + 1) * per_map;
  if (shm.regions.size() < wanted) {
    const uint64_t bytes = wanted * size;
    Result<io::Stat> st = s.fs->fstat(h);
    if (!st) return report_file(s, st.error(), SQLITE_IOERR_SHMSIZE);
    if (st->size < bytes) {
      // Only a connection holding the WAL write lock (or running recovery)
      // extends, so growing never races with another extension.
      if (!extend) return SQLITE_OK;
      if (Status t = s.fs->ftruncate(h, bytes); !t) {
        return report_file(s, t.error(), space_or(t.error(), SQLITE_IOERR_SHMSIZE));
      }
    }
    while (shm.regions.size() < wanted) {
      const uint64_t offset = shm.regions.size() * size;
      const size_t length = per_map * size;
      Result<void*> addr = s.fs->mmap_shared(h, length, offset);
      if (!addr) return report_file(s, addr.error(), SQLITE_IOERR_SHMMAP);
      shm.mappings.push_back(ShmMapping{*addr, length});
      for (size_t i = 0; i < per_map; ++i) {
        shm.regions.push_back(static_cast<char*>(*addr) + i * size);
      }
    }
  }
  if (static_cast<size_t>(region) < shm.regions.size()) *out = shm.regions[region];
  return SQLITE_OK;
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  FileState& s = state(file);
  if (!s.shm || offset < 0 || n < 1 || offset + n > SQLITE_SHM_NLOCK) return SQLITE_IOERR_SHMLOCK;
  Shm& shm = *s.shm;
  const uint32_t mask = (1u << (offset + n)) - (1u << offset);
  const int h = shm.fd.get();
  const int64_t start = kShmBase + offset;
  if ((flags & SQLITE_SHM_UNLOCK) != 0) {
    if (((shm.shared_mask | shm.excl_mask) & mask) != 0) {
      const int rc = lock_range(s, h, F_UNLCK, start, n, SQLITE_IOERR_SHMLOCK);
      if (rc != SQLITE_OK) return rc == SQLITE_BUSY ? SQLITE_IOERR_SHMLOCK : rc;
    }
    shm.shared_mask &= ~mask;
    shm.excl_mask &= ~mask;
    return SQLITE_OK;
  }
  const bool exclusive = (flags & SQLITE_SHM_EXCLUSIVE) != 0;
  if (((exclusive ? shm.excl_mask : shm.shared_mask) & mask) == mask) return SQLITE_OK;
  // Never waits: SQLite's busy handler decides about retrying.
  const int rc = lock_range(s, h, exclusive ? F_WRLCK : F_RDLCK, start, n, SQLITE_IOERR_SHMLOCK);
  if (rc != SQLITE_OK) return rc;
  if (exclusive) {
    shm.excl_mask |= mask;
    shm.shared_mask &= ~mask;
  } else {
    shm.shared_mask |= mask;
    shm.excl_mask &= ~mask;
  }
  return SQLITE_OK;
}

void x_shm_barrier(sqlite3_file* /*file*/) { __sync_synchronize(); }

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  return shm_close(state(file), delete_flag != 0);
}

// Version 2: no xFetch/xUnfetch, so SQLite never memory-maps the database
// and every page read is an Fs call.
const sqlite3_io_methods kIoMethods = {
    .iVersion = 2,
    .xClose = x_close,
    .xRead = x_read,
    .xWrite = x_write,
    .xTruncate = x_truncate,
    .xSync = x_sync,
    .xFileSize = x_file_size,
    .xLock = x_lock,
    .xUnlock = x_unlock,
    .xCheckReservedLock = x_check_reserved_lock,
    .xFileControl = x_file_control,
    .xSectorSize = x_sector_size,
    .xDeviceCharacteristics = x_device_characteristics,
    .xShmMap = x_shm_map,
    .xShmLock = x_shm_lock,
    .xShmBarrier = x_shm_barrier,
    .xShmUnmap = x_shm_unmap,
    .xFetch = nullptr,
    .xUnfetch = nullptr,
};

// ---------------------------------------------------------------------------
// sqlite3_vfs.

int open_flags_for(int flags) {
  int oflags = (flags & SQLITE_OPEN_READWRITE) != 0 ? O_RDWR : O_RDONLY;
  if ((flags & SQLITE_OPEN_NOFOLLOW) != 0) oflags |= O_NOFOLLOW;
  return oflags;
}

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  file->pMethods = nullptr;
  VfsEntry& entry = entry_of(vfs);
  io::Fs& fs = *entry.fs;
  const int type = flags & kOpenTypeMask;
  const bool delete_on_close = (flags & SQLITE_OPEN_DELETEONCLOSE) != 0;

  io::Fd fd;
  std::string path;
  bool created = false;
  if (name == nullptr) {
    Result<io::Fd> tmp = open_anonymous(fs);
    if (!tmp) return report(tmp.error(), SQLITE_CANTOPEN);
    fd = std::move(*tmp);
  } else {
    path = name;
    Result<Opened> opened =
        open_file(fs, path, open_flags_for(flags), (flags & SQLITE_OPEN_CREATE) != 0,
                  (flags & SQLITE_OPEN_EXCLUSIVE) != 0);
    if (!opened && (flags & SQLITE_OPEN_READWRITE) != 0 &&
        opened.error().code() == ErrorCode::kPermissionDenied) {
      // As the unix VFS: fall back to read-only access.
      flags = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
      opened = open_file(fs, path, open_flags_for(flags), false, false);
    }
    if (!opened) return report(opened.error(), SQLITE_CANTOPEN);
    fd = std::move(opened->fd);
    created = opened->created;
  }

  FileState* s = new (reinterpret_cast<VfsFile*>(file)->storage) FileState();
  s->entry = &entry;
  s->fs = &fs;
  s->fd = std::move(fd);
  s->path = std::move(path);
  s->delete_on_close = delete_on_close && !s->path.empty();
  s->sync_dir = created && !delete_on_close &&
                (type == SQLITE_OPEN_MAIN_DB || type == SQLITE_OPEN_MAIN_JOURNAL ||
                 type == SQLITE_OPEN_SUPER_JOURNAL || type == SQLITE_OPEN_WAL);
  file->pMethods = &kIoMethods;
  if (out_flags != nullptr) *out_flags = flags;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs* vfs, const char* path, int sync_dir) {
  io::Fs& fs = *entry_of(vfs).fs;
  const auto [dir_path, name] = split_path(path);
  Result<io::Fd> dir = open_dir(fs, dir_path);
  if (!dir) {
    return is_enoent(dir.error()) ? SQLITE_IOERR_DELETE_NOENT
                                  : report(dir.error(), SQLITE_IOERR_DELETE);
  }
  if (Status st = fs.unlink_at(dir->get(), name); !st) {
    return is_enoent(st.error()) ? SQLITE_IOERR_DELETE_NOENT
                                 : report(st.error(), SQLITE_IOERR_DELETE);
  }
  if (sync_dir != 0) {
    if (Status st = fs.fsync_dir(dir->get()); !st)
      return report(st.error(), SQLITE_IOERR_DIR_FSYNC);
  }
  return SQLITE_OK;
}

// access(2) from the mode bits (supplementary groups are not consulted).
bool permitted(const io::Stat& st, bool write) {
  const uid_t uid = geteuid();
  if (uid == 0) return true;
  uint32_t bits = st.mode;
  if (st.uid == uid) {
    bits >>= 6;
  } else if (st.gid == getegid()) {
    bits >>= 3;
  }
  const uint32_t need = write ? 6 : 4;
  return (bits & need) == need;
}

int x_access(sqlite3_vfs* vfs, const char* path, int flags, int* out) {
  io::Fs& fs = *entry_of(vfs).fs;
  *out = 0;
  Result<io::Fd> fd = fs.open_path(path, O_PATH);
  if (!fd) return SQLITE_OK;  // missing or unreachable: no
  Result<io::Stat> st = fs.fstat(fd->get());
  if (!st) return report(st.error(), SQLITE_IOERR_ACCESS);
  switch (flags) {
    case SQLITE_ACCESS_EXISTS:
      // As the unix VFS: an empty regular file (a journal SQLite truncated)
      // does not count.
      *out = (!S_ISREG(st->mode) || st->size > 0) ? 1 : 0;
      break;
    case SQLITE_ACCESS_READWRITE:
      *out = permitted(*st, true) ? 1 : 0;
      break;
    default:
      *out = permitted(*st, false) ? 1 : 0;
      break;
  }
  return SQLITE_OK;
}

int x_full_pathname(sqlite3_vfs* /*vfs*/, const char* path, int n, char* out) {
  std::string full;
  if (path[0] != '/') {
    std::string cwd(kMaxPathname + 1, '\0');
    if (getcwd(cwd.data(), cwd.size()) == nullptr) return SQLITE_CANTOPEN;
    full = cwd.c_str();
  }
  full += '/';
  full += path;
  // Drop empty and "." components; ".." is kept (it may cross a symlink).
  std::string norm;
  std::string_view rest = full;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view comp = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (comp.empty() || comp == ".") continue;
    norm += '/';
    norm += comp;
  }
  if (norm.empty()) norm = "/";
  if (n < 1 || norm.size() + 1 > static_cast<size_t>(n)) return SQLITE_CANTOPEN;
  std::memcpy(out, norm.c_str(), norm.size() + 1);
  return SQLITE_OK;
}

// Dynamic loading, randomness, sleep and time are not file I/O: the default
// VFS provides them.
void* x_dl_open(sqlite3_vfs* vfs, const char* name) {
  sqlite3_vfs* base = entry_of(vfs).base;
  return base->xDlOpen != nullptr ? base->xDlOpen(base, name) : nullptr;
}

void x_dl_error(sqlite3_vfs* vfs, int n, char* msg) {
  sqlite3_vfs* base = entry_of(vfs).base;
  if (base->xDlError != nullptr) {
    base->xDlError(base, n, msg);
  } else if (n > 0) {
    msg[0] = '\0';
  }
}

using SymbolFn = void (*)();
SymbolFn x_dl_sym(sqlite3_vfs* vfs, void* handle, const char* symbol) {
  sqlite3_vfs* base = entry_of(vfs).base;
  return base->xDlSym != nullptr ? base->xDlSym(base, handle, symbol) : nullptr;
}

void x_dl_close(sqlite3_vfs* vfs, void* handle) {
  sqlite3_vfs* base = entry_of(vfs).base;
  if (base->xDlClose != nullptr) base->xDlClose(base, handle);
}

int x_randomness(sqlite3_vfs* vfs, int n, char* out) {
  sqlite3_vfs* base = entry_of(vfs).base;
  return base->xRandomness(base, n, out);
}

int x_sleep(sqlite3_vfs* vfs, int microseconds) {
  sqlite3_vfs* base = entry_of(vfs).base;
  return base->xSleep(base, microseconds);
}

int x_current_time(sqlite3_vfs* vfs, double* out) {
  sqlite3_vfs* base = entry_of(vfs).base;
  return base->xCurrentTime(base, out);
}

int x_get_last_error(sqlite3_vfs* /*vfs*/, int n, char* out) {
  if (n > 0 && out != nullptr) sqlite3_snprintf(n, out, "%s", t_last_message.c_str());
  return t_last_errno;
}

int x_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  sqlite3_vfs* base = entry_of(vfs).base;
  if (base->iVersion >= 2 && base->xCurrentTimeInt64 != nullptr) {
    return base->xCurrentTimeInt64(base, out);
  }
  double days = 0;
  const int rc = base->xCurrentTime(base, &days);
  *out = static_cast<sqlite3_int64>(days * 86400000.0);
  return rc;
}

// Registered VFSes live until exit; SQLite keeps pointers to them.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry() {
    for (auto& kv : entries_) sqlite3_vfs_unregister(&kv.second->vfs);
  }

  Result<std::string> name_for(io::Fs& fs) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(&fs); it != entries_.end()) return it->second->name;
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    if (base == nullptr) return fail(Error::other("SQLite has no default VFS"));
    auto entry = std::make_unique<VfsEntry>();
    entry->fs = &fs;
    entry->base = base;
    entry->name = fmt::format("rewind-fs-{}", entries_.size() + 1);
    sqlite3_vfs& v = entry->vfs;
    v.iVersion = 2;
    v.szOsFile = static_cast<int>(sizeof(VfsFile));
    v.mxPathname = kMaxPathname;
    v.pNext = nullptr;
    v.zName = entry->name.c_str();
    v.pAppData = entry.get();
    v.xOpen = x_open;
    v.xDelete = x_delete;
    v.xAccess = x_access;
    v.xFullPathname = x_full_pathname;
    v.xDlOpen = x_dl_open;
    v.xDlError = x_dl_error;
    v.xDlSym = x_dl_sym;
    v.xDlClose = x_dl_close;
    v.xRandomness = x_randomness;
    v.xSleep = x_sleep;
    v.xCurrentTime = x_current_time;
    v.xGetLastError = x_get_last_error;
    v.xCurrentTimeInt64 = x_current_time_int64;
    if (const int rc = sqlite3_vfs_register(&v, /*makeDflt=*/0); rc != SQLITE_OK) {
      return fail(Error::other("registering SQLite VFS {}: {}", entry->name, sqlite3_errstr(rc)));
    }
    std::string name = entry->name;
    entries_.emplace(&fs, std::move(entry));
    return name;
  }

 private:
  std::mutex mu_;
  std::map<io::Fs*, std::unique_ptr<VfsEntry>> entries_;
};

}  // namespace

Result<std::string> vfs_name_for(io::Fs& fs) {
  static Registry registry;
  return registry.name_for(fs);
}

}  // namespace rwd::catalog
