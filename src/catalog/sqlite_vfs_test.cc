// SPDX-License-Identifier: Apache-2.0
#include "catalog/sqlite_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/fs.h"

namespace rwd::catalog {
namespace {

// Forwards every call to `target`; descriptors it opens are closed through
// this Fs, so a subclass sees every call the VFS makes.
class ForwardingFs : public io::Fs {
 public:
  explicit ForwardingFs(io::Fs& target) : t_(target) {}

  Result<io::Fd> open_path(const std::string& path, int flags, mode_t mode) override {
    return rewrap(t_.open_path(path, flags, mode));
  }
  Result<io::Fd> open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode) override {
    return rewrap(t_.open_beneath(dirfd, rel, flags, mode));
  }
  Result<io::Fd> open_at(int dirfd, std::string_view name, int flags, mode_t mode) override {
    return rewrap(t_.open_at(dirfd, name, flags, mode));
  }
  Status close(int fd) override { return t_.close(fd); }
  Result<size_t> read(int fd, std::span<std::byte> buf) override { return t_.read(fd, buf); }
  Result<size_t> pread(int fd, std::span<std::byte> buf, uint64_t offset) override {
    return t_.pread(fd, buf, offset);
  }
  Status write(int fd, std::span<const std::byte> data) override { return t_.write(fd, data); }
  Status pwrite(int fd, std::span<const std::byte> data, uint64_t offset) override {
    return t_.pwrite(fd, data, offset);
  }
  Status fsync(int fd) override { return t_.fsync(fd); }
  Status syncfs(int fd) override { return t_.syncfs(fd); }
  Status ftruncate(int fd, uint64_t length) override { return t_.ftruncate(fd, length); }
  Result<int64_t> seek_data(int fd, int64_t offset) override { return t_.seek_data(fd, offset); }
  Result<int64_t> seek_hole(int fd, int64_t offset) override { return t_.seek_hole(fd, offset); }
  Result<io::Stat> fstat(int fd) override { return t_.fstat(fd); }
  Result<io::Stat> stat_at(int dirfd, std::string_view name) override {
    return t_.stat_at(dirfd, name);
  }
  Result<io::FsSpace> statfs(int fd) override { return t_.statfs(fd); }
  Status rename_at(int olddir, std::string_view oldname, int newdir, std::string_view newname,
                   unsigned flags) override {
    return t_.rename_at(olddir, oldname, newdir, newname, flags);
  }
  Status unlink_at(int dirfd, std::string_view name, int flags) override {
    return t_.unlink_at(dirfd, name, flags);
  }
  Status mkdir_at(int dirfd, std::string_view name, mode_t mode) override {
    return t_.mkdir_at(dirfd, name, mode);
  }
  Status symlink_at(std::string_view target, int dirfd, std::string_view name) override {
    return t_.symlink_at(target, dirfd, name);
  }
  Result<std::string> readlink_at(int dirfd, std::string_view name) override {
    return t_.readlink_at(dirfd, name);
  }
  Status mknod_at(int dirfd, std::string_view name, mode_t mode, uint64_t dev) override {
    return t_.mknod_at(dirfd, name, mode, dev);
  }
  Status link_at(int olddir, std::string_view oldname, int newdir,
                 std::string_view newname) override {
    return t_.link_at(olddir, oldname, newdir, newname);
  }
  Status fchown(int fd, uint32_t uid, uint32_t gid) override { return t_.fchown(fd, uid, gid); }
  Status fchmod(int fd, mode_t mode) override { return t_.fchmod(fd, mode); }
  Status futimens(int fd, int64_t atime_ns, int64_t mtime_ns) override {
    return t_.futimens(fd, atime_ns, mtime_ns);
  }
  Status lchown_at(int dirfd, std::string_view name, uint32_t uid, uint32_t gid) override {
    return t_.lchown_at(dirfd, name, uid, gid);
  }
  Status lutimens_at(int dirfd, std::string_view name, int64_t atime_ns,
                     int64_t mtime_ns) override {
    return t_.lutimens_at(dirfd, name, atime_ns, mtime_ns);
  }
  Status chmod_at(int dirfd, std::string_view name, mode_t mode) override {
    return t_.chmod_at(dirfd, name, mode);
  }
  Result<std::vector<std::string>> list_xattrs(int fd) override { return t_.list_xattrs(fd); }
  Result<std::string> get_xattr(int fd, const std::string& name) override {
    return t_.get_xattr(fd, name);
  }
  Status set_xattr(int fd, const std::string& name, std::string_view value) override {
    return t_.set_xattr(fd, name, value);
  }
  Status remove_xattr(int fd, const std::string& name) override {
    return t_.remove_xattr(fd, name);
  }
  Result<uint32_t> get_flags(int fd) override { return t_.get_flags(fd); }
  Status set_flags(int fd, uint32_t flags) override { return t_.set_flags(fd, flags); }
  Result<std::vector<io::DirEntry>> list_dir(int dirfd) override { return t_.list_dir(dirfd); }
  Status flock(int fd, bool exclusive, bool wait) override { return t_.flock(fd, exclusive, wait); }
  Status funlock(int fd) override { return t_.funlock(fd); }
  Status ofd_lock(int fd, short type, int64_t start, int64_t len, bool wait) override {
    return t_.ofd_lock(fd, type, start, len, wait);
  }
  Result<bool> ofd_lock_conflicts(int fd, short type, int64_t start, int64_t len) override {
    return t_.ofd_lock_conflicts(fd, type, start, len);
  }
  Result<void*> mmap_shared(int fd, size_t length, uint64_t offset) override {
    return t_.mmap_shared(fd, length, offset);
  }
  Status munmap(void* addr, size_t length) override { return t_.munmap(addr, length); }

 protected:
  Result<io::Fd> rewrap(Result<io::Fd> r) {
    if (!r) return fail(std::move(r).error());
    return io::Fd(this, r->release());
  }

 private:
  io::Fs& t_;
};

// Counts pwrite and fsync calls per path (of the descriptor's open_path) and
// injects failures.
class RecordingFs final : public ForwardingFs {
 public:
  RecordingFs() : ForwardingFs(io::posix_fs()) {}

  Result<io::Fd> open_path(const std::string& path, int flags, mode_t mode) override {
    Result<io::Fd> fd = ForwardingFs::open_path(path, flags, mode);
    std::lock_guard<std::mutex> lock(mu_);
    opened_.push_back(path);
    if (fd) paths_[fd->get()] = path;
    return fd;
  }
  Status close(int fd) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      paths_.erase(fd);
    }
    return ForwardingFs::close(fd);
  }
  Status pwrite(int fd, std::span<const std::byte> data, uint64_t offset) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (fail_writes_errno != 0) return fail(Error::from_errno(fail_writes_errno, "pwrite"));
      ++writes_[paths_[fd]];
    }
    return ForwardingFs::pwrite(fd, data, offset);
  }
  Status fsync(int fd) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (fail_next_fsync) {
        fail_next_fsync = false;
        return fail(Error::from_errno(EIO, "fsync"));
      }
      ++syncs_[paths_[fd]];
    }
    return ForwardingFs::fsync(fd);
  }

  int writes(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return writes_[path];
  }
  int syncs(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return syncs_[path];
  }
  std::vector<std::string> opened() {
    std::lock_guard<std::mutex> lock(mu_);
    return opened_;
  }
  void reset_counts() {
    std::lock_guard<std::mutex> lock(mu_);
    writes_.clear();
    syncs_.clear();
  }

  // Guarded by mu_ (set by the test while no statement runs).
  bool fail_next_fsync = false;
  int fail_writes_errno = 0;

 private:
  std::mutex mu_;
  std::map<int, std::string> paths_;
  std::map<std::string, int> writes_;
  std::map<std::string, int> syncs_;
  std::vector<std::string> opened_;
};

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

Db open_db(const std::string& path, const std::string& vfs) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                 vfs.empty() ? nullptr : vfs.c_str());
  Db db(raw);
  EXPECT_EQ(rc, SQLITE_OK) << (raw != nullptr ? sqlite3_errmsg(raw) : "no handle");
  if (rc != SQLITE_OK) return nullptr;
  return db;
}

int exec(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
}

// The first column of the first row, as text ("" when there is none).
std::string query(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return std::string("error: ") + sqlite3_errmsg(db);
  }
  std::string out;
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
  } else if (rc != SQLITE_DONE) {
    out = std::string("error: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  return out;
}

std::string count(sqlite3* db) { return query(db, "SELECT count(*) FROM t"); }

void use_wal(sqlite3* db) {
  EXPECT_EQ(query(db, "PRAGMA journal_mode=WAL"), "wal");
  EXPECT_EQ(exec(db, "PRAGMA synchronous=FULL"), SQLITE_OK);
}

std::string vfs_for(io::Fs& fs) {
  Result<std::string> name = vfs_name_for(fs);
  EXPECT_TRUE(name.has_value());
  return name ? *name : std::string();
}

class SqliteVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rewind-vfs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_path_ = dir_ + "/catalog.db";
    vfs_ = vfs_for(io::posix_fs());
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Creates table t with `rows` rows, one transaction per 10 rows.
  void create_table(sqlite3* db, int rows) {
    ASSERT_EQ(exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT, pad BLOB)"), SQLITE_OK);
    for (int i = 0; i < rows; i += 10) {
      ASSERT_EQ(exec(db, "BEGIN"), SQLITE_OK);
      for (int j = i; j < i + 10 && j < rows; ++j) {
        ASSERT_EQ(exec(db, "INSERT INTO t(who, pad) VALUES('setup', randomblob(300))"), SQLITE_OK);
      }
      ASSERT_EQ(exec(db, "COMMIT"), SQLITE_OK) << sqlite3_errmsg(db);
    }
  }

  bool exists(const std::string& path) { return std::filesystem::exists(path); }

  std::string dir_;
  std::string db_path_;
  std::string vfs_;
};

TEST_F(SqliteVfsTest, NamePerFsAndNeverDefault) {
  RecordingFs other;
  const std::string a = vfs_for(io::posix_fs());
  EXPECT_EQ(a, vfs_for(io::posix_fs()));
  const std::string b = vfs_for(other);
  EXPECT_NE(a, b);
  EXPECT_NE(sqlite3_vfs_find(a.c_str()), nullptr);
  EXPECT_NE(sqlite3_vfs_find(b.c_str()), nullptr);
  EXPECT_STRNE(sqlite3_vfs_find(nullptr)->zName, a.c_str());
  EXPECT_STRNE(sqlite3_vfs_find(nullptr)->zName, b.c_str());
}

TEST_F(SqliteVfsTest, WalRoundTripAndReopen) {
  {
    Db db = open_db(db_path_, vfs_);
    ASSERT_TRUE(db);
    use_wal(db.get());
    create_table(db.get(), 200);
    EXPECT_EQ(count(db.get()), "200");
    EXPECT_TRUE(exists(db_path_ + "-wal"));
    EXPECT_TRUE(exists(db_path_ + "-shm"));
  }
  // The last connection checkpoints and removes -wal and -shm on close.
  EXPECT_FALSE(exists(db_path_ + "-wal"));
  EXPECT_FALSE(exists(db_path_ + "-shm"));
  Db db = open_db(db_path_, vfs_);
  ASSERT_TRUE(db);
  EXPECT_EQ(query(db.get(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(count(db.get()), "200");
  EXPECT_EQ(query(db.get(), "PRAGMA integrity_check"), "ok");
  // Also readable by the standard unix VFS.
  Db plain = open_db(db_path_, "");
  ASSERT_TRUE(plain);
  EXPECT_EQ(count(plain.get()), "200");
}

// A -shm left by connections that are gone is reset by the first opener (the
// dead-man switch), not trusted: here it describes WAL frames that no longer
// exist.
TEST_F(SqliteVfsTest, StaleShmIsReset) {
  const std::string shm = db_path_ + "-shm";
  const std::string stale = dir_ + "/stale-shm";
  {
    Db db = open_db(db_path_, vfs_);
    ASSERT_TRUE(db);
    use_wal(db.get());
    create_table(db.get(), 50);
    std::filesystem::copy_file(shm, stale);
  }
  ASSERT_FALSE(exists(db_path_ + "-wal"));
  std::filesystem::copy_file(stale, shm);
  Db db = open_db(db_path_, vfs_);
  ASSERT_TRUE(db);
  EXPECT_EQ(count(db.get()), "50");
  EXPECT_EQ(query(db.get(), "PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteVfsTest, RelativePathIsMadeAbsolute) {
  const std::filesystem::path old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  {
    Db db = open_db("./sub.db", vfs_);
    ASSERT_TRUE(db);
    EXPECT_STREQ(sqlite3_db_filename(db.get(), "main"), (dir_ + "/sub.db").c_str());
    use_wal(db.get());
    EXPECT_EQ(exec(db.get(), "CREATE TABLE t(x); INSERT INTO t VALUES(1)"), SQLITE_OK);
  }
  std::filesystem::current_path(old_cwd);
  EXPECT_TRUE(exists(dir_ + "/sub.db"));
}

TEST_F(SqliteVfsTest, RollbackJournalMode) {
  {
    Db db = open_db(db_path_, vfs_);
    ASSERT_TRUE(db);
    EXPECT_EQ(query(db.get(), "PRAGMA journal_mode=DELETE"), "delete");
    EXPECT_EQ(exec(db.get(), "PRAGMA synchronous=FULL"), SQLITE_OK);
    create_table(db.get(), 100);
    ASSERT_EQ(exec(db.get(), "BEGIN; DELETE FROM t WHERE id > 50; ROLLBACK"), SQLITE_OK);
    EXPECT_EQ(count(db.get()), "100");
    EXPECT_FALSE(exists(db_path_ + "-journal"));
  }
  Db db = open_db(db_path_, vfs_);
  ASSERT_TRUE(db);
  EXPECT_EQ(count(db.get()), "100");
  EXPECT_EQ(query(db.get(), "PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteVfsTest, TwoConnectionsInOneProcess) {
  Db a = open_db(db_path_, vfs_);
  ASSERT_TRUE(a);
  use_wal(a.get());
  create_table(a.get(), 20);
  Db b = open_db(db_path_, vfs_);
  ASSERT_TRUE(b);
  EXPECT_EQ(count(b.get()), "20");

  ASSERT_EQ(exec(a.get(), "BEGIN IMMEDIATE"), SQLITE_OK);
  ASSERT_EQ(exec(a.get(), "INSERT INTO t(who) VALUES('a')"), SQLITE_OK);
  // A WAL reader is not blocked by the open write transaction.
  EXPECT_EQ(count(b.get()), "20");
  // A second writer is.
  EXPECT_EQ(exec(b.get(), "BEGIN IMMEDIATE"), SQLITE_BUSY);
  EXPECT_EQ(exec(b.get(), "INSERT INTO t(who) VALUES('b')"), SQLITE_BUSY);
  ASSERT_EQ(exec(a.get(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(count(b.get()), "21");
  // A read transaction keeps its snapshot while the other connection commits.
  ASSERT_EQ(exec(b.get(), "BEGIN"), SQLITE_OK);
  EXPECT_EQ(count(b.get()), "21");
  ASSERT_EQ(exec(a.get(), "INSERT INTO t(who) VALUES('a2')"), SQLITE_OK);
  EXPECT_EQ(count(b.get()), "21");
  ASSERT_EQ(exec(b.get(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(count(b.get()), "22");
  ASSERT_EQ(exec(b.get(), "INSERT INTO t(who) VALUES('b')"), SQLITE_OK);
  EXPECT_EQ(count(a.get()), "23");
  // Checkpointing while the other connection is open.
  EXPECT_EQ(exec(a.get(), "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
  EXPECT_EQ(count(b.get()), "23");
  b.reset();
  a.reset();
  Db c = open_db(db_path_, vfs_);
  ASSERT_TRUE(c);
  EXPECT_EQ(count(c.get()), "23");
  EXPECT_EQ(query(c.get(), "PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteVfsTest, InteroperatesWithUnixVfsLocks) {
  Db ours = open_db(db_path_, vfs_);
  ASSERT_TRUE(ours);
  use_wal(ours.get());
  create_table(ours.get(), 10);
  Db plain = open_db(db_path_, "");  // the standard unix VFS: POSIX locks
  ASSERT_TRUE(plain);
  EXPECT_EQ(count(plain.get()), "10");

  ASSERT_EQ(exec(ours.get(), "BEGIN IMMEDIATE"), SQLITE_OK);
  EXPECT_EQ(exec(plain.get(), "BEGIN IMMEDIATE"), SQLITE_BUSY);
  ASSERT_EQ(exec(ours.get(), "INSERT INTO t(who) VALUES('ours'); COMMIT"), SQLITE_OK);
  EXPECT_EQ(count(plain.get()), "11");

  ASSERT_EQ(exec(plain.get(), "BEGIN IMMEDIATE"), SQLITE_OK);
  EXPECT_EQ(exec(ours.get(), "BEGIN IMMEDIATE"), SQLITE_BUSY);
  ASSERT_EQ(exec(plain.get(), "INSERT INTO t(who) VALUES('plain'); COMMIT"), SQLITE_OK);
  EXPECT_EQ(count(ours.get()), "12");
}

TEST_F(SqliteVfsTest, InteroperatesWithUnixVfsInRollbackMode) {
  Db ours = open_db(db_path_, vfs_);
  ASSERT_TRUE(ours);
  EXPECT_EQ(query(ours.get(), "PRAGMA journal_mode=DELETE"), "delete");
  create_table(ours.get(), 10);
  Db plain = open_db(db_path_, "");
  ASSERT_TRUE(plain);

  // RESERVED conflicts with RESERVED.
  ASSERT_EQ(exec(ours.get(), "BEGIN IMMEDIATE"), SQLITE_OK);
  EXPECT_EQ(exec(plain.get(), "BEGIN IMMEDIATE"), SQLITE_BUSY);
  ASSERT_EQ(exec(ours.get(), "INSERT INTO t(who) VALUES('ours')"), SQLITE_OK);
  // A reader (SHARED) of the other VFS keeps the commit from getting EXCLUSIVE.
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(plain.get(), "SELECT id FROM t", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(exec(ours.get(), "COMMIT"), SQLITE_BUSY);
  sqlite3_finalize(stmt);
  ASSERT_EQ(exec(ours.get(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(count(plain.get()), "11");

  // And the other way round.
  ASSERT_EQ(exec(plain.get(), "BEGIN IMMEDIATE"), SQLITE_OK);
  EXPECT_EQ(exec(ours.get(), "BEGIN IMMEDIATE"), SQLITE_BUSY);
  ASSERT_EQ(exec(plain.get(), "INSERT INTO t(who) VALUES('plain')"), SQLITE_OK);
  ASSERT_EQ(sqlite3_prepare_v2(ours.get(), "SELECT id FROM t", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(exec(plain.get(), "COMMIT"), SQLITE_BUSY);
  sqlite3_finalize(stmt);
  ASSERT_EQ(exec(plain.get(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(count(ours.get()), "12");
}

// The child's side of ConcurrentProcesses; returns its exit status.
int child_main(const std::string& path, const std::string& vfs, int to_parent, int from_parent) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, vfs.c_str()) != SQLITE_OK) {
    return 10;
  }
  // The parent holds an open write transaction: reading works, writing is busy.
  if (count(db) != "10") return 11;
  if (exec(db, "BEGIN IMMEDIATE") != SQLITE_BUSY) return 12;
  char c = 'x';
  if (write(to_parent, &c, 1) != 1) return 13;
  if (read(from_parent, &c, 1) != 1) return 14;
  // The parent's commit is visible (and the parent may be adding more rows).
  if (std::atoi(count(db).c_str()) < 11) return 15;
  sqlite3_busy_timeout(db, 20000);
  for (int i = 0; i < 100; ++i) {
    if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) return 16;
    if (exec(db, "INSERT INTO t(who) VALUES('child')") != SQLITE_OK) return 17;
    if (exec(db, "COMMIT") != SQLITE_OK) return 18;
    if (query(db, "SELECT count(*) > 0 FROM t") != "1") return 19;
  }
  if (sqlite3_close(db) != SQLITE_OK) return 20;
  return 0;
}

TEST_F(SqliteVfsTest, ConcurrentProcesses) {
  Db db = open_db(db_path_, vfs_);
  ASSERT_TRUE(db);
  use_wal(db.get());
  create_table(db.get(), 10);
  int to_parent[2];
  int to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(exec(db.get(), "BEGIN IMMEDIATE; INSERT INTO t(who) VALUES('pending')"), SQLITE_OK);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child never touches the parent's connection; it opens its own.
    _exit(child_main(db_path_, vfs_, to_parent[1], to_child[0]));
  }
  char c = 0;
  EXPECT_EQ(read(to_parent[0], &c, 1), 1);
  EXPECT_EQ(exec(db.get(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(write(to_child[1], &c, 1), 1);
  sqlite3_busy_timeout(db.get(), 20000);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(exec(db.get(), "BEGIN IMMEDIATE"), SQLITE_OK) << sqlite3_errmsg(db.get());
    ASSERT_EQ(exec(db.get(), "INSERT INTO t(who) VALUES('parent')"), SQLITE_OK);
    ASSERT_EQ(exec(db.get(), "COMMIT"), SQLITE_OK) << sqlite3_errmsg(db.get());
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);

  EXPECT_EQ(count(db.get()), "211");
  EXPECT_EQ(query(db.get(), "SELECT count(*) FROM t WHERE who = 'child'"), "100");
  db.reset();
  Db again = open_db(db_path_, vfs_);
  ASSERT_TRUE(again);
  EXPECT_EQ(count(again.get()), "211");
  EXPECT_EQ(query(again.get(), "PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteVfsTest, WritesAndSyncsGoThroughTheFs) {
  RecordingFs fs;
  const std::string vfs = vfs_for(fs);
  Db db = open_db(db_path_, vfs);
  ASSERT_TRUE(db);
  use_wal(db.get());
  create_table(db.get(), 10);
  const std::string wal = db_path_ + "-wal";
  // New database and WAL files: their directory was synced.
  EXPECT_GE(fs.syncs(dir_), 2);

  fs.reset_counts();
  ASSERT_EQ(exec(db.get(), "INSERT INTO t(who) VALUES('counted')"), SQLITE_OK);
  EXPECT_GE(fs.writes(wal), 1);
  EXPECT_GE(fs.syncs(wal), 1);
  EXPECT_EQ(fs.writes(db_path_), 0);
  EXPECT_EQ(fs.syncs(dir_), 0);

  fs.reset_counts();
  ASSERT_EQ(exec(db.get(), "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
  EXPECT_GE(fs.writes(db_path_), 1);
  EXPECT_GE(fs.syncs(db_path_), 1);
  EXPECT_GE(fs.syncs(wal), 1);
}

TEST_F(SqliteVfsTest, FailedFsyncFailsTheCommit) {
  RecordingFs fs;
  const std::string vfs = vfs_for(fs);
  {
    Db db = open_db(db_path_, vfs);
    ASSERT_TRUE(db);
    use_wal(db.get());
    create_table(db.get(), 30);
    fs.fail_next_fsync = true;
    EXPECT_NE(exec(db.get(), "INSERT INTO t(who) VALUES('lost')"), SQLITE_OK);
    EXPECT_EQ(sqlite3_extended_errcode(db.get()), SQLITE_IOERR_FSYNC);
    EXPECT_FALSE(fs.fail_next_fsync);
    EXPECT_EQ(count(db.get()), "30");
  }
  Db db = open_db(db_path_, vfs_);
  ASSERT_TRUE(db);
  EXPECT_EQ(count(db.get()), "30");
  EXPECT_EQ(query(db.get(), "PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteVfsTest, FullDiskIsSqliteFull) {
  RecordingFs fs;
  const std::string vfs = vfs_for(fs);
  {
    Db db = open_db(db_path_, vfs);
    ASSERT_TRUE(db);
    use_wal(db.get());
    create_table(db.get(), 10);
    fs.fail_writes_errno = ENOSPC;
    EXPECT_NE(exec(db.get(), "INSERT INTO t(who, pad) VALUES('big', randomblob(100000))"),
              SQLITE_OK);
    EXPECT_EQ(sqlite3_errcode(db.get()), SQLITE_FULL);
    fs.fail_writes_errno = 0;
    EXPECT_EQ(count(db.get()), "10");
    EXPECT_EQ(exec(db.get(), "INSERT INTO t(who) VALUES('after')"), SQLITE_OK);
  }
  Db db = open_db(db_path_, vfs_);
  ASSERT_TRUE(db);
  EXPECT_EQ(count(db.get()), "11");
  EXPECT_EQ(query(db.get(), "PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteVfsTest, AnonymousTempFilesGoThroughTheFsAndAreUnlinked) {
  const std::string tmp = dir_ + "/tmp";
  ASSERT_TRUE(std::filesystem::create_directory(tmp));
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old != nullptr ? old : "";
  ASSERT_EQ(setenv("TMPDIR", tmp.c_str(), 1), 0);
  RecordingFs fs;
  const std::string vfs = vfs_for(fs);
  {
    Db db = open_db(db_path_, vfs);
    ASSERT_TRUE(db);
    ASSERT_EQ(exec(db.get(), "PRAGMA temp_store=FILE; PRAGMA temp.cache_size=5"), SQLITE_OK);
    ASSERT_EQ(exec(db.get(),
                   "CREATE TEMP TABLE tt AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                   "SELECT x + 1 FROM c WHERE x < 5000) SELECT x, randomblob(200) AS b FROM c"),
              SQLITE_OK)
        << sqlite3_errmsg(db.get());
    EXPECT_EQ(query(db.get(), "SELECT count(*) FROM (SELECT x FROM tt ORDER BY b)"), "5000");
    bool used_tmp = false;
    for (const std::string& p : fs.opened()) used_tmp |= p.rfind(tmp + "/etilqs_", 0) == 0;
    EXPECT_TRUE(used_tmp);
    EXPECT_TRUE(std::filesystem::is_empty(tmp));
  }
  if (old != nullptr) {
    setenv("TMPDIR", saved.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
}

// An sqlite3_file of the VFS, driven directly.
class RawFile {
 public:
  explicit RawFile(sqlite3_vfs* vfs)
      : vfs_(vfs),
        buf_((static_cast<size_t>(vfs->szOsFile) + sizeof(std::max_align_t) - 1) /
             sizeof(std::max_align_t)) {}
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;
  ~RawFile() {
    if (open_) close();
  }
  int open(const std::string& path, int flags) {
    int out = 0;
    const int rc = vfs_->xOpen(vfs_, path.c_str(), f(), flags, &out);
    open_ = rc == SQLITE_OK;
    return rc;
  }
  int close() {
    open_ = false;
    return f()->pMethods->xClose(f());
  }
  sqlite3_file* f() { return reinterpret_cast<sqlite3_file*>(buf_.data()); }
  const sqlite3_io_methods& m() { return *f()->pMethods; }
  int lock_state() {
    int state = -1;
    m().xFileControl(f(), SQLITE_FCNTL_LOCKSTATE, &state);
    return state;
  }
  int reserved() {
    int out = -1;
    EXPECT_EQ(m().xCheckReservedLock(f(), &out), SQLITE_OK);
    return out;
  }

 private:
  sqlite3_vfs* vfs_;
  std::vector<std::max_align_t> buf_;
  bool open_ = false;
};

constexpr int kMainDb = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

TEST_F(SqliteVfsTest, FileLocksFollowTheSqliteProtocol) {
  sqlite3_vfs* vfs = sqlite3_vfs_find(vfs_.c_str());
  ASSERT_NE(vfs, nullptr);
  RawFile a(vfs);
  RawFile b(vfs);
  ASSERT_EQ(a.open(db_path_, kMainDb), SQLITE_OK);
  ASSERT_EQ(b.open(db_path_, kMainDb), SQLITE_OK);
  EXPECT_EQ(a.m().xLock(a.f(), SQLITE_LOCK_SHARED), SQLITE_OK);
  EXPECT_EQ(b.m().xLock(b.f(), SQLITE_LOCK_SHARED), SQLITE_OK);
  EXPECT_EQ(b.reserved(), 0);
  EXPECT_EQ(a.m().xLock(a.f(), SQLITE_LOCK_RESERVED), SQLITE_OK);
  EXPECT_EQ(b.m().xLock(b.f(), SQLITE_LOCK_RESERVED), SQLITE_BUSY);
  EXPECT_EQ(b.reserved(), 1);
  EXPECT_EQ(a.reserved(), 1);
  // b's SHARED keeps a in PENDING, and PENDING keeps new readers out.
  EXPECT_EQ(a.m().xLock(a.f(), SQLITE_LOCK_EXCLUSIVE), SQLITE_BUSY);
  EXPECT_EQ(a.lock_state(), SQLITE_LOCK_PENDING);
  EXPECT_EQ(b.m().xUnlock(b.f(), SQLITE_LOCK_NONE), SQLITE_OK);
  EXPECT_EQ(b.m().xLock(b.f(), SQLITE_LOCK_SHARED), SQLITE_BUSY);
  EXPECT_EQ(a.m().xLock(a.f(), SQLITE_LOCK_EXCLUSIVE), SQLITE_OK);
  EXPECT_EQ(a.lock_state(), SQLITE_LOCK_EXCLUSIVE);
  EXPECT_EQ(a.m().xUnlock(a.f(), SQLITE_LOCK_SHARED), SQLITE_OK);
  EXPECT_EQ(b.reserved(), 0);
  EXPECT_EQ(b.m().xLock(b.f(), SQLITE_LOCK_SHARED), SQLITE_OK);
  EXPECT_EQ(a.m().xUnlock(a.f(), SQLITE_LOCK_NONE), SQLITE_OK);
  EXPECT_EQ(b.m().xLock(b.f(), SQLITE_LOCK_RESERVED), SQLITE_OK);
  EXPECT_EQ(b.m().xLock(b.f(), SQLITE_LOCK_EXCLUSIVE), SQLITE_OK);
  EXPECT_EQ(a.m().xLock(a.f(), SQLITE_LOCK_SHARED), SQLITE_BUSY);
  EXPECT_EQ(b.close(), SQLITE_OK);
  EXPECT_EQ(a.m().xLock(a.f(), SQLITE_LOCK_SHARED), SQLITE_OK);
}

TEST_F(SqliteVfsTest, ReadWriteTruncateAccessDelete) {
  sqlite3_vfs* vfs = sqlite3_vfs_find(vfs_.c_str());
  ASSERT_NE(vfs, nullptr);
  int res = -1;
  EXPECT_EQ(vfs->xAccess(vfs, db_path_.c_str(), SQLITE_ACCESS_EXISTS, &res), SQLITE_OK);
  EXPECT_EQ(res, 0);
  {
    RawFile a(vfs);
    ASSERT_EQ(a.open(db_path_, kMainDb), SQLITE_OK);
    // Empty files do not "exist" (as in the unix VFS).
    EXPECT_EQ(vfs->xAccess(vfs, db_path_.c_str(), SQLITE_ACCESS_EXISTS, &res), SQLITE_OK);
    EXPECT_EQ(res, 0);
    EXPECT_EQ(a.m().xWrite(a.f(), "hello", 5, 0), SQLITE_OK);
    char buf[10];
    std::memset(buf, 0x7f, sizeof(buf));
    EXPECT_EQ(a.m().xRead(a.f(), buf, 10, 0), SQLITE_IOERR_SHORT_READ);
    EXPECT_EQ(std::string(buf, 5), "hello");
    for (int i = 5; i < 10; ++i) EXPECT_EQ(buf[i], 0);
    sqlite3_int64 size = -1;
    EXPECT_EQ(a.m().xFileSize(a.f(), &size), SQLITE_OK);
    EXPECT_EQ(size, 5);
    EXPECT_EQ(a.m().xTruncate(a.f(), 2), SQLITE_OK);
    EXPECT_EQ(a.m().xFileSize(a.f(), &size), SQLITE_OK);
    EXPECT_EQ(size, 2);
    EXPECT_EQ(a.m().xSync(a.f(), SQLITE_SYNC_FULL), SQLITE_OK);
    EXPECT_EQ(a.m().xSectorSize(a.f()), 4096);
    EXPECT_EQ(a.m().xFileControl(a.f(), 999999, nullptr), SQLITE_NOTFOUND);
    sqlite3_int64 hint = 1 << 20;
    EXPECT_EQ(a.m().xFileControl(a.f(), SQLITE_FCNTL_SIZE_HINT, &hint), SQLITE_OK);
    EXPECT_EQ(a.m().xFileSize(a.f(), &size), SQLITE_OK);
    EXPECT_EQ(size, 2);
  }
  EXPECT_EQ(vfs->xAccess(vfs, db_path_.c_str(), SQLITE_ACCESS_EXISTS, &res), SQLITE_OK);
  EXPECT_EQ(res, 1);
  EXPECT_EQ(vfs->xAccess(vfs, db_path_.c_str(), SQLITE_ACCESS_READWRITE, &res), SQLITE_OK);
  EXPECT_EQ(res, 1);
  EXPECT_EQ(vfs->xDelete(vfs, db_path_.c_str(), 1), SQLITE_OK);
  EXPECT_FALSE(exists(db_path_));
  EXPECT_EQ(vfs->xDelete(vfs, db_path_.c_str(), 0), SQLITE_IOERR_DELETE_NOENT);

  // A named delete-on-close file disappears on close.
  {
    RawFile j(vfs);
    const std::string journal = db_path_ + "-journal";
    ASSERT_EQ(j.open(journal, SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_READWRITE |
                                  SQLITE_OPEN_CREATE | SQLITE_OPEN_DELETEONCLOSE),
              SQLITE_OK);
    EXPECT_TRUE(exists(journal));
    EXPECT_EQ(j.close(), SQLITE_OK);
    EXPECT_FALSE(exists(journal));
  }
  EXPECT_EQ(RawFile(vfs).open(dir_ + "/missing/x.db", kMainDb), SQLITE_CANTOPEN);

  char out[4097];
  EXPECT_EQ(vfs->xFullPathname(vfs, "/a/./b//c.db", sizeof(out), out), SQLITE_OK);
  EXPECT_STREQ(out, "/a/b/c.db");
  EXPECT_EQ(vfs->xFullPathname(vfs, "/a/b/c.db", 5, out), SQLITE_CANTOPEN);
}

}  // namespace
}  // namespace rwd::catalog
