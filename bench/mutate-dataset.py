#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Apply a deterministic "system update" to a tree made by make-dataset.py, in place.

The change set, computed from a seeded PRNG and a sorted walk of the tree (so
the same input tree always gets the same change):

* 1% of the regular files are modified: a third overwritten in place (same
  size), a third appended to, a third replaced by a new file of new content
  through a rename (a new inode, as dpkg does);
* 0.5% of the regular files are deleted;
* 0.5% new files are added, most in existing directories, some in two new
  package directories;
* one 4 KiB page in the middle of the database-like large file is rewritten
  (same size, new mtime).

Changed files and the directories whose entries changed get new nanosecond
mtimes after every mtime of the original tree.  A tree that already has such
mtimes is refused (mutate a fresh copy), unless --force.
"""

import argparse
import importlib.util
import json
import math
import os
import random
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_make_dataset():
    """Import make-dataset.py (its name is not a valid module name)."""
    spec = importlib.util.spec_from_file_location("make_dataset", os.path.join(HERE, "make-dataset.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


md = load_make_dataset()

MUTATE_SEED = 4242
#: Every mtime set by the mutation is at or after this (one day after make-dataset's newest).
MUTATE_NS = md.NOW_NS + 86400 * 10**9


def scan(tree):
    """Sorted walk: (regular files as (rel, size, nlink), real directories, newest mtime in ns)."""
    files, dirs, newest = [], [], 0
    stack = [""]
    while stack:
        rel = stack.pop()
        dirs.append(rel)
        with os.scandir(os.path.join(tree, rel) if rel else tree) as it:
            entries = sorted(it, key=lambda e: e.name)
        sub = []
        for e in entries:
            st = e.stat(follow_symlinks=False)
            newest = max(newest, st.st_mtime_ns)
            path = f"{rel}/{e.name}" if rel else e.name
            if stat.S_ISDIR(st.st_mode):
                sub.append(path)
            elif stat.S_ISREG(st.st_mode):
                files.append((path, st.st_size, st.st_nlink))
        stack.extend(reversed(sub))
    return files, dirs, newest


def mutate(tree, seed=MUTATE_SEED, modify=0.01, add=0.005, delete=0.005, force=False):
    """Mutate tree in place; returns a summary dict (lists of changed paths included)."""
    files, dirs, newest = scan(tree)
    if newest >= MUTATE_NS and not force:
        raise RuntimeError(f"{tree} looks already mutated (mtimes at or after the mutation's); use a fresh copy")
    rng = random.Random(f"{seed}:mutate")
    content = md.Content(md.DEFAULT_SEED)
    n = len(files)
    n_mod, n_del, n_add = round(modify * n), round(delete * n), round(add * n)
    skip = {md.DB_FILE, md.RANDOM_FILE, md.PROBE_FILE}
    candidates = [f for f in files if f[2] == 1 and f[1] < 16 * md.MiB and f[0] not in skip]
    picks = rng.sample(candidates, n_mod + n_del)
    clock = [MUTATE_NS]

    def tick():
        clock[0] += rng.randrange(1, 10**9)
        return clock[0]

    touched_dirs = set()
    modified = []
    for i, (rel, size, _) in enumerate(picks[:n_mod]):
        p = os.path.join(tree, rel)
        how = ("overwrite", "append", "replace")[i % 3]
        if how == "overwrite" and size > 0:
            off = rng.randrange(size)
            with open(p, "r+b") as f:
                f.seek(off)
                f.write(rng.randbytes(min(size - off, rng.randint(1, 2048))))
        elif how == "append" or size == 0:
            with open(p, "ab") as f:
                f.write(content.text(rng, "conf", rng.randint(50, 4000), "\n# local change\n"))
        else:                                   # a new inode with new content, like a package upgrade
            st = os.lstat(p)
            tmp = p + ".dpkg-new"
            with open(tmp, "xb") as f:
                f.write(content.text(rng, "conf", max(1, int(size * rng.uniform(0.8, 1.2)))))
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            os.rename(tmp, p)
            touched_dirs.add(os.path.dirname(rel))
        t = tick()
        os.utime(p, ns=(t, t))
        modified.append(rel)
    deleted = []
    for rel, _, _ in picks[n_mod:]:
        os.unlink(os.path.join(tree, rel))
        touched_dirs.add(os.path.dirname(rel))
        deleted.append(rel)
    added = []
    homes = [d for d in dirs if d.startswith(("etc", "usr/share", "usr/lib", "home/user", "var/lib"))
             and "/.git/" not in d]
    new_dirs = ["usr/share/doc/rewind-bench-newpkg", "usr/lib/python3/dist-packages/rewind_bench_newpkg"]
    for i in range(n_add):
        d = new_dirs[i % 2] if i % 5 == 0 else rng.choice(homes)
        os.makedirs(os.path.join(tree, d), exist_ok=True)
        rel = f"{d}/new-{i}.{rng.choice(('conf', 'py', 'txt'))}"
        p = os.path.join(tree, rel)
        size = int(math.exp(rng.uniform(math.log(200), math.log(16 * 1024))))
        with open(p, "xb") as f:
            f.write(content.text(rng, rng.choice(("conf", "py", "prose")), size))
        os.chmod(p, 0o644)
        t = tick()
        os.utime(p, ns=(t, t))
        touched_dirs.add(d)
        added.append(rel)
    # the database: rewrite one 4 KiB page in the middle
    db = os.path.join(tree, md.DB_FILE)
    db_edit = None
    if os.path.isfile(db):
        size = os.path.getsize(db)
        off = size // 2 // md.DB_PAGE * md.DB_PAGE
        page = content.db_page(rng, off // md.DB_PAGE)
        with open(db, "r+b") as f:
            f.seek(off)
            f.write(page)
        t = tick()
        os.utime(db, ns=(t, t))
        db_edit = {"path": md.DB_FILE, "offset": off, "length": len(page)}
    for d in sorted(touched_dirs, key=lambda d: (-d.count("/"), d)):     # parents of new dirs too
        while True:
            t = tick()
            os.utime(os.path.join(tree, d) if d else tree, ns=(t, t))
            if d not in new_dirs:
                break
            d = os.path.dirname(d)
    return {"files_before": n, "modified": modified, "deleted": deleted, "added": added, "db_edit": db_edit}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Example: mutate-dataset.py /var/tmp/tree",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tree", help="tree made by make-dataset.py, changed in place")
    ap.add_argument("--seed", type=int, default=MUTATE_SEED, help="PRNG seed (default %(default)s)")
    ap.add_argument("--force", action="store_true", help="mutate even a tree that looks already mutated")
    ap.add_argument("--json", metavar="FILE", help="write the change set (paths) as JSON to FILE")
    ap.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    args = ap.parse_args(argv)
    try:
        res = mutate(args.tree, args.seed, force=args.force)
    except (RuntimeError, OSError) as e:
        print(f"mutate-dataset: {e}", file=sys.stderr)
        return 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if not args.quiet:
        print(f"mutate-dataset: of {res['files_before']} files: modified {len(res['modified'])}, "
              f"deleted {len(res['deleted'])}, added {len(res['added'])}; db edit {res['db_edit']}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
