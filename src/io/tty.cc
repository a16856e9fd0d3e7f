// SPDX-License-Identifier: Apache-2.0
#include "io/tty.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

namespace rwd::io {

bool interactive() { return ::isatty(STDIN_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1; }

Result<std::string> read_secret(const std::string& prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return fail(Error::usage("no terminal to ask for a passphrase on"));
  struct termios old {};
  bool restore = ::tcgetattr(fd, &old) == 0;
  if (restore) {
    struct termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ICANON;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string text = prompt + ": ";
  ssize_t w = ::write(fd, text.data(), text.size());
  (void)w;  // a prompt that cannot be shown still lets the person type
  std::string line;
  int err = 0;
  while (true) {
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0 || c == '\n') break;
    line.push_back(c);
  }
  if (restore) ::tcsetattr(fd, TCSAFLUSH, &old);
  w = ::write(fd, "\n", 1);
  (void)w;
  ::close(fd);
  if (err != 0) return fail(Error::from_errno(err, "reading the passphrase"));
  return line;
}

}  // namespace rwd::io
