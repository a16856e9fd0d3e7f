// SPDX-License-Identifier: Apache-2.0
// The OS calls of rewindd and its clients, kept in io/ like every other
// system call (STYLE.md §4): the UNIX stream socket (listening, connecting,
// the peer's credentials), signals as a descriptor, systemd's notification
// and journal protocols, and idle CPU/I/O priority for scheduled work.
// Nothing here knows the daemon's protocol; the daemon layer speaks JSON
// lines over these descriptors.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::io {

// Who is at the other end of a connected UNIX socket, as the kernel says
// (SO_PEERCRED, SO_PEERGROUPS): nothing the client sends can change it.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

// A listening UNIX stream socket at `path`. Its parent directories are
// created 0755 (others may traverse them to reach the socket); a stale
// socket left by a crashed daemon is replaced; the socket is made `mode`
// and owned by root:`gid`. The destructor closes it and removes the path.
// Errors: kPermissionDenied, kBusy (another daemon answers at `path`),
// kIo.
class UnixListener {
 public:
  static Result<UnixListener> listen(const std::string& path, mode_t mode, gid_t gid);
  UnixListener(UnixListener&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  UnixListener& operator=(UnixListener&&) = delete;
  UnixListener(const UnixListener&) = delete;
  ~UnixListener();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Accepts one connection (the socket is non-blocking: kBusy when none
  // is waiting).
  Result<Fd> accept();

 private:
  UnixListener(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// Changes the socket's owner group and mode again (after a reload).
Status set_socket_access(const std::string& path, mode_t mode, gid_t gid);

// Connects to the socket at `path`. Errors: kNotFound (no socket: the
// daemon does not run), kPermissionDenied (the socket's mode refuses the
// caller), kIo (refused: a stale socket).
Result<Fd> connect_unix(const std::string& path);

Result<PeerCredentials> peer_credentials(int fd);

// Reads up to and excluding the first '\n' (at most `max` bytes, within
// `timeout`). Errors: kTimeout, kCorruptedData (too long, or the peer
// closed before the newline), kIo.
Result<std::string> read_line(int fd, std::chrono::milliseconds timeout, size_t max);
// Writes all of `data` (a send without SIGPIPE). Errors: kIo.
Status send_all(int fd, std::string_view data);

// SIGTERM, SIGHUP and SIGINT as a readable descriptor: they are blocked in
// the calling thread (call before any thread starts, so every thread
// inherits the mask) and delivered through signalfd.
class SignalFd {
 public:
  static Result<SignalFd> create();
  SignalFd(SignalFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  SignalFd& operator=(SignalFd&&) = delete;
  SignalFd(const SignalFd&) = delete;
  ~SignalFd();
  int fd() const { return fd_; }
  // The pending signal, or 0 when none is.
  int take();

 private:
  explicit SignalFd(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Waits until one of `fds` is readable or `timeout` passes; returns the
// readable ones' indexes (empty on timeout or EINTR).
std::vector<size_t> wait_readable(const std::vector<int>& fds, std::chrono::milliseconds timeout);

// sd_notify(3): "READY=1", "STATUS=...", "WATCHDOG=1", "RELOADING=1",
// "STOPPING=1". A no-op without NOTIFY_SOCKET.
void notify(std::string_view state);
// Half of the watchdog interval systemd asked for (WATCHDOG_USEC for this
// pid), or zero when there is no watchdog.
std::chrono::milliseconds watchdog_period();

// One structured log entry to the journal (sd_journal_send) with a stable
// MESSAGE_ID; false when the journal cannot be reached (the caller logs
// the same line elsewhere).
bool journal_send(std::string_view message_id, int priority, std::string_view message);

// Moves the calling thread (and the threads it starts later) to the idle
// I/O class (ioprio_set IOPRIO_CLASS_IDLE) and the SCHED_IDLE CPU policy,
// so scheduled work yields to everything else. Errors: kPermissionDenied, kIo.
Status set_thread_idle_priority();

}  // namespace rwd::io
