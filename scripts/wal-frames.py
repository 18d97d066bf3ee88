#!/usr/bin/env python3
"""Which pages a SQLite registration writes: the WAL frames of `dcr-dev bench`'s registrations,
by the table or index each page belongs to.

    scripts/wal-frames.py [count] [dcr-dev binary]

Runs `dcr-dev bench --count COUNT` (default 3000: few enough that the WAL is not rewound during
the registrations) on a SQLite file in a temp dir, copies the WAL and the database as soon as
the registrations are done (the bench prints their WAL line), then reads the frames of the
WAL's current generation (those whose salts match its header) and names each frame's page with
SQLite's `dbstat`. Prints frames and kB per registration for each table and index, overflow
pages apart, and the commits (batches). Its total per registration should match the bench's own
WAL line; lower, the WAL was rewound during the registrations (take a smaller count). Figures in
docs/benchmarks.md ("WAL per registration").
"""
import collections
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "dcr-dev")
work = tempfile.mkdtemp(prefix="dcr-wal-frames-")
db = os.path.join(work, "bench.db")
try:
    bench = subprocess.Popen(
        [binary, "bench", "--count", str(count), "--concurrency", "32",
         "--database-url", f"sqlite://{db}?mode=rwc"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in bench.stdout:
        print(line, end="")
        if line.strip().startswith("WAL") and not os.path.exists(db + ".copy-wal"):
            shutil.copy(db + "-wal", db + ".copy-wal")
            shutil.copy(db, db + ".copy")
    bench.wait()
    wal = open(db + ".copy-wal", "rb").read()
    _, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">IIIIIIII", wal[:32])
    pages, commits, at = [], 0, 32
    while at + 24 + page_size <= len(wal):
        page, commit, s1, s2 = struct.unpack(">IIII", wal[at:at + 16])
        if (s1, s2) != (salt1, salt2):
            break
        pages.append(page)
        commits += commit != 0
        at += 24 + page_size
    owner = {}
    con = sqlite3.connect(db + ".copy")
    for name, page, kind in con.execute("SELECT name, pageno, pagetype FROM dbstat"):
        owner[page] = name + (" (overflow)" if kind == "overflow" else "")
    con.close()
    frame = page_size + 24
    print(f"\n{len(pages)} frames of {page_size} bytes in {commits} commits "
          f"({count / max(commits, 1):.1f} registrations a commit); "
          f"{len(pages) * frame / count / 1000:.1f} kB per registration")
    for name, n in collections.Counter(owner.get(p, "(freed since)") for p in pages).most_common():
        print(f"  {name:<44} {n:>7} frames {n * frame / count / 1000:>6.2f} kB/registration")
finally:
    shutil.rmtree(work, ignore_errors=True)
