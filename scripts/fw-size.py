#!/usr/bin/env python3
"""Flash use of a firmware ELF by crate: sums `nm -S` sizes of code and
read-only data symbols by the first path segment of the demangled name
(generic code is counted where it is instantiated: `<X as Y>` by X's crate)."""
import re, subprocess, sys
from collections import Counter

elf = sys.argv[1]
out = subprocess.run(["nm", "-S", "-C", "--size-sort", elf], capture_output=True, text=True, check=True).stdout
tot = Counter()
for line in out.splitlines():
    parts = line.split(None, 3)
    if len(parts) < 4 or parts[2] not in "tTrR":
        continue
    size, name = int(parts[1], 16), parts[3]
    if name.startswith(".L"):
        tot["(anonymous read-only data: constants, the 64 KB flash image)"] += size
        continue
    name = name.lstrip("<&*").replace("dyn ", "").replace("mut ", "")
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", name)
    crate = m.group(1) if m else "?"
    if crate in ("core", "compiler_builtins") or crate.startswith("_"):
        crate = crate if crate in ("core", "compiler_builtins") else "(linker/runtime)"
    tot[crate] += size
total = sum(tot.values())
print(f"{'bytes':>8}  share  crate (symbols in .text/.rodata, {total} B in all)")
for c, s in tot.most_common(25):
    print(f"{s:>8}  {100*s/total:4.1f}%  {c}")
