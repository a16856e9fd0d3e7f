#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generate a deterministic benchmark tree shaped like a Linux system root.

The tree is built in two phases:

1. *Plan*: a seeded PRNG decides every path, type, mode, owner, mtime (ns),
   size, symlink target and hard link, and for every regular file a content
   recipe ``(kind, size, seed)``.  Planning is cheap and writes nothing, so
   ``--estimate`` can report the size of a tree before it is made.
2. *Write*: the content of each file is a pure function of its recipe and of
   a few shared pools (word lists, line pools) that are built from the same
   seed.  Two files with the same recipe are byte-identical: that is how the
   duplicates are made.

Running it twice with the same ``--scale`` and ``--seed`` gives the same
bytes, modes, uid/gid, symlink targets, hard links and nanosecond mtimes
(ownership needs root; as another user the owners are left alone and a
warning is printed).

Shape at ``--scale 1`` (``--estimate`` prints the exact numbers):

* about 63,000 entries and 1.27 GiB;
* ~45,000 small files: config-like (/etc), source-like (/usr/include,
  /usr/src, /usr/lib/python3), prose, dpkg lists, plus small semi-binary
  (.pyc, .mo, zoneinfo) and already-compressed (.gz man pages, .png) files;
* ~2,300 ELF-like binaries and libraries (semi-compressible) in /usr/bin,
  /usr/sbin and /usr/lib, 3 big libraries;
* large files: an incompressible 200 MiB snap image, a 150 MiB
  database of 4 KiB pages with repetitive structure, a 40 MiB log and
  package lists;
* about 10% duplicate files (copyright texts, zoneinfo/posix, vendored
  copies), ~3,600 symlinks (relative, absolute, to directories, dangling),
  ~230 hard links, empty files and directories, setuid/setgid files,
  sticky directories, non-root owners.

``--scale F`` multiplies every count and the size of every large file by F;
``--scale 0.05`` gives a tree of ~3,000 entries and ~65 MiB in a few seconds.
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import time
import zlib
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB

DEFAULT_SEED = 20250301
#: Package files get whole-second mtimes around this time (dpkg style).
BASE_TIME = 1_704_067_200            # 2024-01-01T00:00:00Z
#: User and log files get nanosecond mtimes up to this time.
NOW_NS = 1_740_787_200 * 10**9 + 123_456_789   # 2025-03-01

#: A small text file deep in the tree, always present: the single-file restore probe.
PROBE_FILE = "usr/share/doc/python3-benchprobe/examples/advanced/config/sample.conf"
#: The database-like large file (4 KiB pages) that mutate-dataset edits in the middle.
DB_FILE = "var/lib/appdb/main.db"
#: The incompressible large file.
RANDOM_FILE = "var/lib/snapd/snaps/core22_1122.snap"
DB_PAGE = 4096

SYLLABLES = ("ac al an ar ba be bi bo ca ce co cu da de di do el en er es fa fe fi fo ga ge gi go "
             "ha he hi in io is ja ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu ob "
             "on or pa pe pi po qu ra re ri ro ru sa se si so su ta te ti to tu un ur va ve vi "
             "vo wa xa xe ya yo za ze zo").split()
LANGS = ("af ar ast be bg bn br bs ca cs cy da de el en_GB eo es et eu fa fi fr ga gl gu he hi hr "
         "hu id is it ja ka kk km kn ko lt lv mk ml mr ms nb ne nl nn oc pa pl pt pt_BR ro ru si "
         "sk sl sq sr sv ta te th tr uk vi zh_CN zh_TW").split()


# ----------------------------------------------------------------------------- content

def log_uniform(rng, lo, hi):
    """An integer between lo and hi, uniform on a log scale (many small, few big)."""
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class Content:
    """Makes file contents from recipes; the shared pools come from the seed."""

    def __init__(self, seed):
        rng = random.Random(f"{seed}:pools")
        self.words = self._unique(rng, lambda: "".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))), 5000)
        self.idents = self._unique(rng, lambda: "_".join(rng.choices(self.words[:1500], k=rng.randint(1, 3))),
                                   4000)
        zipf = [1.0 / (i + 1) for i in range(len(self.words))]
        self._zipf_cum = list(_accumulate(zipf))
        self.pools = {
            "conf": [self._conf_line(rng) for _ in range(20000)],
            "c": [self._c_line(rng) for _ in range(30000)],
            "py": [self._py_line(rng) for _ in range(30000)],
            "prose": [self._sentence(rng) for _ in range(20000)],
            "paths": [self._path(rng) for _ in range(20000)],
            "script": [self._sh_line(rng) for _ in range(8000)],
        }
        # byte tables: map random bytes to a skewed ("code") or 16-symbol ("low") alphabet
        weights = [1.0 / (i + 1) ** 0.8 for i in range(256)]
        self.code_tbl = bytes(rng.choices(range(256), weights=weights, k=256))
        self.low_tbl = bytes(rng.choice(b"\x00\x01\x02\x03\x04\x08\x10\x20\x40\x7f\x80\xc0\xfe\xff\x0f\xf0")
                             for _ in range(256))
        self.db_names = [self._sentence(rng, 1, 3) for _ in range(3000)]

    @staticmethod
    def _unique(rng, make, n):
        seen, out = set(), []
        while len(out) < n:
            w = make()
            if w not in seen:
                seen.add(w)
                out.append(w)
        return out

    # -- line makers (only used to fill the pools)
    def _word(self, rng):
        return rng.choices(self.words, cum_weights=self._zipf_cum)[0]

    def _sentence(self, rng, lo=5, hi=14):
        s = " ".join(rng.choices(self.words, cum_weights=self._zipf_cum, k=rng.randint(lo, hi)))
        return s.capitalize() + "."

    def _value(self, rng):
        k = rng.random()
        if k < 0.3:
            return str(rng.choice((0, 1, 2, 8, 16, 30, 60, 64, 100, 128, 256, 300, 1024, 3600, 65536)))
        if k < 0.45:
            return rng.choice(("yes", "no", "true", "false", "on", "off", "auto"))
        if k < 0.7:
            return self._path(rng)
        return '"' + " ".join(rng.choices(self.words, k=rng.randint(1, 4))) + '"'

    def _path(self, rng):
        top = rng.choice(("/usr/lib", "/usr/share", "/etc", "/var/lib", "/usr/bin", "/usr/share/doc", "/run"))
        return top + "/" + "/".join(rng.choices(self.words, k=rng.randint(1, 4))) + rng.choice(
            ("", "", ".conf", ".so", ".py", ".h", ".gz", ".d", ".txt"))

    def _conf_line(self, rng):
        k = rng.random()
        if k < 0.2:
            return "# " + self._sentence(rng)
        if k < 0.27:
            return ""
        if k < 0.32:
            return "[" + rng.choice(self.idents) + "]"
        if k < 0.75:
            return f"{rng.choice(self.idents)} = {self._value(rng)}"
        if k < 0.9:
            return f"{rng.choice(self.idents).title().replace('_', '')} {self._value(rng)}"
        return f"#{rng.choice(self.idents)}={self._value(rng)}"

    def _c_line(self, rng):
        i = lambda: rng.choice(self.idents)   # noqa: E731
        ind = " " * rng.choice((0, 4, 4, 8, 8, 12, 16))
        t = rng.choice(("int", "unsigned int", "size_t", "char *", "const char *", "void *", "uint32_t",
                        "bool", "struct " + i() + " *", "long"))
        forms = (
            lambda: f"#include <{i()}/{i()}.h>",
            lambda: f"#define {i().upper()} {rng.choice(('0x%x' % rng.getrandbits(16), str(rng.randint(0, 999))))}",
            lambda: f"static {t} {i()}({t} {i()}, int {i()});",
            lambda: f"{ind}if ({i()} {rng.choice(('==', '!=', '<', '>=', '&'))} {i()})",
            lambda: f"{ind}return -{rng.choice(('EINVAL', 'ENOMEM', 'EIO', 'ENOENT', 'EAGAIN'))};",
            lambda: f"{ind}{i()}->{i()} = {i()}({i()}, {rng.randint(0, 64)});",
            lambda: f"{ind}}}",
            lambda: "{",
            lambda: f"/* {self._sentence(rng)} */",
            lambda: f" * {self._sentence(rng)}",
            lambda: f"{ind}for (i = 0; i < {i()}; i++) {{",
            lambda: f"typedef struct {i()} {i()}_t;",
            lambda: f"{ind}{t} {i()};",
            lambda: "",
        )
        return rng.choice(forms)()

    def _py_line(self, rng):
        i = lambda: rng.choice(self.idents)   # noqa: E731
        ind = " " * rng.choice((0, 4, 4, 8, 8, 12))
        forms = (
            lambda: f"import {i()}",
            lambda: f"from {i()}.{i()} import {i().title().replace('_', '')}",
            lambda: f"{ind}def {i()}(self, {i()}, {i()}={self._value(rng)}):",
            lambda: f"{ind}return {i()}.{i()}({i()})",
            lambda: f"class {i().title().replace('_', '')}({i().title().replace('_', '')}):",
            lambda: f'{ind}"""{self._sentence(rng)}"""',
            lambda: f"{ind}if {i()} is None:",
            lambda: f"{ind}raise ValueError('{self._sentence(rng, 2, 6)}')",
            lambda: f"{ind}{i()} = {self._value(rng)}",
            lambda: f"{ind}# {self._sentence(rng)}",
            lambda: "",
        )
        return rng.choice(forms)()

    def _sh_line(self, rng):
        forms = (
            lambda: "set -e",
            lambda: f'if [ "$1" = "{rng.choice(("configure", "remove", "upgrade", "purge"))}" ]; then',
            lambda: f"    {rng.choice(('update-rc.d', 'deb-systemd-helper', 'ldconfig', 'systemctl'))} "
                    f"{rng.choice(self.idents)} {rng.choice(('enable', 'defaults', '--quiet', ''))}",
            lambda: "fi",
            lambda: f"# {self._sentence(rng)}",
            lambda: f'{rng.choice(self.idents).upper()}="{self._path(rng)}"',
        )
        return rng.choice(forms)()

    # -- building blocks
    def text(self, rng, pool, size, header=""):
        """Lines sampled from a pool, with a unique token every 32 lines (so files differ)."""
        lines = self.pools[pool]
        out, n = [header], len(header)
        while n < size:
            chunk = rng.choices(lines, k=32)
            chunk[rng.randrange(32)] += " %x" % rng.getrandbits(48)
            s = "\n".join(chunk) + "\n"
            out.append(s)
            n += len(s)
        return "".join(out).encode()[:size]

    def table(self, rng, size):
        """Symbol-table-like records: incrementing offsets and addresses, small flags."""
        n = size // 24 + 1
        base, addr = rng.getrandbits(16), rng.getrandbits(32) << 8
        vals = []
        for k in range(n):
            vals += (base + 17 * k, 0x12, 0, rng.randrange(30), addr + 64 * k, rng.choice((0, 8, 16, 64, 200)))
        return struct.pack("<" + "IBBHQQ" * n, *vals)[:size]

    def mixed(self, rng, size, recipe, lo, hi):
        """Blocks of lo..hi bytes; recipe is a sequence of (weight, kind)."""
        kinds = [k for _, k in recipe]
        cum = list(_accumulate(w for w, _ in recipe))
        parts, n = [], 0
        while n < size:
            blk = rng.randint(lo, hi)
            kind = rng.choices(kinds, cum_weights=cum)[0]
            if kind == "rand":
                b = rng.randbytes(blk)
            elif kind == "code":
                b = rng.randbytes(blk).translate(self.code_tbl)
            elif kind == "low":
                b = rng.randbytes(blk).translate(self.low_tbl)
            elif kind == "zero":
                b = bytes(blk)
            elif kind == "table":
                b = self.table(rng, blk)
            else:
                b = self.text(rng, kind, blk)
            parts.append(b)
            n += len(b)
        return b"".join(parts)[:size]

    def db_page(self, rng, pgno):
        """One 4 KiB page of an SQLite-like table: header, cell pointers, records, free space."""
        k = rng.random()
        if k < 0.04:                                   # free page
            return bytes(DB_PAGE)
        if k < 0.10:                                   # overflow page: next pointer + text
            return struct.pack(">I", pgno + 1) + self.text(rng, "prose", DB_PAGE - 4)
        if k < 0.15:                                   # interior page: child pointers + keys
            n = rng.randint(100, 300)
            cells = struct.pack(">" + "IQ" * n, *[v for j in range(n) for v in (pgno * 7 + j, pgno * 1000 + j * 3)])
            head = struct.pack(">BHHHB", 0x05, 0, n, DB_PAGE - len(cells), 0) + struct.pack(">I", pgno + 1)
            return (head + bytes(DB_PAGE - len(head) - len(cells)) + cells)[:DB_PAGE]
        limit = int(rng.uniform(0.5, 0.97) * (DB_PAGE - 8))
        rows, used, rowid = [], 0, pgno * 40
        ts = NOW_NS // 10**9 - 40_000_000 + pgno * 900
        while True:
            rowid += 1
            ts += rng.randint(1, 120)
            name = rng.choice(self.db_names).encode()[:255]
            rec = (struct.pack(">QQHdB", rowid, ts, rng.choice((0, 1, 1, 1, 2, 3)), rng.randint(0, 99999) / 100,
                               len(name)) + name + b"%032x" % rng.getrandbits(128))
            if used + len(rec) + 2 > limit:
                break
            rows.append(rec)
            used += len(rec) + 2
        body = b"".join(reversed(rows))                # cells grow down from the end of the page
        ptrs, off = [], DB_PAGE
        for r in rows:
            off -= len(r)
            ptrs.append(off)
        head = struct.pack(">BHHHB", 0x0D, 0, len(rows), off, 0) + struct.pack(f">{len(ptrs)}H", *ptrs)
        return head + bytes(DB_PAGE - len(head) - len(body)) + body

    # -- recipes: kind -> chunks of bytes
    def chunks(self, kind, size, seed):
        """Yield the content of a file with recipe (kind, size, seed) in chunks."""
        rng = random.Random(seed)
        if size == 0:
            return
        if kind in ("conf", "c", "py", "prose", "paths", "script"):
            hdr = {"script": "#!/bin/sh\n", "py": "# -*- coding: utf-8 -*-\n", "c": "/* SPDX-License-Identifier: "
                   "GPL-2.0 */\n"}.get(kind, "")
            yield self.text(rng, kind, size, hdr)
        elif kind == "sums":
            out, n = [], 0
            while n < size:
                line = "%032x  %s\n" % (rng.getrandbits(128), rng.choice(self.pools["paths"])[1:])
                out.append(line)
                n += len(line)
            yield "".join(out).encode()[:size]
        elif kind == "gz":                            # already compressed (man pages, .deb, .png)
            yield b"\x1f\x8b\x08\x00" + rng.randbytes(size - 4) if size > 4 else rng.randbytes(size)
        elif kind == "rand":                          # incompressible, streamed
            left = size
            while left:
                n = min(left, 8 * MiB)
                yield rng.randbytes(n)
                left -= n
        elif kind == "pyc":
            yield (b"\xa7\x0d\x0d\x0a" + bytes(4) + rng.randbytes(8)
                   + self.mixed(rng, size, ((5, "py"), (3, "low"), (1, "table"), (1, "rand")), 32, 512))[:size]
        elif kind == "mo":
            yield (b"\xde\x12\x04\x95" + self.table(rng, 64)
                   + self.mixed(rng, size, ((7, "prose"), (2, "table"), (1, "low")), 64, 1024))[:size]
        elif kind == "tz":
            yield (b"TZif2" + bytes(15) + self.mixed(rng, size, ((4, "table"), (4, "low"), (2, "rand")), 16, 256))[:size]
        elif kind == "elf":                           # ELF-ish, semi-compressible
            left, first = size, True
            while left:
                n = min(left, 4 * MiB)
                blob = self.mixed(rng, n, ((34, "code"), (12, "rand"), (14, "zero"), (18, "prose"), (8, "c"),
                                           (14, "table")), 512, 16 * KiB)
                if first:
                    blob = (b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x03\x00\x3e\x00\x01" + bytes(43) + blob)[:n]
                    first = False
                yield blob
                left -= n
        elif kind == "db":                            # 4 KiB pages with repetitive structure
            pages = size // DB_PAGE
            for start in range(0, pages, 1024):
                yield b"".join(self.db_page(rng, p) for p in range(start, min(pages, start + 1024)))
        elif kind == "log":
            t = NOW_NS // 10**9 - 7 * 86400
            procs = [(rng.choice(self.idents), rng.randint(100, 99999)) for _ in range(200)]
            left = size
            while left:
                out, n = [], 0
                while n < min(left, 4 * MiB):
                    t += rng.randint(0, 2)
                    p = rng.choice(procs)
                    line = "%s host %s[%d]: %s\n" % (time.strftime("%b %d %H:%M:%S", time.gmtime(t)), p[0], p[1],
                                                      rng.choice(self.pools["prose"]))
                    out.append(line)
                    n += len(line)
                blob = "".join(out).encode()[:min(left, 4 * MiB)]
                yield blob
                left -= len(blob)
        else:
            raise ValueError(f"unknown content kind {kind!r}")


def _accumulate(xs):
    s = 0.0
    for x in xs:
        s += x
        yield s


# ----------------------------------------------------------------------------- plan

@dataclass
class Node:
    """One entry of the tree. kind: 'f' file, 'd' directory, 'l' symlink, 'h' hard link."""
    path: str
    kind: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    size: int = 0
    content: str = ""     # content kind of a regular file
    seed: int = 0         # content seed of a regular file
    target: str = ""      # symlink target, or the path a hard link points to
    dup: bool = False     # this file's bytes equal another file's


class Plan:
    """Deterministic description of the whole tree (no I/O)."""

    def __init__(self, scale=1.0, seed=DEFAULT_SEED):
        self.scale = scale
        self.rng = random.Random(f"{seed}:plan")
        self.nodes = {}          # path -> Node, in creation order (dirs first as they appear)
        self._build()

    # -- helpers
    def n(self, count):
        """Scale an entry count (at least 1)."""
        return max(1, round(count * self.scale))

    def big(self, size):
        """Scale the size of a large file, keeping it a multiple of 4 KiB."""
        return max(DB_PAGE, int(size * self.scale) // DB_PAGE * DB_PAGE)

    def pkg_time(self):
        """A whole-second, dpkg-style mtime."""
        return (BASE_TIME - self.rng.randrange(0, 700 * 86400)) * 10**9

    def user_time(self):
        """A nanosecond mtime of a file edited by a person or a daemon."""
        return NOW_NS - self.rng.randrange(0, 200 * 86400 * 10**9)

    def dir(self, path, mode=0o755, uid=0, gid=0):
        """Declare a directory (and its parents) with the given metadata."""
        parent = os.path.dirname(path)
        if parent and parent not in self.nodes:
            self.dir(parent)
        node = self.nodes.get(path)
        if node is None:
            self.nodes[path] = Node(path, "d", mode, uid, gid)
        elif node.kind != "d":
            raise ValueError(f"{path} is not a directory")
        else:
            node.mode, node.uid, node.gid = mode, uid, gid
        return path

    def file(self, path, content, size, mode=0o644, uid=0, gid=0, mtime_ns=None, seed=None):
        """Declare a regular file; returns its Node (None if the path is taken)."""
        if path in self.nodes:
            return None
        parent = os.path.dirname(path)
        if parent not in self.nodes:
            self.dir(parent)
        node = Node(path, "f", mode, uid, gid, self.pkg_time() if mtime_ns is None else mtime_ns, size, content,
                    self.rng.getrandbits(63) if seed is None else seed)
        self.nodes[path] = node
        return node

    def copy(self, src, path, mode=None, uid=0, gid=0):
        """Declare a duplicate: same content recipe as src, its own inode and metadata."""
        s = self.nodes[src]
        node = self.file(path, s.content, s.size, s.mode if mode is None else mode, uid, gid, seed=s.seed)
        if node:
            node.dup = True
        return node

    def symlink(self, path, target):
        if path in self.nodes:
            return None
        if os.path.dirname(path) not in self.nodes:
            self.dir(os.path.dirname(path))
        node = Node(path, "l", 0o777, 0, 0, self.pkg_time(), target=target)
        self.nodes[path] = node
        return node

    def hardlink(self, path, src):
        if path in self.nodes:
            return None
        if os.path.dirname(path) not in self.nodes:
            self.dir(os.path.dirname(path))
        node = Node(path, "h", target=src)
        self.nodes[path] = node
        return node

    def small(self, path, content, lo=300, hi=16 * KiB, **kw):
        return self.file(path, content, log_uniform(self.rng, lo, hi), **kw)

    def name(self, k=(1, 3)):
        return "".join(self.rng.choices(SYLLABLES, k=self.rng.randint(*k)))

    # -- the tree
    def _build(self):
        rng = self.rng
        self.nodes[""] = Node("", "d", 0o755)
        self._skeleton()
        self.pkgs = self._packages(self.n(1600))
        self._etc()
        self._usr_bin()
        self._usr_lib()
        self._python()
        self._usr_include_src()
        self._usr_share()
        self._var()
        self._home()
        self._duplicates()
        self._links()
        self._empties()
        # directory mtimes: after everything else so they do not depend on section order
        for node in self.nodes.values():
            if node.kind == "d":
                node.mtime_ns = self.pkg_time() if rng.random() < 0.7 else self.user_time()

    def _skeleton(self):
        for d in ("boot", "dev", "etc", "home", "media", "mnt", "opt", "proc", "run", "srv", "sys", "usr/local/bin",
                  "usr/local/lib", "usr/local/share", "usr/local/sbin", "usr/local/src", "var/backups", "var/opt",
                  "var/spool/cron", "var/lib"):
            self.dir(d)
        self.dir("root", 0o700)
        self.dir("tmp", 0o1777)
        self.dir("var/tmp", 0o1777)
        self.dir("var/mail", 0o2775, 0, 8)
        self.dir("var/spool/cron/crontabs", 0o1730, 0, 105)
        for link in ("bin", "sbin", "lib", "lib64"):                      # usrmerge
            self.symlink(link, "usr/" + link)
        self.dir("usr/lib64")
        self.symlink("usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        self.file("boot/vmlinuz-6.1.0-18-amd64", "elf", self.big(8 * MiB), 0o644)
        self.file("boot/initrd.img-6.1.0-18-amd64", "gz", self.big(24 * MiB), 0o644)
        self.small("boot/config-6.1.0-18-amd64", "conf", 200 * KiB, 260 * KiB)
        self.small("boot/System.map-6.1.0-18-amd64", "sums", 3 * MiB, 4 * MiB, mode=0o600)

    def _packages(self, count):
        seen, out = set(), []
        while len(out) < count:
            r = self.rng.random()
            pre = "lib" if r < 0.35 else "python3-" if r < 0.45 else ""
            suf = self.rng.choice(("",) * 8 + ("-common", "-data", "-utils", "-dev", "-bin", "0", "1", "6", "-2.0",
                                              "-tools", "-doc", "-perl", "-runtime"))
            p = pre + self.name() + suf
            if p not in seen:
                seen.add(p)
                out.append(p)
        return out

    def _etc(self):
        rng = self.rng
        subs = ("", "default", "systemd/system", "apt/apt.conf.d", "ssh", "security", "udev/rules.d", "X11",
                "cron.d", "logrotate.d", "network", "profile.d", "sysctl.d", "modprobe.d", "pam.d", "dbus-1/system.d",
                "fonts/conf.d", "init.d", "sudoers.d", "xdg/autostart", "NetworkManager/conf.d", "polkit-1/rules.d",
                "apparmor.d", "apparmor.d/abstractions", "ld.so.conf.d", "bash_completion.d", "ca-certificates")
        for i in range(self.n(2300)):
            sub = rng.choice(subs)
            kind = "script" if sub in ("init.d", "profile.d", "bash_completion.d") else "conf"
            mode = 0o755 if sub == "init.d" else 0o440 if sub == "sudoers.d" else 0o644
            self.small(os.path.join("etc", sub, f"{rng.choice(self.pkgs)}.{i}.conf"), kind, 60, 12 * KiB, mode=mode,
                       mtime_ns=self.user_time() if rng.random() < 0.15 else None)
        for name, mode, gid in (("passwd", 0o644, 0), ("group", 0o644, 0), ("shadow", 0o640, 42), ("gshadow", 0o640, 42),
                                ("sudoers", 0o440, 0), ("fstab", 0o644, 0), ("hosts", 0o644, 0)):
            self.small("etc/" + name, "conf", 200, 4 * KiB, mode=mode, gid=gid, mtime_ns=self.user_time())
        self.dir("etc/ssl/private", 0o710, 0, 111)
        for i in range(self.n(12)):
            self.small(f"etc/ssl/private/key{i}.pem", "gz", 1600, 3300, mode=0o640, gid=111)
        self.dir("etc/ssh")
        for t in ("rsa", "ecdsa", "ed25519"):
            self.small(f"etc/ssh/ssh_host_{t}_key", "gz", 400, 2600, mode=0o600)
        for i in range(self.n(140)):                                  # certificates, rehash symlinks (relative)
            ca = f"{self.name((2, 4)).title()}_Root_CA_{i}"
            pem = f"usr/share/ca-certificates/mozilla/{ca}.crt"
            self.small(pem, "conf", 1200, 2400)
            self.symlink(f"etc/ssl/certs/{ca}.pem", "/" + pem)
            self.symlink(f"etc/ssl/certs/{rng.getrandbits(32):08x}.0", f"{ca}.pem")

    def _usr_bin(self):
        rng = self.rng
        self.bins = []
        for d, count in (("usr/bin", 950), ("usr/sbin", 320), ("usr/libexec", 120)):
            for i in range(self.n(count)):
                path = f"{d}/{self.name((1, 3))}{rng.choice(('', '', '', '-' + self.name((1, 1)), '2', '3'))}"
                node = self.file(path, "elf", log_uniform(rng, 4 * KiB, 600 * KiB), 0o755)
                if node:
                    self.bins.append(path)
        special = self.bins[: self.n(12)]
        for i, path in enumerate(special):                              # setuid / setgid programs
            node = self.nodes[path]
            if i % 3 == 2:
                node.mode, node.gid = 0o2755, rng.choice((5, 42, 105))
            else:
                node.mode = 0o4755
        for i in range(self.n(160)):                                    # /usr/bin/x -> /etc/alternatives/x -> ...
            name = f"{self.name((2, 3))}-alt{i}"
            self.symlink(f"usr/bin/{name}", f"/etc/alternatives/{name}")
            self.symlink(f"etc/alternatives/{name}", "/" + rng.choice(self.bins))
        for i in range(self.n(60)):                                     # hard-linked aliases (perl5.36 style)
            self.hardlink(f"usr/bin/{self.name((2, 3))}-link{i}", rng.choice(self.bins))
        git = self.file("usr/lib/git-core/git", "elf", self.big(2500 * KiB), 0o755)
        for i in range(self.n(40)):                                    # git-core: many names, one inode
            self.hardlink(f"usr/lib/git-core/git-{self.name((1, 3))}{i}", git.path)
        for i in range(self.n(40)):
            self.small(f"usr/lib/git-core/git-sh-{self.name()}{i}", "script", 1 * KiB, 40 * KiB, mode=0o755)

    def _usr_lib(self):
        rng = self.rng
        self.libs = []
        libdir = "usr/lib/x86_64-linux-gnu"
        for i in range(self.n(1050)):
            base = f"lib{self.name((1, 3))}"
            major = rng.randint(0, 9)
            real = f"{libdir}/{base}.so.{major}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
            if self.file(real, "elf", log_uniform(rng, 8 * KiB, 1200 * KiB)):
                self.libs.append(real)
                self.symlink(f"{libdir}/{base}.so.{major}", os.path.basename(real))
                if rng.random() < 0.3:
                    self.symlink(f"{libdir}/{base}.so", f"{base}.so.{major}")
        for name, size in (("libLLVM-15.so.1", 32 * MiB), ("libicudata.so.72.1", 30 * MiB),
                           ("dri/libgallium-23.2.so", 16 * MiB)):
            self.libs.append(self.file(f"{libdir}/{name}", "elf", self.big(size)).path)
        self.file("usr/lib/locale/locale-archive", "mo", self.big(12 * MiB))
        for i in range(self.n(300)):                                     # systemd units
            unit = f"usr/lib/systemd/system/{rng.choice(self.pkgs)}-{i}.service"
            self.small(unit, "conf", 200, 3 * KiB)
            if rng.random() < 0.6:                                       # enabled: absolute link, dangling in-tree
                self.symlink(f"etc/systemd/system/multi-user.target.wants/{os.path.basename(unit)}",
                             "/lib/systemd/system/" + os.path.basename(unit))
        for i in range(self.n(20)):                                      # masked units: link to /dev/null
            self.symlink(f"etc/systemd/system/masked{i}.service", "/dev/null")
        for i in range(self.n(250)):
            self.small(f"usr/lib/modules/6.1.0-18-amd64/kernel/drivers/{rng.choice(('net', 'gpu', 'usb', 'scsi', 'md'))}"
                       f"/{self.name()}{i}.ko.xz", "gz", 4 * KiB, 200 * KiB)
        for i in range(self.n(320)):                                     # firmware blobs
            self.small(f"usr/lib/firmware/{rng.choice(('intel', 'amdgpu', 'rtl_nic', 'iwlwifi', 'brcm'))}"
                       f"/{self.name()}-{i}.bin", rng.choice(("rand", "elf")), 2 * KiB, 128 * KiB)

    def _python(self):
        rng = self.rng
        self.py = []
        root = "usr/lib/python3/dist-packages"
        for p in self.pkgs[: self.n(560)]:
            mod = p.replace("python3-", "").replace("-", "_")
            subpkgs = [""] + [self.name((1, 2)) for _ in range(rng.choice((0, 0, 0, 1, 2, 4)))]
            for sp in subpkgs:
                d = f"{root}/{mod}/{sp}".rstrip("/")
                self.file(f"{d}/__init__.py", "py", 0 if rng.random() < 0.7 else log_uniform(rng, 40, 3000))
                for j in range(rng.randint(1, 8)):
                    m = f"{d}/{self.name((1, 3))}{j}.py"
                    if self.small(m, "py", 300, 24 * KiB):
                        self.py.append(m)
                        if rng.random() < 0.55:
                            self.small(f"{d}/__pycache__/{os.path.basename(m)[:-3]}.cpython-311.pyc", "pyc",
                                       400, 30 * KiB)
        for i in range(self.n(1500)):                                     # the standard library
            sub = rng.choice(("", "", "json", "email", "http", "asyncio", "unittest", "xml/dom", "encodings", "lib2to3"))
            self.small(f"usr/lib/python3.11/{sub}/{self.name((1, 3))}{i}.py".replace("//", "/"), "py", 500, 60 * KiB)

    def _usr_include_src(self):
        rng = self.rng
        subs = ["", "linux", "sys", "bits", "x86_64-linux-gnu/bits", "net", "netinet", "c++/12", "c++/12/bits",
                "glib-2.0", "openssl", "boost/asio", "boost/asio/detail", "gtk-3.0/gtk", "python3.11", "drm", "rdma"]
        for i in range(self.n(3800)):
            sub = rng.choice(subs)
            self.small(f"usr/include/{sub}/{self.name((1, 3))}_{i}.h".replace("//", "/"), "c", 200, 24 * KiB)
        hdr = "usr/src/linux-headers-6.1.0-18-common"
        dirs = [f"{hdr}/{a}/{self.name((1, 2))}" for a in ("include/linux", "include/uapi/linux", "arch/x86/include",
                                                          "drivers/net", "drivers/gpu", "fs", "net", "sound",
                                                          "include/net", "include/drm") for _ in range(60)]
        for i in range(self.n(3500)):
            d = rng.choice(dirs)
            nm = rng.choice(("Kconfig", "Makefile")) if rng.random() < 0.2 else f"{self.name((1, 3))}{i}.h"
            self.small(f"{d}/{nm}", "c" if nm.endswith(".h") else "conf", 200, 30 * KiB)

    def _usr_share(self):
        rng = self.rng
        self.licenses = []
        for i in range(40):                                            # license texts: source of duplicates
            self.licenses.append(self.small(f"usr/share/common-licenses/LICENSE-{self.name()}{i}", "prose", 1500,
                                            30 * KiB).path)
        self.docdirs = []
        for p in self.pkgs:
            d = f"usr/share/doc/{p}"
            self.docdirs.append(d)
            self.copy(rng.choice(self.licenses), f"{d}/copyright")
            self.small(f"{d}/changelog.Debian.gz", "gz", 300, 30 * KiB)
            if rng.random() < 0.3:
                self.small(f"{d}/README.{rng.choice(('md', 'Debian', 'txt'))}", "prose", 300, 12 * KiB)
            if rng.random() < 0.08:
                for j in range(rng.randint(2, 12)):
                    self.small(f"{d}/examples/{rng.choice(('', 'basic/', 'advanced/config/'))}ex{j}.conf", "conf",
                               300, 8 * KiB)
        self.small(PROBE_FILE, "conf", 2500, 3500)
        for i in range(self.n(5000)):
            sec = rng.choice((1, 1, 1, 2, 3, 3, 5, 7, 8))
            loc = rng.choice(("",) * 8 + ("de/", "fr/", "ja/"))
            self.small(f"usr/share/man/{loc}man{sec}/{self.name((1, 3))}-{i}.{sec}.gz", "gz", 400, 16 * KiB)
        for i in range(self.n(3500)):
            self.small(f"usr/share/locale/{rng.choice(LANGS)}/LC_MESSAGES/{rng.choice(self.pkgs)}-{i}.mo", "mo",
                       400, 30 * KiB)
        for i in range(self.n(3000)):
            sz = rng.choice(("16x16", "22x22", "24x24", "32x32", "48x48", "64x64", "128x128", "256x256", "scalable"))
            cat = rng.choice(("apps", "actions", "devices", "mimetypes", "places", "status"))
            theme = rng.choice(("hicolor", "Adwaita", "Adwaita", "breeze"))
            if sz == "scalable":
                self.small(f"usr/share/icons/{theme}/{sz}/{cat}/{self.name()}-{i}.svg", "conf", 500, 20 * KiB)
            else:
                self.small(f"usr/share/icons/{theme}/{sz}/{cat}/{self.name()}-{i}.png", "gz", 200, 40 * KiB)
        self.tz = []
        for i in range(self.n(600)):
            region = rng.choice(("Europe", "America", "Asia", "Africa", "Australia", "Pacific", "Etc"))
            path = f"usr/share/zoneinfo/{region}/{self.name((2, 3)).title()}{i}"
            self.small(path, "tz", 120, 3 * KiB)
            self.tz.append(path)
        for i in range(self.n(60)):
            self.small(f"usr/share/fonts/truetype/{self.name()}/{self.name()}-{i}.ttf", "elf", 30 * KiB, 1200 * KiB)
        for i in range(self.n(900)):
            self.small(f"usr/share/{rng.choice(('perl5', 'perl/5.36', 'vim/vim90/syntax', 'bash-completion/completions'))}"
                       f"/{self.name((1, 3))}{i}.{rng.choice(('pm', 'vim', 'sh'))}", "script", 200, 30 * KiB)

    def _var(self):
        rng = self.rng
        info = "var/lib/dpkg/info"
        for p in self.pkgs:
            self.small(f"{info}/{p}.list", "paths", 100, 20 * KiB)
            self.small(f"{info}/{p}.md5sums", "sums", 100, 16 * KiB)
            for script in ("postinst", "prerm", "postrm"):
                if rng.random() < 0.25:
                    self.small(f"{info}/{p}.{script}", "script", 200, 6 * KiB, mode=0o755)
        self.small("var/lib/dpkg/status", "conf", self.big(3 * MiB), self.big(3 * MiB) + 1, mtime_ns=self.user_time())
        for i in range(self.n(2)):
            self.file(f"var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_{self.name()}{i}_Packages", "conf",
                      self.big(10 * MiB), mtime_ns=self.user_time())
        for i in range(self.n(20)):
            self.small(f"var/cache/apt/archives/{rng.choice(self.pkgs)}_{i}.deb", "gz", 20 * KiB, 4 * MiB)
        self.file(RANDOM_FILE, "rand", self.big(200 * MiB), 0o600)
        self.dir("var/lib/appdb", 0o750, 110, 117)
        self.file(DB_FILE, "db", self.big(150 * MiB), 0o640, 110, 117, self.user_time())
        self.dir("var/log", 0o755)
        self.file("var/log/syslog.1", "log", self.big(40 * MiB), 0o640, 0, 4, self.user_time())
        for i in range(self.n(120)):
            self.small(f"var/log/{rng.choice(('', 'apt/', 'installer/', 'nginx/'))}{self.name()}{i}.log", "log", 100,
                       200 * KiB, mode=0o640, gid=4, mtime_ns=self.user_time())
        self.dir("var/www/html", 0o755, 33, 33)
        for i in range(self.n(400)):
            self.small(f"var/www/html/{rng.choice(('', 'static/', 'blog/2024/'))}page{i}.html", "prose", 300, 30 * KiB,
                       uid=33, gid=33, mtime_ns=self.user_time())
        for i in range(self.n(60)):
            self.small(f"var/spool/cron/crontabs/user{i}", "conf", 50, 800, mode=0o600, gid=105,
                       mtime_ns=self.user_time())

    def _home(self):
        rng = self.rng
        self.dir("home/user", 0o750, 1000, 1000)
        ut = self.user_time
        for name in (".bashrc", ".profile", ".bash_history", ".gitconfig", ".vimrc"):
            self.small(f"home/user/{name}", "conf", 100, 20 * KiB, uid=1000, gid=1000, mtime_ns=ut(), mode=0o600)
        for i in range(self.n(2600)):
            sub = rng.choice(("Documents", "Documents/notes", "src/project", "src/project/lib", "src/project/tests",
                              ".config/app", ".local/share/app", "src/other/include"))
            ext = rng.choice(("txt", "md", "cpp", "h", "py", "json"))
            kind = {"cpp": "c", "h": "c", "py": "py", "json": "conf"}.get(ext, "prose")
            self.small(f"home/user/{sub}/f{i}.{ext}", kind, 100, 30 * KiB, uid=1000, gid=1000, mtime_ns=ut(),
                       mode=rng.choice((0o644, 0o644, 0o600, 0o664)))
        for i in range(self.n(1200)):                                    # git objects: 256 fan-out dirs
            h = "%040x" % rng.getrandbits(160)
            self.small(f"home/user/src/project/.git/objects/{h[:2]}/{h[2:]}", "gz", 60, 12 * KiB, mode=0o444,
                       uid=1000, gid=1000, mtime_ns=ut())
        for i in range(self.n(500)):
            self.small(f"home/user/.cache/app/{rng.getrandbits(64):016x}", "rand", 100, 64 * KiB, mode=0o600,
                       uid=1000, gid=1000, mtime_ns=ut())
        for i in range(self.n(15)):
            self.small(f"home/user/Pictures/IMG_{2000 + i}.jpg", "gz", 500 * KiB, 4 * MiB, uid=1000, gid=1000,
                       mtime_ns=ut())
        for name in ("Desktop", "Downloads", "Music", "Public", "Templates", "Videos"):
            self.dir(f"home/user/{name}", 0o755, 1000, 1000)
        for d in ("home/user/src/project", "home/user/src/other", "home/user/Documents", "home/user/.config",
                  "home/user/.cache", "home/user/.local", "home/user/.local/share", "home/user/Pictures"):
            self.dir(d, 0o755, 1000, 1000)
        for n in self.nodes.values():                                    # everything in home/user is the user's
            if n.kind == "d" and n.path.startswith("home/user"):
                n.uid = n.gid = 1000
        self.symlink("home/user/src/project/build/current", "../../other/include")       # relative dir link
        self.symlink("home/user/.local/share/app/last", f"{rng.getrandbits(64):016x}.gone")   # dangling
        for i in range(self.n(40)):
            self.small(f"root/.cache/{self.name()}{i}", "conf", 50, 8 * KiB, mode=0o600, mtime_ns=ut())

    def _duplicates(self):
        """Bring exact duplicates to about 10% of the regular files."""
        rng = self.rng
        for path in self.tz:                                            # zoneinfo/posix: a copy of everything
            self.copy(path, "usr/share/zoneinfo/posix/" + path[len("usr/share/zoneinfo/"):])
        opt = "opt/vendor-app"
        for i in range(self.n(25)):                                      # a vendored bundle of libraries
            src = rng.choice(self.libs[:-3])
            self.copy(src, f"{opt}/lib/{os.path.basename(src)}")
        for i in range(self.n(12)):
            src = rng.choice(self.bins)
            self.copy(src, f"{opt}/bin/{os.path.basename(src)}")
        files = [n for n in self.nodes.values() if n.kind == "f"]
        target = int(0.10 * len(files))
        have = sum(1 for n in files if n.dup)
        small = [n.path for n in files if 0 < n.size < 64 * KiB and not n.dup]
        vendored = [f"usr/lib/python3/dist-packages/{p.replace('-', '_')}/_vendor" for p in self.pkgs[:20]]
        vendored += [f"usr/share/javascript/{p}" for p in self.pkgs[20:40]]
        vendored += [f"{opt}/share/{self.name()}" for _ in range(20)]
        for i in range(max(0, target - have)):
            src = rng.choice(small)
            self.copy(src, f"{rng.choice(vendored)}/{i}-{os.path.basename(src)}")

    def _links(self):
        rng = self.rng
        files = [n.path for n in self.nodes.values() if n.kind == "f"]
        for i in range(self.n(300)):                                     # relative, same directory
            src = rng.choice(files)
            self.symlink(f"{os.path.dirname(src)}/link{i}-{os.path.basename(src)[:24]}", os.path.basename(src))
        for i in range(self.n(200)):                                     # relative, up and over
            src, here = rng.choice(files), rng.choice(files)
            rel = os.path.relpath(src, os.path.dirname(here))
            self.symlink(f"{os.path.dirname(here)}/rel{i}", rel)
        for i in range(self.n(100)):                                     # doc dir -> other package's doc dir
            name = f"usr/share/doc/{self.name((2, 3))}-doclink{i}"
            self.symlink(name, os.path.basename(rng.choice(self.docdirs)))
        for i in range(self.n(60)):                                      # dangling, relative and absolute
            self.symlink(f"usr/lib/{rng.choice(('', 'x86_64-linux-gnu/', 'python3/'))}dangling{i}",
                         f"../nonexistent/{self.name()}{i}" if i % 2 else f"/opt/removed/{self.name()}{i}")
        for i in range(self.n(30)):                                      # long target
            self.symlink(f"var/lib/alternatives-long/l{i}", "/" + "/".join(self.name((3, 4)) for _ in range(12)))

    def _empties(self):
        rng = self.rng
        for i in range(self.n(260)):
            d = rng.choice(("var/lib/misc", "etc/skel", "var/lib/ucf", "var/lib/apt/lists/partial", "var/lib/dpkg/triggers",
                            "var/lib/systemd/deb-systemd-helper-enabled", "usr/share/doc-base"))
            self.file(f"{d}/empty{i}", "conf", 0, rng.choice((0o644, 0o600, 0o444)))
        for i in range(self.n(320)):
            where = rng.choice(("srv", "mnt", "media", "opt", "var/spool", "var/lib", "etc", "usr/share", "var/cache"))
            self.dir(f"{where}/{self.name()}-empty{i}", rng.choice((0o755, 0o755, 0o700, 0o1777, 0o2775)))

    # -- summary
    def stats(self):
        c = {"entries": len(self.nodes), "dirs": 0, "files": 0, "symlinks": 0, "hardlinks": 0, "bytes": 0,
             "duplicates": 0, "empty_files": 0, "setuid_setgid": 0}
        for n in self.nodes.values():
            if n.kind == "d":
                c["dirs"] += 1
            elif n.kind == "l":
                c["symlinks"] += 1
            elif n.kind == "h":
                c["hardlinks"] += 1
            else:
                c["files"] += 1
                c["bytes"] += n.size
                c["duplicates"] += n.dup
                c["empty_files"] += n.size == 0
                c["setuid_setgid"] += bool(n.mode & 0o6000)
        c["gib"] = round(c["bytes"] / 2**30, 3)
        return c


# ----------------------------------------------------------------------------- writing

def write_tree(plan, out, seed=DEFAULT_SEED, progress=True):
    """Create the planned tree under out (which must not exist)."""
    if os.path.lexists(out):
        raise FileExistsError(f"{out} exists; refusing to overwrite")
    content = Content(seed)
    as_root = os.geteuid() == 0
    if not as_root:
        print("warning: not root: owners are not set, the tree is not the reference one", file=sys.stderr)
    old_umask = os.umask(0o022)
    try:
        os.makedirs(out)
        nodes = list(plan.nodes.values())
        files = [n for n in nodes if n.kind == "f"]
        done, total, t0 = 0, sum(n.size for n in files), time.monotonic()
        for n in nodes:                                  # directories first (plan order has parents first)
            if n.kind == "d" and n.path:
                os.makedirs(os.path.join(out, n.path), exist_ok=True)
        for k, n in enumerate(files):
            p = os.path.join(out, n.path)
            with open(p, "xb") as f:
                for chunk in content.chunks(n.content, n.size, n.seed):
                    f.write(chunk)
            if as_root:
                os.chown(p, n.uid, n.gid)
            os.chmod(p, n.mode)                          # after chown, which clears setuid bits
            os.utime(p, ns=(n.mtime_ns, n.mtime_ns))
            done += n.size
            if progress and k % 5000 == 4999:
                print(f"  {k + 1}/{len(files)} files, {done / total:.0%} of bytes, {time.monotonic() - t0:.0f}s",
                      file=sys.stderr)
        for n in nodes:
            p = os.path.join(out, n.path)
            if n.kind == "h":
                os.link(os.path.join(out, n.target), p)
            elif n.kind == "l":
                os.symlink(n.target, p)
                if as_root:
                    os.chown(p, n.uid, n.gid, follow_symlinks=False)
                os.utime(p, ns=(n.mtime_ns, n.mtime_ns), follow_symlinks=False)
        # directories last, deepest first: nothing is created in them afterwards
        for n in sorted((n for n in nodes if n.kind == "d"), key=lambda n: -n.path.count("/") - bool(n.path)):
            p = os.path.join(out, n.path) if n.path else out
            if as_root:
                os.chown(p, n.uid, n.gid)
            os.chmod(p, n.mode)
            os.utime(p, ns=(n.mtime_ns, n.mtime_ns))
    finally:
        os.umask(old_umask)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Example: make-dataset.py /var/tmp/tree --scale 0.05",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", nargs="?", help="directory to create (must not exist)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply entry counts and large-file sizes (default 1: ~63k entries, 1.27 GiB)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="PRNG seed (default %(default)s)")
    ap.add_argument("--estimate", action="store_true", help="print the plan's statistics as JSON and write nothing")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)
    if args.scale <= 0:
        ap.error("--scale must be positive")
    plan = Plan(args.scale, args.seed)
    stats = plan.stats()
    if args.estimate:
        print(json.dumps(stats, indent=1))
        return 0
    if not args.outdir:
        ap.error("outdir is required (or --estimate)")
    t0 = time.monotonic()
    if not args.quiet:
        print(f"make-dataset: {stats['entries']} entries, {stats['bytes'] / MiB:.1f} MiB -> {args.outdir}",
              file=sys.stderr)
    try:
        write_tree(plan, args.outdir, args.seed, progress=not args.quiet)
    except FileExistsError as e:
        print(f"make-dataset: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"make-dataset: done in {time.monotonic() - t0:.1f}s: {json.dumps(stats)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
