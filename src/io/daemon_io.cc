// SPDX-License-Identifier: Apache-2.0
#include "io/daemon_io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstring>

namespace rwd::io {

namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return fail(
        Error::usage("socket path {} is longer than {} bytes", path, sizeof(addr.sun_path) - 1));
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// mkdir -p with mode 0755 for the directories that do not exist yet.
Status make_parents(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return fail(Error::from_errno(errno, "creating the socket's directory " + dir));
  }
  return ok();
}

}  // namespace

Result<UnixListener> UnixListener::listen(const std::string& path, mode_t mode, gid_t gid) {
  REWIND_ASSIGN_OR_RETURN(sockaddr_un addr, unix_address(path));
  REWIND_TRY(make_parents(path));
  // A socket that still answers belongs to a running daemon; one that
  // refuses is a crashed daemon's leftover and is replaced.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail(
          Error::invalid_state("{} exists and is not a socket; remove it or configure "
                               "another [daemon] socket",
                               path));
    if (auto c = connect_unix(path))
      return fail(Error::busy("another rewindd answers at {}; stop it first", path));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return fail(Error::from_errno(errno, "removing the stale socket " + path));
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(Error::from_errno(errno, "socket"));
  UnixListener l(fd, path);
  // Created with no access for anyone but root, then opened up to the
  // configured group: no window in which others could connect.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int e = errno;
  ::umask(old);
  if (rc != 0) {
    l.path_.clear();  // not ours to remove
    return fail(Error::from_errno(e, "binding " + path));
  }
  REWIND_TRY(set_socket_access(path, mode, gid));
  if (::listen(fd, 64) != 0) return fail(Error::from_errno(errno, "listen on " + path));
  return l;
}

UnixListener::~UnixListener() {
  if (fd_ >= 0) ::close(fd_);
  if (!path_.empty() && fd_ >= 0) ::unlink(path_.c_str());
}

Result<Fd> UnixListener::accept() {
  int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
      return fail(Error::busy("no connection waiting"));
    return fail(Error::from_errno(errno, "accept on " + path_));
  }
  return Fd(&default_fs(), c);
}

Status set_socket_access(const std::string& path, mode_t mode, gid_t gid) {
  if (::chown(path.c_str(), 0, gid) != 0 && ::geteuid() == 0)
    return fail(Error::from_errno(errno, fmt::format("giving {} to group {}", path, gid)));
  if (::chmod(path.c_str(), mode) != 0)
    return fail(Error::from_errno(errno, "setting the mode of " + path));
  return ok();
}

Result<Fd> connect_unix(const std::string& path) {
  REWIND_ASSIGN_OR_RETURN(sockaddr_un addr, unix_address(path));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Error::from_errno(errno, "socket"));
  Fd owned(&default_fs(), fd);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    if (e == ENOENT || e == ECONNREFUSED)
      return fail(Error::not_found("rewindd does not answer at {} ({}); is it running?", path,
                                   std::strerror(e)));
    return fail(Error::from_errno(e, "connecting to rewindd at " + path));
  }
  return owned;
}

Result<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return fail(Error::from_errno(errno, "SO_PEERCRED"));
  PeerCredentials p;
  p.pid = cred.pid;
  p.uid = cred.uid;
  p.gid = cred.gid;
  std::vector<gid_t> groups(64);
  for (;;) {
    len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      break;
    }
    if (errno != ERANGE) return fail(Error::from_errno(errno, "SO_PEERGROUPS"));
    // len now holds the size the kernel needs.
    groups.resize(len / sizeof(gid_t) + 1);
  }
  p.groups = std::move(groups);
  return p;
}

Result<std::string> read_line(int fd, std::chrono::milliseconds timeout, size_t max) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return fail(Error::timeout("no complete line within {} ms", timeout.count()));
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return fail(Error::from_errno(errno, "poll"));
    }
    if (rc == 0) continue;
    // Read one byte at a time past the newline is never needed: the
    // protocol is one request and one response per connection.
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return fail(Error::from_errno(errno, "reading from the socket"));
    }
    if (n == 0) return fail(Error::corrupted_data("the peer closed the connection mid-line"));
    out.append(buf, static_cast<size_t>(n));
    if (auto nl = out.find('\n'); nl != std::string::npos) {
      out.resize(nl);
      return out;
    }
    if (out.size() > max) return fail(Error::corrupted_data("line longer than {} bytes", max));
  }
}

Status send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Error::from_errno(errno, "writing to the socket"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ok();
}

Result<SignalFd> SignalFd::create() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGINT);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0)
    return fail(Error::io("blocking SIGTERM/SIGHUP failed"));
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return fail(Error::from_errno(errno, "signalfd"));
  return SignalFd(fd);
}

SignalFd::~SignalFd() {
  if (fd_ >= 0) ::close(fd_);
}

int SignalFd::take() {
  signalfd_siginfo info{};
  ssize_t n = ::read(fd_, &info, sizeof(info));
  if (n != static_cast<ssize_t>(sizeof(info))) return 0;
  return static_cast<int>(info.ssi_signo);
}

std::vector<size_t> wait_readable(const std::vector<int>& fds, std::chrono::milliseconds timeout) {
  std::vector<pollfd> p;
  for (int fd : fds) p.push_back(pollfd{fd, POLLIN, 0});
  std::vector<size_t> out;
  int rc = ::poll(p.data(), p.size(), static_cast<int>(std::max<int64_t>(0, timeout.count())));
  if (rc <= 0) return out;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) out.push_back(i);
  return out;
}

void notify(std::string_view state) {
  std::string s(state);
  // sd_notify ignores the call without NOTIFY_SOCKET; its result says only
  // whether a message went out, which changes nothing here.
  (void)::sd_notify(0, s.c_str());
}

std::chrono::milliseconds watchdog_period() {
  uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(usec / 2000);
}

bool journal_send(std::string_view message_id, int priority, std::string_view message) {
  std::string id(message_id);
  std::string msg(message);
  return ::sd_journal_send("MESSAGE=%s", msg.c_str(), "MESSAGE_ID=%s", id.c_str(), "PRIORITY=%i",
                           priority, "SYSLOG_IDENTIFIER=rewindd", nullptr) == 0;
}

Status set_thread_idle_priority() {
  // ioprio_set(IOPRIO_WHO_PROCESS, 0 = this thread, IOPRIO_CLASS_IDLE << 13);
  // glibc has no wrapper.
  constexpr int kIoprioWhoProcess = 1;
  constexpr int kIoprioClassIdle = 3;
  constexpr int kIoprioClassShift = 13;
  if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, kIoprioClassIdle << kIoprioClassShift) != 0)
    return fail(Error::from_errno(errno, "ioprio_set(IOPRIO_CLASS_IDLE)"));
  sched_param sp{};
  if (::sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
    return fail(Error::from_errno(errno, "sched_setscheduler(SCHED_IDLE)"));
  return ok();
}

}  // namespace rwd::io
