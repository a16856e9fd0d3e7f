// SPDX-License-Identifier: Apache-2.0
#include "io/probe.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rwd::io {

bool unix_socket_answers(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  ::close(fd);
  return rc == 0;
}

Result<std::vector<KmsgRecord>> read_kmsg(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(Error::from_errno(errno, path));
  std::vector<KmsgRecord> out;
  // Each read returns one record; EAGAIN means the newest was read; EPIPE
  // means records were overwritten before we read them (go on with the next).
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR || errno == EPIPE) continue;
      break;
    }
    if (n == 0) break;
    std::string_view rec(buf, static_cast<size_t>(n));
    size_t semi = rec.find(';');
    if (semi == std::string_view::npos) continue;
    KmsgRecord r;
    std::string_view head = rec.substr(0, semi);
    size_t c1 = head.find(',');
    if (c1 != std::string_view::npos) {
      size_t c2 = head.find(',', c1 + 1);
      for (char ch : head.substr(c1 + 1, c2 == std::string_view::npos ? head.npos : c2 - c1 - 1))
        if (ch >= '0' && ch <= '9') r.seq = r.seq * 10 + static_cast<uint64_t>(ch - '0');
    }
    std::string_view msg = rec.substr(semi + 1);
    // Continuation lines (" KEY=value") follow the message.
    msg = msg.substr(0, msg.find('\n'));
    r.message = std::string(msg);
    out.push_back(std::move(r));
  }
  ::close(fd);
  return out;
}

}  // namespace rwd::io
