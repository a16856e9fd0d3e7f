// SPDX-License-Identifier: Apache-2.0
#include "support/test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

extern char** environ;

namespace rwd::testing {

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/var/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  // Clear immutable/append-only flags a test may have left, then remove.
  std::string cmd_err;
  run({"chattr", "-R", "-i", "-a", path_});
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              int timeout_seconds, const std::string& stdin_data) {
  RunResult r;
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      pipe2(in_pipe, O_CLOEXEC) != 0)
    return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string s(*e);
    std::string key = s.substr(0, s.find('='));
    if (!env.contains(key)) envs.push_back(s);
  }
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  pid_t pid;
  int rc = argv[0].find('/') != std::string::npos
               ? posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), cenv.data())
               : posix_spawnp(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::close(in_pipe[1]);
    r.err = std::string("spawn failed: ") + std::strerror(rc);
    r.exit_code = 127;
    return r;
  }
  if (!stdin_data.empty()) {
    ssize_t n = ::write(in_pipe[1], stdin_data.data(), stdin_data.size());
    (void)n;
  }
  ::close(in_pipe[1]);
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  char buf[65536];
  while (open_fds > 0) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, left) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string rewind_binary() {
  const char* p = std::getenv("REWIND_BIN");
  return p ? p : REWIND_BIN_DEFAULT;
}

std::string rewind_faulty_binary() {
  const char* p = std::getenv("REWIND_FAULTY_BIN");
  return p ? p : REWIND_FAULTY_BIN_DEFAULT;
}

RunResult rewind(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv{rewind_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, env);
}

namespace {
// Files whose allocated size is well below their length.
void sparse_files(const std::string& root, std::map<std::string, bool>& out) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           root, std::filesystem::directory_options::none, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    bool sparse =
        static_cast<uint64_t>(st.st_blocks) * 512 + 65536 < static_cast<uint64_t>(st.st_size);
    out[std::filesystem::relative(it->path(), root).string()] = sparse;
  }
}
}  // namespace

std::string tree_diff(const std::string& a, const std::string& b, bool ignore_root) {
  RunResult r = run({"rsync", "-naHAXc", "--delete", "--numeric-ids", "--modify-window=-1",
                     "--itemize-changes", a + "/", b + "/"});
  std::string diff;
  if (r.exit_code != 0) return "rsync failed: " + r.err;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (ignore_root && line.size() > 12 && line.substr(12) == "./") continue;
    diff += line + "\n";
  }
  std::map<std::string, bool> sa, sb;
  sparse_files(a, sa);
  sparse_files(b, sb);
  for (const auto& [p, s] : sa)
    if (s && sb.contains(p) && !sb[p]) diff += "not sparse: " + p + "\n";
  return diff;
}

void write_file(const std::string& path, const std::string& data, int mode) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  f.close();
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = g();
    std::memcpy(&s[i], &v, std::min<size_t>(8, n - i));
  }
  return s;
}

}  // namespace rwd::testing
