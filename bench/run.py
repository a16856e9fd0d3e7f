#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Side-by-side benchmark of rewind against restic, borg and rsync --link-dest.

For each tool, in rounds (run 1 of every tool, then run 2 of every tool, ...),
on the same deterministic tree made by make-dataset.py:

  (a) first backup of the tree into a new repository
  (b) second backup, nothing changed
  (c) backup after mutate-dataset.py changed the tree in place
  (d) full restore of the latest backup into an empty directory
  (e) restore of one small file deep in the tree
  (f) repository size after (a) and after (c): apparent bytes and disk usage
  (g) peak memory: the largest max RSS of steps (a)-(d)

Every step is a process of its own, timed for wall time, user and system CPU
and max RSS (os.wait4 on the child, which includes the children it waited
for).  Before each step its input (tree, repository, cache) is read once,
untimed, so the page cache is warm the same way for every tool, and dirty
pages are flushed (untimed; the time of that sync is kept in the JSON).
Every restore (d) is compared with the source tree by rsync -c (no code shared
with any tool under test), and the restored file of (e) byte for byte.

The tree is reset to the pristine copy (rsync) before each round, so every
round of every tool starts from the same bytes.  Medians over --runs.

The command lines of every tool are in COMMANDS below, in one place.
"""

import argparse
import dataclasses
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REWIND = os.path.join(os.path.dirname(HERE), "build", "src", "cli", "rewind")
DEFAULT_WORKDIR = "/var/tmp/rewind-bench"

# ----------------------------------------------------------------------------- the tools' command lines
#
# Each template is split like a shell line (shlex), then every word is formatted with:
#   {rewind} the rewind binary   {repo} the repository (or snapshot/archive dir)   {cache} a per-tool cache dir
#   {tree} the tree to back up   {dest} the restore target   {file} the single file, relative to the tree root
#   {n} number of this backup (1, 2, 3)   {prev} the one before   {last} the last one (3, or 1 for (a)-only tools)
# A word "@paths" expands to the rewind path arguments (see --rewind-paths).
# backup_first, when given, replaces backup for backup 1.  *_cwd: working directory of that step.
# dump_stdout: the single-file command writes the file to stdout (else it writes into {dest}).
# mkrepo: create {repo} as an empty directory before init.  steps: the steps the tool takes part in.

BORG_ENV = {"BORG_PASSPHRASE": "", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes", "BORG_BASE_DIR": "{cache}"}

COMMANDS = {
    "rewind": {
        "binary": "{rewind}",
        "init": "{rewind} --repo {repo} init",
        "backup": "{rewind} --repo {repo} --root {tree} create @paths -q",
        "restore": "{rewind} --repo {repo} --root {tree} restore latest --to {dest} -q",
        "dump": "{rewind} --repo {repo} --root {tree} dump latest /{file}",
        "dump_stdout": True,
        "version": "{rewind} --version",
        # left out of every backup by rewind's default excludes: not compared after a restore
        "verify_exclude": ["/dev", "/proc", "/run", "/sys", "/tmp"],
    },
    "restic": {
        "binary": "restic",
        "env": {"RESTIC_PASSWORD": "x"},
        "init": "restic -r {repo} --cache-dir {cache} init",
        "backup": "restic -r {repo} --cache-dir {cache} backup .",
        "backup_cwd": "{tree}",
        "restore": "restic -r {repo} --cache-dir {cache} restore latest --target {dest}",
        "dump": "restic -r {repo} --cache-dir {cache} dump latest /{file}",
        "dump_stdout": True,
        "version": "restic version",
    },
    "borg-lz4": {
        "binary": "borg",
        "env": BORG_ENV,
        "init": "borg init --encryption none {repo}",
        "backup": "borg create --compression lz4 {repo}::a{n} .",
        "backup_cwd": "{tree}",
        "restore": "borg extract {repo}::a{last}",
        "restore_cwd": "{dest}",
        "dump": "borg extract --stdout {repo}::a{last} {file}",
        "dump_stdout": True,
        "version": "borg --version",
    },
    "borg-zstd": {
        "binary": "borg",
        "env": BORG_ENV,
        "init": "borg init --encryption none {repo}",
        "backup": "borg create --compression zstd,3 {repo}::a{n} .",
        "backup_cwd": "{tree}",
        "restore": "borg extract {repo}::a{last}",
        "restore_cwd": "{dest}",
        "dump": "borg extract --stdout {repo}::a{last} {file}",
        "dump_stdout": True,
        "version": "borg --version",
    },
    "rsync": {                                   # the Timeshift model: hard-linked snapshot directories
        "binary": "rsync",
        "mkrepo": True,
        "backup_first": "rsync -aH {tree}/ {repo}/snap{n}/",
        "backup": "rsync -aH --link-dest={repo}/snap{prev} {tree}/ {repo}/snap{n}/",
        "restore": "rsync -aH {repo}/snap{last}/ {dest}/",
        "dump": "cp -a {repo}/snap{last}/{file} {dest}/",
        "dump_stdout": False,
        "version": "rsync --version",
    },
    "tar": {                                     # reference point for (a) only: one compressed archive
        "binary": "tar",
        "needs": ["zstd"],
        "mkrepo": True,
        "steps": ["a"],
        "backup": "sh -c 'tar -C \"$0\" -cf - . | zstd -3 -T0 -q > \"$1\"' {tree} {repo}/out.tar.zst",
        "version": "tar --version",
    },
}
ALL_TOOLS = list(COMMANDS)
COMPARE_WITH = ["restic", "borg-lz4", "borg-zstd", "rsync", "tar"]

STEP_NAMES = {"a": "first backup", "b": "second backup, no change", "c": "backup after mutate",
              "d": "full restore", "e": "single-file restore"}

# the restore check: must print nothing (the top directory's own time is ignored, see TOP_DIR_TIME)
VERIFY_CMD = ["rsync", "-naHAXc", "--delete", "--modify-window=-1", "--itemize-changes", "--numeric-ids"]
TOP_DIR_TIME = re.compile(r"^\.d\.\.t\.+ \./$")


def load_module(filename, name):
    """Import a sibling script whose file name is not a valid module name."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, filename))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def log(msg):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def expand(template, values, paths=()):
    """Split a command template like a shell line and fill in the placeholders."""
    out = []
    for word in shlex.split(template):
        if word == "@paths":
            out.extend(paths)
        else:
            out.append(word.format(**values))
    return out


# ----------------------------------------------------------------------------- measuring

@dataclasses.dataclass
class Measured:
    """What one timed process cost."""
    ok: bool
    rc: int
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_mib: float
    sync_s: float = 0.0
    other_cpu_s: float = 0.0      # CPU time used by other processes of the machine during the step
    stderr_tail: str = ""
    note: str = ""

    @property
    def cpu_s(self):
        return self.user_s + self.sys_s

    def as_dict(self):
        d = dataclasses.asdict(self)
        d["cpu_s"] = round(self.cpu_s, 3)
        return d


def tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 8192))
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def machine_cpu_s():
    """CPU seconds the whole machine has been busy (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]          # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def run_timed(argv, cwd=None, env=None, stdout_path=None, stderr_path=None, timeout=3600.0):
    """Run argv as its own process; wall time, CPU and max RSS of it and the children it waited for."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
    killed = []
    try:
        busy0 = machine_cpu_s()
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        except OSError as e:
            return Measured(False, -1, 0.0, 0.0, 0.0, 0.0, stderr_tail=str(e))

        def kill():
            killed.append(True)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
        busy = machine_cpu_s() - busy0
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
    finally:
        for f in (out, err):
            if f is not subprocess.DEVNULL:
                f.close()
    m = Measured(rc == 0 and not killed, rc, round(wall, 3), round(ru.ru_utime, 3), round(ru.ru_stime, 3),
                 round(ru.ru_maxrss / 1024, 1))
    m.other_cpu_s = round(max(0.0, busy - m.cpu_s), 2)
    if not m.ok:
        m.stderr_tail = tail(stderr_path) if stderr_path else ""
        if killed:
            m.note = f"killed after {timeout:.0f}s timeout"
    return m


def skipped(reason):
    """The result of a step that was not run because an earlier one failed."""
    return Measured(False, -1, 0.0, 0.0, 0.0, 0.0, note=f"skipped: {reason}").as_dict()


def timed_sync():
    t0 = time.monotonic()
    os.sync()
    return round(time.monotonic() - t0, 3)


def warm(paths):
    """Read every regular file under paths once (each inode once), untimed, to warm the page cache."""
    buf = bytearray(1 << 20)
    seen = set()
    for top in paths:
        if not os.path.exists(top):
            continue
        for root, _, files in os.walk(top):
            for name in files:
                p = os.path.join(root, name)
                try:
                    st = os.lstat(p)
                    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                    with open(p, "rb", buffering=0) as f:
                        while f.readinto(buf):
                            pass
                except OSError:
                    pass


def disk_usage(paths):
    """(apparent bytes, disk bytes) of everything under paths, each inode once, like du -sb / du -sB1."""
    apparent = disk = 0
    seen = set()
    for top in paths:
        if not os.path.lexists(top):
            continue
        entries = [top] if not os.path.isdir(top) else []
        for root, dirs, files in os.walk(top):
            entries.append(root)
            entries.extend(os.path.join(root, n) for n in files + [d for d in dirs
                                                                    if os.path.islink(os.path.join(root, d))])
        for p in entries:
            st = os.lstat(p)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            apparent += st.st_size
            disk += st.st_blocks * 512
    return apparent, disk


def rm_rf(path):
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--one-file-system", path], check=True)


# ----------------------------------------------------------------------------- the benchmark

class Bench:
    """Owns the work directory, the data set and the results."""

    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.workdir)
        self.orig = os.path.join(self.work, "dataset", "orig")
        self.stamp = os.path.join(self.work, "dataset", "orig.json")
        self.tree = os.path.join(self.work, "tree")
        self.logs = os.path.join(self.work, "logs")
        self.out = os.path.abspath(args.out or os.path.join(self.work, "results.json"))
        self.md = load_module("make-dataset.py", "make_dataset")
        self.plan_stats = self.md.Plan(args.scale).stats()
        self.rewind = os.path.abspath(args.rewind)
        self.rewind_paths = args.rewind_paths
        self.results = {"meta": {}, "tools": {}}

    # -- setup
    def check_space(self):
        """Refuse early when the disk cannot hold the tree, its copy, a repository and a restore."""
        size = self.plan_stats["bytes"]
        need = int(self.args.space_factor * size)
        if self._dataset_valid():
            need -= size
        probe = self.work
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        free = shutil.disk_usage(probe).free
        if free < need:
            sys.exit(f"run.py: not enough free disk space in {probe}: need about {need / 2**30:.1f} GiB "
                     f"({self.args.space_factor:g} x the {size / 2**30:.2f} GiB data set at --scale {self.args.scale:g}), "
                     f"have {free / 2**30:.1f} GiB free. Use --workdir on a bigger file system or a smaller --scale.")
        log(f"disk: {free / 2**30:.1f} GiB free in {probe}, need about {need / 2**30:.1f} GiB")

    def _generator_id(self):
        h = hashlib.sha256()
        for name in ("make-dataset.py",):
            with open(os.path.join(HERE, name), "rb") as f:
                h.update(f.read())
        return h.hexdigest()

    def _dataset_valid(self):
        try:
            with open(self.stamp) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return False
        return (st.get("scale") == self.args.scale and st.get("generator") == self._generator_id()
                and os.path.isdir(self.orig))

    def prepare_dataset(self):
        """Generate the pristine tree once (reused across runs of run.py while the generator is unchanged)."""
        if self._dataset_valid() and not self.args.regenerate:
            log(f"data set: reusing {self.orig}")
            return
        rm_rf(self.orig)
        rm_rf(self.stamp)
        os.makedirs(os.path.dirname(self.orig), exist_ok=True)
        log(f"data set: generating at --scale {self.args.scale:g} "
            f"({self.plan_stats['entries']} entries, {self.plan_stats['bytes'] / 2**20:.0f} MiB)")
        t0 = time.monotonic()
        subprocess.run([sys.executable, os.path.join(HERE, "make-dataset.py"), self.orig, "--scale",
                        str(self.args.scale), "-q"], check=True)
        with open(self.stamp, "w") as f:
            json.dump({"scale": self.args.scale, "generator": self._generator_id(), "stats": self.plan_stats}, f)
        log(f"data set: done in {time.monotonic() - t0:.0f}s")

    def reset_tree(self):
        """Make the working tree equal to the pristine copy (only changed files are copied)."""
        subprocess.run(["rsync", "-aH", "--delete", "--numeric-ids", self.orig + "/", self.tree + "/"], check=True)
        diff = subprocess.run(["rsync", "-naHAX", "--delete", "--modify-window=-1", "--itemize-changes",
                               "--numeric-ids", self.orig + "/", self.tree + "/"],
                              check=True, capture_output=True, text=True).stdout.split("\n")
        diff = [d for d in diff if d and not TOP_DIR_TIME.match(d)]
        if diff:
            raise RuntimeError(f"tree reset failed: {diff[:5]}")

    def mutate_tree(self):
        subprocess.run([sys.executable, os.path.join(HERE, "mutate-dataset.py"), self.tree, "-q", "--json",
                        os.path.join(self.logs, "mutation.json")], check=True)

    # -- tools
    def tool_available(self, name):
        """(available, note) for a tool."""
        spec = COMMANDS[name]
        for binary in [spec["binary"]] + spec.get("needs", []):
            if binary == "{rewind}":
                if not (os.path.isfile(self.rewind) and os.access(self.rewind, os.X_OK)):
                    return False, f"rewind binary not found at {self.rewind} (--rewind PATH or REWIND=PATH)"
            elif not shutil.which(binary):
                return False, f"{binary} not installed"
        return True, ""

    def snapshot_rewind(self):
        """Run a private copy of the rewind binary, so a rebuild during the benchmark does not change it."""
        copy = os.path.join(self.work, "bin", "rewind")
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copy2(self.rewind, copy)
        with open(copy, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        self.results["tools"]["rewind"]["binary"] = {"path": self.rewind, "sha256": digest}
        log(f"rewind: {self.rewind} (sha256 {digest[:12]}) copied to {copy}")
        self.rewind = copy

    def tool_version(self, name):
        spec = COMMANDS[name]
        try:
            r = subprocess.run(expand(spec["version"], {"rewind": self.rewind}), capture_output=True, text=True,
                               timeout=30)
            return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "unknown"
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return "unknown"

    def rewind_path_args(self):
        if self.rewind_paths == "toplevel":
            args = []
            for name in sorted(os.listdir(self.tree)):
                args += ["--path", "/" + name]
            return args
        return ["--path", "/"]

    def step(self, tool, run, step, template_key, values, warm_paths, cwd_key=None, stdout_path=None):
        """Warm the cache, run one timed step of a tool, flush afterwards."""
        spec = COMMANDS[tool]
        env = dict(os.environ)
        env.update({k: v.format(**values) for k, v in spec.get("env", {}).items()})
        argv = expand(spec[template_key], values, self.rewind_path_args() if tool == "rewind" else ())
        cwd = spec[cwd_key].format(**values) if cwd_key and cwd_key in spec else None
        warm(warm_paths)
        os.sync()
        base = os.path.join(self.logs, f"{tool}.run{run}.{step}")
        with open(base + ".cmd", "w") as f:
            f.write(f"cd {shlex.quote(cwd or os.getcwd())} && {shlex.join(argv)}\n")
        m = run_timed(argv, cwd=cwd, env=env, stdout_path=stdout_path or base + ".out", stderr_path=base + ".err",
                      timeout=self.args.timeout)
        m.sync_s = timed_sync()
        status = "ok" if m.ok else f"FAIL rc={m.rc} {m.note}"
        if m.other_cpu_s > max(0.5, 0.1 * m.wall_s):
            status += f"  (other processes used {m.other_cpu_s:.1f} CPU s meanwhile: noisy)"
        log(f"  {tool} run {run} ({step}) {STEP_NAMES.get(step, step)}: {m.wall_s:.2f}s wall, {m.user_s:.2f}s user, "
            f"{m.sys_s:.2f}s sys, {m.maxrss_mib:.0f} MiB RSS  {status}")
        if not m.ok and m.stderr_tail:
            log("    stderr: " + m.stderr_tail.replace("\n", "\n    stderr: "))
        return m

    def verify_restore(self, dest, exclude=()):
        """Compare a restored tree with the current tree by rsync -c; 'OK' or the number of differences."""
        r = subprocess.run(VERIFY_CMD + [f"--exclude={p}" for p in exclude] + [self.tree + "/", dest + "/"],
                           capture_output=True, text=True)
        lines = [ln for ln in r.stdout.splitlines() if ln]
        ignored = [ln for ln in lines if TOP_DIR_TIME.match(ln)]
        diffs = [ln for ln in lines if not TOP_DIR_TIME.match(ln)]
        if r.returncode != 0:
            return {"result": "FAIL", "rc": r.returncode, "stderr": r.stderr[-2000:], "differences": diffs[:20]}
        return {"result": "OK" if not diffs else f"{len(diffs)} diffs", "count": len(diffs),
                "differences": diffs[:20], "ignored_top_dir_time": bool(ignored), "excluded": list(exclude)}

    def verify_file(self, got):
        want = os.path.join(self.tree, self.md.PROBE_FILE)
        try:
            with open(got, "rb") as a, open(want, "rb") as b:
                same = a.read() == b.read()
        except OSError as e:
            return {"result": "FAIL", "error": str(e)}
        return {"result": "OK" if same else "MISMATCH"}

    def run_round(self, tool, run):
        """One run of one tool: steps (a)-(e), sizes, checks."""
        spec = COMMANDS[tool]
        steps = spec.get("steps", ["a", "b", "c", "d", "e"])
        tdir = os.path.join(self.work, "tools", tool)
        rm_rf(tdir)
        repo, cache = os.path.join(tdir, "repo"), os.path.join(tdir, "cache")
        os.makedirs(cache)
        if spec.get("mkrepo"):
            os.makedirs(repo)
        last = 3 if "c" in steps else 1
        values = {"rewind": self.rewind, "repo": repo, "cache": cache, "tree": self.tree, "dest": "",
                  "file": self.md.PROBE_FILE, "n": 1, "prev": 0, "last": last}
        res = {"run": run, "steps": {}}
        self.reset_tree()
        if "init" in spec:
            m = self.step(tool, run, "init", "init", values, [])
            res["init"] = m.as_dict()
            if not m.ok:
                res["error"] = "init failed"
                res["steps"] = {s: skipped("init failed") for s in steps}
                return res

        def backup(n, letter):
            v = dict(values, n=n, prev=n - 1)
            key = "backup_first" if n == 1 and "backup_first" in spec else "backup"
            return self.step(tool, run, letter, key, v, [self.tree, repo, cache], cwd_key="backup_cwd")

        m = backup(1, "a")
        if not m.ok and tool == "rewind" and self.rewind_paths == "auto":
            log("  rewind: 'create --path /' failed; retrying with the top-level entries as --path arguments")
            self.rewind_paths = "toplevel"
            rm_rf(repo)
            self.step(tool, run, "init", "init", values, [])
            m = backup(1, "a")
            self.results["meta"]["rewind_paths_fallback"] = "create --path / failed; used top-level paths"
        elif tool == "rewind" and self.rewind_paths == "auto":
            self.rewind_paths = "root"
        res["steps"]["a"] = m.as_dict()
        res["size_after_a"] = dict(zip(("apparent", "disk"), disk_usage([repo])))
        if not m.ok or steps == ["a"]:
            if not m.ok:
                res["error"] = "(a) failed"
                res["steps"].update({s: skipped("(a) failed") for s in steps if s != "a"})
            if not self.args.keep:
                rm_rf(tdir)
            return res
        res["steps"]["b"] = backup(2, "b").as_dict()
        self.mutate_tree()
        res["steps"]["c"] = backup(3, "c").as_dict()
        res["size"] = dict(zip(("apparent", "disk"), disk_usage([repo])))
        # (d) full restore into an empty directory
        dest = os.path.join(tdir, "restore")
        os.mkdir(dest, 0o755)
        m = self.step(tool, run, "d", "restore", dict(values, dest=dest), [repo, cache], cwd_key="restore_cwd")
        res["steps"]["d"] = m.as_dict()
        if not self.args.no_verify:
            res["verify_restore"] = self.verify_restore(dest, spec.get("verify_exclude", ()))
            log(f"  {tool} run {run} restore check: {res['verify_restore']['result']}"
                + ("" if res["verify_restore"].get("count", 1) == 0 else
                   "\n    " + "\n    ".join(res["verify_restore"]["differences"][:5])))
        res["restore_size"] = dict(zip(("apparent", "disk"), disk_usage([dest])))
        rm_rf(dest)
        # (e) one small file
        dest = os.path.join(tdir, "single")
        os.mkdir(dest, 0o755)
        got = os.path.join(dest, os.path.basename(self.md.PROBE_FILE))
        m = self.step(tool, run, "e", "dump", dict(values, dest=dest), [repo, cache],
                      stdout_path=got if spec.get("dump_stdout") else None)
        res["steps"]["e"] = m.as_dict()
        res["verify_single"] = self.verify_file(got)
        if not self.args.keep:
            rm_rf(tdir)
        return res

    # -- the whole thing
    def meta(self, tools):
        mem = "?"
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        fs = subprocess.run(["stat", "-f", "-c", "%T", self.work], capture_output=True, text=True).stdout.strip()
        return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
                "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
                "kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(), "memory": mem,
                "workdir": self.work, "filesystem": fs, "scale": self.args.scale, "runs": self.args.runs,
                "dataset": self.plan_stats, "probe_file": self.md.PROBE_FILE, "tools": tools,
                "commands": {t: {k: v for k, v in COMMANDS[t].items() if isinstance(v, (str, list))} for t in tools}}

    def save(self):
        os.makedirs(os.path.dirname(self.out), exist_ok=True)
        tmp = self.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.results, f, indent=1)
        os.replace(tmp, self.out)

    def run(self, wanted):
        os.makedirs(self.work, exist_ok=True)
        self.check_space()
        os.makedirs(self.logs, exist_ok=True)
        tools = []
        for name in wanted:
            ok, note = self.tool_available(name)
            entry = {"available": ok, "note": note, "version": self.tool_version(name) if ok else None, "runs": []}
            self.results["tools"][name] = entry
            if ok:
                tools.append(name)
            else:
                log(f"skipping {name}: {note}")
        if "rewind" in tools:
            self.snapshot_rewind()
        self.results["meta"] = self.meta(tools)
        load1 = float(self.results["meta"]["loadavg"].split()[0])
        if load1 > 0.5:
            log(f"warning: load average is {load1:.2f}: other processes are busy, the timings will be noisy")
        self.prepare_dataset()
        try:
            for run in range(1, self.args.runs + 1):
                for name in tools:
                    log(f"run {run}/{self.args.runs}: {name}")
                    self.results["tools"][name]["runs"].append(self.run_round(name, run))
                    self.save()
        finally:
            for name in tools:
                self.results["tools"][name]["median"] = summarize(self.results["tools"][name]["runs"])
            self.save()
            if not self.args.keep:
                rm_rf(os.path.join(self.work, "tools"))
        return tools


# ----------------------------------------------------------------------------- summary and report

def _median(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 3) if xs else None


def summarize(runs):
    """Medians over runs of every metric; a step that failed in any run is counted in fails."""
    out = {"steps": {}, "fails": {}}
    for s in "abcde":
        ms = [r["steps"][s] for r in runs if s in r.get("steps", {})]
        good = [m for m in ms if m["ok"]]
        if not ms:
            continue
        out["fails"][s] = len(ms) - len(good)
        if good:
            out["steps"][s] = {k: _median([m[k] for m in good]) for k in ("wall_s", "user_s", "sys_s", "cpu_s",
                                                                          "maxrss_mib", "sync_s", "other_cpu_s")}
    for key in ("size_after_a", "size"):
        vals = [r[key] for r in runs if key in r]
        if vals:
            out[key] = {k: _median([v[k] for v in vals]) for k in ("apparent", "disk")}
    peaks = [max((m["maxrss_mib"] for s, m in r.get("steps", {}).items() if s in "abcd" and m["ok"]), default=None)
             for r in runs]
    out["peak_rss_mib"] = _median(peaks)
    for key in ("verify_restore", "verify_single"):
        vals = [r[key]["result"] for r in runs if key in r]
        if vals:
            bad = [v for v in vals if v != "OK"]
            out[key] = "OK" if not bad else bad[0]
    return out


# rows of the table: (label, function of a tool's summary -> number or None, is-a-time)
def _step(s, k):
    return lambda t: t["steps"].get(s, {}).get(k)


ROWS = [
    ("(a) first backup, wall s", _step("a", "wall_s")),
    ("(a) first backup, CPU user+sys s", _step("a", "cpu_s")),
    ("(b) 2nd backup, no change, wall s", _step("b", "wall_s")),
    ("(c) backup after mutate, wall s", _step("c", "wall_s")),
    ("(d) full restore, wall s", _step("d", "wall_s")),
    ("(d) full restore, user CPU s", _step("d", "user_s")),
    ("(d) full restore, sys CPU s", _step("d", "sys_s")),
    ("(e) single-file restore, wall s", _step("e", "wall_s")),
    ("(f) repo after (a), apparent MiB", lambda t: t.get("size_after_a", {}).get("apparent", None) and
     t["size_after_a"]["apparent"] / 2**20),
    ("(f) repo after (c), apparent MiB", lambda t: t.get("size", {}).get("apparent", None) and
     t["size"]["apparent"] / 2**20),
    ("(f) repo after (c), on disk MiB", lambda t: t.get("size", {}).get("disk", None) and t["size"]["disk"] / 2**20),
    ("(g) peak RSS (a)-(d), MiB", lambda t: t.get("peak_rss_mib")),
]
ROW_STEP = ["a", "a", "b", "c", "d", "d", "d", "e", "a", "c", "c", None]


def _fmt(x):
    if x is None:
        return "–"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}" if abs(x) >= 0.1 else f"{x:.3f}"


def _failure(what, m):
    text = f"- {what}: " + (m["note"] if m["rc"] == -1 and m["note"] else f"rc={m['rc']} {m['note']}".strip())
    return text + (f"\n\n```\n{m['stderr_tail']}\n```" if m["stderr_tail"] else "")


def report(results, tools):
    """The markdown report: absolute medians, then rewind's ratios."""
    meta = results["meta"]
    ds = meta["dataset"]
    lines = [f"# rewind benchmark, {meta['date']}", "",
             f"Data set: --scale {meta['scale']:g}: {ds['entries']} entries, {ds['files']} files, "
             f"{ds['bytes'] / 2**30:.3f} GiB. Medians of {meta['runs']} run(s). "
             f"Host: {meta['cpus']} CPUs ({meta['cpu']}), {meta['memory']}, {meta['filesystem']} at {meta['workdir']}.",
             ""]
    summ = {t: results["tools"][t]["median"] for t in tools}
    lines.append("| step | " + " | ".join(tools) + " |")
    lines.append("|---|" + "---:|" * len(tools))
    for (label, fn), s in zip(ROWS, ROW_STEP):
        cells = []
        for t in tools:
            steps = COMMANDS[t].get("steps", "abcde")
            if s and s not in steps:
                cells.append("–")
            elif s and summ[t]["fails"].get(s) and s not in summ[t]["steps"]:
                cells.append("FAIL")
            else:
                v = fn(summ[t])
                cells.append(_fmt(v) + (f" ({summ[t]['fails'][s]} FAIL)" if s and summ[t]["fails"].get(s) else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| restore check (d) | " + " | ".join(summ[t].get("verify_restore", "–") for t in tools) + " |")
    lines.append("| single-file check (e) | " + " | ".join(summ[t].get("verify_single", "–") for t in tools) + " |")
    others = [t for t in COMPARE_WITH if t in tools]
    if "rewind" in tools and others:
        lines += ["", "rewind / other (below 1: rewind is faster or smaller):", "",
                  "| step | " + " | ".join(f"rewind/{t}" for t in others) + " |", "|---|" + "---:|" * len(others)]
        for (label, fn), s in zip(ROWS, ROW_STEP):
            cells = []
            for t in others:
                try:
                    a, b = fn(summ["rewind"]), fn(summ[t])
                except (KeyError, TypeError):
                    a = b = None
                cells.append(f"{a / b:.2f}x" if a is not None and b else "–")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for t in tools:
        if COMMANDS[t].get("verify_exclude"):
            lines += ["", f"The restore check of {t} leaves out {' '.join(COMMANDS[t]['verify_exclude'])}: "
                          f"{t} does not back them up by design (default excludes)."]
    missing = [(t, e["note"]) for t, e in results["tools"].items() if not e["available"]]
    if missing:
        lines += [""] + [f"Skipped {t}: {note}." for t, note in missing]
    if meta.get("rewind_paths_fallback"):
        lines += ["", f"Note: rewind {meta['rewind_paths_fallback']}."]
    fails = []
    for t in tools:
        for r in results["tools"][t]["runs"]:
            for s, m in r.get("steps", {}).items():
                if not m["ok"] and not m["note"].startswith("skipped"):
                    fails.append(_failure(f"{t} run {r['run']} ({s})", m))
            if "init" in r and not r["init"]["ok"]:
                fails.append(_failure(f"{t} run {r['run']} init", r["init"]))
            v = r.get("verify_restore", {})
            if v.get("result", "OK") != "OK":
                fails.append(f"- {t} run {r['run']} restore differs from the tree ({v['result']}), first lines:\n\n```\n"
                             + "\n".join(v.get("differences", [])[:10]) + "\n```")
    if fails:
        lines += ["", "## Failures and differences", ""] + fails
    noisy = [(t, r["run"], s, m["other_cpu_s"]) for t in tools for r in results["tools"][t]["runs"]
             for s, m in r.get("steps", {}).items() if m.get("other_cpu_s", 0) > max(0.5, 0.1 * m["wall_s"])]
    if noisy:
        worst = max(noisy, key=lambda x: x[3])
        lines += ["", f"Warning: other processes were busy during {len(noisy)} timed step(s) (worst: {worst[0]} run "
                      f"{worst[1]} ({worst[2]}), {worst[3]:.1f} CPU s of others); those timings are noisy. "
                      f"Load average at start: {meta.get('loadavg', '?')}."]
    lines += ["", "Versions: " + "; ".join(f"{t}: {results['tools'][t]['version']}" for t in tools)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  run.py --scale 0.05 --runs 1            quick check, all tools found\n"
               "  run.py                                   full run: scale 1, 3 runs\n"
               "  run.py --tools rewind,restic --scale 0.2\n")
    ap.add_argument("--workdir", default=DEFAULT_WORKDIR, help="work directory (default %(default)s)")
    ap.add_argument("--scale", type=float, default=1.0, help="data set scale (1: ~63k entries, 1.27 GiB)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool; medians are reported (default 3)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS),
                    help="comma-separated subset of: " + ", ".join(ALL_TOOLS) + " (default: all)")
    ap.add_argument("--rewind", default=os.environ.get("REWIND", DEFAULT_REWIND),
                    help="rewind binary (default $REWIND or %s)" % DEFAULT_REWIND)
    ap.add_argument("--rewind-paths", choices=("auto", "root", "toplevel"), default="auto",
                    help="rewind create: '--path /' (root), one --path per top-level entry (toplevel), or root "
                         "falling back to toplevel if refused (auto, default)")
    ap.add_argument("--out", help="raw results as JSON (default WORKDIR/results.json; the table goes next to it "
                                  "as .md)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a step is killed (default 3600)")
    ap.add_argument("--space-factor", type=float, default=5,
                    help="refuse to start unless free space >= this x the data set size (default 5)")
    ap.add_argument("--regenerate", action="store_true", help="generate the data set even if a valid one exists")
    ap.add_argument("--keep", action="store_true", help="keep repositories and restores (they are removed "
                                                        "after each round by default)")
    ap.add_argument("--no-verify", action="store_true", help="skip the rsync -c comparison of restores")
    args = ap.parse_args(argv)
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in COMMANDS]
    if unknown:
        ap.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(ALL_TOOLS)}")
    if args.runs < 1 or args.scale <= 0:
        ap.error("--runs must be >= 1 and --scale > 0")
    for needed in ("rsync",):
        if not shutil.which(needed):
            sys.exit(f"run.py: {needed} is required (data set reset and restore checks)")
    bench = Bench(args)
    tools = bench.run(wanted)
    text = report(bench.results, tools)
    md_path = os.path.splitext(bench.out)[0] + ".md"
    with open(md_path, "w") as f:
        f.write(text)
    print(text)
    if "rewind" in tools:
        a = bench.results["tools"]["rewind"]["median"]["steps"].get("a")
        print(f"rewind (a) first backup CPU user+sys: {a['cpu_s']:.2f} s" if a else "rewind (a) first backup: FAIL")
    print(f"raw results: {bench.out}\ntable: {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
