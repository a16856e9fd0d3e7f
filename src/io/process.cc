// SPDX-License-Identifier: Apache-2.0
#include "io/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace rwd::io {

namespace {

constexpr size_t kMaxOutput = 64 * 1024;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The last signal to pass on (forward_signals); 0 when none is pending.
volatile sig_atomic_t g_forward = 0;

void remember_signal(int sig) { g_forward = sig; }

// Installs remember_signal for the forwarded signals; puts the previous
// handlers back when it goes.
class SignalForwarding {
 public:
  explicit SignalForwarding(bool on) : on_(on) {
    if (!on_) return;
    g_forward = 0;
    struct sigaction sa {};
    sa.sa_handler = remember_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~SignalForwarding() {
    if (!on_) return;
    for (size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
  }
  SignalForwarding(const SignalForwarding&) = delete;
  SignalForwarding& operator=(const SignalForwarding&) = delete;

 private:
  static constexpr std::array<int, 4> kSignals{SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  bool on_;
  std::array<struct sigaction, 4> old_{};
};

}  // namespace

Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  std::chrono::milliseconds grace) {
  ProcessOptions o;
  o.timeout = timeout;
  o.grace = grace;
  return run_process(argv, o);
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  const ProcessOptions& opts) {
  const auto timeout = opts.timeout;
  const auto grace = opts.grace;
  if (argv.empty() || argv[0].empty()) return fail(Error::usage("empty command"));
  // The environment: rewind's, with opts.env added or replacing.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    std::string_view name = v.substr(0, v.find('='));
    bool replaced = false;
    for (const auto& add : opts.env)
      if (std::string_view(add).substr(0, add.find('=')) == name) replaced = true;
    if (!replaced) env_store.emplace_back(v);
  }
  env_store.insert(env_store.end(), opts.env.begin(), opts.env.end());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  SignalForwarding forwarding(opts.forward_signals);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    return fail(Error(ErrorCode::kIo, fmt::format("pipe: {}", std::strerror(errno)), errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // With inherit_output nothing is captured: the pipe's write end is closed
  // in the child (O_CLOEXEC), so the read end below sees end-of-file at once.
  if (opts.inherit_output) {
  } else if (opts.stdout_path.empty())
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  else
    posix_spawn_file_actions_addopen(&fa, 1, opts.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
  if (!opts.inherit_output) posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  if (!opts.inherit_output || !opts.stdin_path.empty())
    posix_spawn_file_actions_addopen(
        &fa, 0, opts.stdin_path.empty() ? "/dev/null" : opts.stdin_path.c_str(), O_RDONLY, 0);
  if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, opts.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    if (rc == ENOENT)
      return fail(Error(ErrorCode::kNotFound, fmt::format("{}: command not found", argv[0]), rc));
    if (rc == EACCES || rc == EPERM || rc == ENOEXEC)
      return fail(Error(ErrorCode::kPermissionDenied,
                        fmt::format("{}: cannot run: {}", argv[0], std::strerror(rc)), rc));
    return fail(Error(ErrorCode::kIo, fmt::format("{}: {}", argv[0], std::strerror(rc)), rc));
  }
  ProcessResult res;
  int64_t deadline = now_ms() + timeout.count();
  int64_t kill_at = 0;
  bool open = true;
  int status = 0;
  bool reaped = false;
  while (!reaped) {
    if (const int sig = g_forward; opts.forward_signals && sig != 0) {
      g_forward = 0;
      res.interrupted_by = sig;
      ::kill(-pid, sig);
    }
    int64_t now = now_ms();
    if (!res.timed_out && now >= deadline) {
      res.timed_out = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + grace.count();
    } else if (res.timed_out && kill_at != 0 && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at = 0;
    }
    if (open) {
      struct pollfd p {
        pipefd[0], POLLIN, 0
      };
      int pr = ::poll(&p, 1, 50);
      if (pr > 0) {
        char buf[4096];
        ssize_t n = ::read(pipefd[0], buf, sizeof(buf));
        if (n > 0) {
          if (res.output.size() < kMaxOutput)
            res.output.append(
                buf, std::min<size_t>(static_cast<size_t>(n), kMaxOutput - res.output.size()));
        } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
          open = false;
        }
      }
    } else {
      ::usleep(20 * 1000);
    }
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) reaped = true;
  }
  // Whatever the group left behind when its leader ended on a timeout or
  // after a forwarded signal: nothing of the command may race what comes
  // next (the rollback of what it left half done).
  if (res.timed_out || res.interrupted_by != 0) ::kill(-pid, SIGKILL);
  ::close(pipefd[0]);
  if (WIFEXITED(status)) {
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.signal = WTERMSIG(status);
  }
  return res;
}

std::string describe(const ProcessResult& r) {
  if (r.timed_out) return "ran out of time and was stopped";
  if (r.signal != 0) return fmt::format("was killed by signal {}", r.signal);
  return fmt::format("exited with status {}", r.exit_code);
}

}  // namespace rwd::io
