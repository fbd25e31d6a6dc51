#!/usr/bin/env python3
"""What the raconn firmware costs a board: flash, static RAM, stack peak.

    python3 scripts/fw-size.py ELF [--stack LABEL=BYTES ...] [--buffers LABEL:MARKS ...]
        [--variant TITLE=ELF --variant-stack LABEL=BYTES ...] [--markdown FILE]
    python3 scripts/fw-size.py --compare OLD.md NEW.md [--tolerance BYTES]

Flash is .vector_table + .text + .rodata + .data (its initial values sit in
flash); static RAM is .data + .bss. Two items exist only because QEMU's
board has no NOR flash and are shown on their own lines and left out of the
"a real board pays" figures: the flash-image constant (`IMAGE`, the
provisioned configuration a real part would have in its flash) and the
RAM-backed flash (`FLASH`, a real part's NOR flash).

Per crate: `nm -S` sizes of code and read-only data, by the first path
segment of the demangled name (generic code counted where instantiated:
`<X as Y>` by X's crate). Anonymous read-only data (`.L…` constants:
tables, strings) is attributed to the crate of the function that loads its
address (a literal-pool word or a MOVW/MOVT pair in .text); what no
function references stays on its own line. Crates under 2 KB are summed.

The totals are exact for one build but not byte-reproducible across
checkouts: cargo hashes the absolute path of a path dependency that lies
outside the firmware's own workspace (core/, host-embedded/) into its crate
hash, symbol hashes follow, and with them the function order, alignment
padding and the machine outliner's choices (clones at three paths: 303,984,
304,036 and 304,040 B of flash). `--compare` therefore checks the two
figures a real board pays (flash, static RAM) within a tolerance and exits
1 naming the figure that moved further.

Stack peaks come from the firmware's painted-stack measurement
("stack high-water mark: N bytes"), passed in with --stack; peak RAM is
static RAM (real board) plus the largest of them. Work-buffer high-water
marks come from the firmware's "buffer high-water marks: NAME=USED/SIZE …"
line, passed in with --buffers LABEL:MARKS (one per server key type).

--variant TITLE=ELF adds a short table for another build of the firmware
(the `max-fragment-4096` one): what a real board pays for it, its stack
peaks (--variant-stack) and its peak RAM. `--compare` checks the main
build's figures only.
"""
import bisect, re, struct, subprocess, sys
from collections import Counter, defaultdict


def sections(elf):
    """{name: (addr, offset, size)} from the ELF32 section headers."""
    with open(elf, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 1:
        sys.exit(f"{elf}: not an ELF32 file")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    hdrs = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = hdrs[shstrndx]
    def name(off):
        s = data[strtab[4] + off:]
        return s[:s.index(b"\0")].decode()
    out = {name(h[0]): (h[3], h[4], h[5], h[1]) for h in hdrs}
    return data, out


def crate_of(name):
    name = name.lstrip("<&*( ").replace("dyn ", "").replace("mut ", "").replace("const ", "")
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", name)
    c = m.group(1) if m else "?"
    if c.startswith("_") or c in ("?",):
        return "(linker/runtime)"
    if c.startswith("OUTLINED_FUNCTION_"):
        return "(code the machine outliner shared between functions)"
    return c


BOARD_FIGURES = ("flash a real board pays", "static RAM a real board pays")


def board_figures(md):
    """{figure: bytes} for the board figures of a SIZE.md."""
    found = {}
    with open(md) as f:
        for line in f:
            m = re.match(r"\| \*\*(.+?)\*\* \| \*\*([\d,]+)\*\* \|", line)
            if m and m.group(1) in BOARD_FIGURES:
                found[m.group(1)] = int(m.group(2).replace(",", ""))
    missing = [k for k in BOARD_FIGURES if k not in found]
    if missing:
        sys.exit(f"{md}: no line for {', '.join(missing)}")
    return found


def compare(old_md, new_md, tolerance):
    old, new = board_figures(old_md), board_figures(new_md)
    bad = 0
    for k in BOARD_FIGURES:
        d = new[k] - old[k]
        if abs(d) > tolerance:
            print(f"{k}: {old[k]:,} -> {new[k]:,} B ({d:+,} B, more than the {tolerance} B "
                  f"a checkout's path can move it): commit the regenerated SIZE.md")
            bad = 1
        else:
            print(f"{k}: {new[k]:,} B, checked in {old[k]:,} B ({d:+,} B, within {tolerance} B)")
    return bad


def board(elf):
    """Flash and static RAM a real board pays: the sections without the
    flash-image constant and the RAM-backed flash."""
    _, secs = sections(elf)
    sz = lambda n: secs.get(n, (0, 0, 0, 0))[2]
    flash = sz(".vector_table") + sz(".text") + sz(".rodata") + sz(".data")
    static = sz(".data") + sz(".bss")
    nm = subprocess.run(["nm", "-S", "-C", elf], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        p = line.split(None, 3)
        if len(p) < 4:
            continue
        size, kind, name = int(p[1], 16), p[2], p[3]
        if kind in "bBdD" and name.endswith("::FLASH") and name.startswith("raconn_firmware"):
            static -= size
        if kind in "rR" and name == "raconn_firmware::IMAGE":
            flash -= size
    return flash, static


def main(argv):
    args = argv[1:]
    if not args:
        sys.exit(__doc__)
    if args[0] == "--compare":
        if len(args) not in (3, 5) or (len(args) == 5 and args[3] != "--tolerance"):
            sys.exit(__doc__)
        sys.exit(compare(args[1], args[2], int(args[4]) if len(args) == 5 else 512))
    elf, stacks, buffers, md = args[0], [], [], None
    variant, vstacks = None, []
    i = 1
    while i < len(args):
        if args[i] == "--variant":
            title, _, velf = args[i + 1].rpartition("=")
            variant = (title, velf)
            i += 2
        elif args[i] == "--variant-stack":
            label, _, n = args[i + 1].rpartition("=")
            vstacks.append((label, int(n)))
            i += 2
        elif args[i] == "--stack":
            label, _, n = args[i + 1].rpartition("=")
            stacks.append((label, int(n)))
            i += 2
        elif args[i] == "--buffers":
            # LABEL:NAME=USED/SIZE NAME=USED/SIZE ... (the firmware's line)
            label, _, marks = args[i + 1].partition(":")
            row = []
            for m in marks.split():
                name, _, us = m.partition("=")
                used, _, size = us.partition("/")
                row.append((name, int(used), int(size)))
            buffers.append((label, row))
            i += 2
        elif args[i] == "--markdown":
            md = args[i + 1]
            i += 2
        else:
            sys.exit(f"unknown argument {args[i]}")
    data, secs = sections(elf)
    sz = lambda n: secs.get(n, (0, 0, 0, 0))[2]
    flash = sz(".vector_table") + sz(".text") + sz(".rodata") + sz(".data")
    static = sz(".data") + sz(".bss")

    nm = subprocess.run(["nm", "-S", "-C", elf], capture_output=True, text=True, check=True).stdout
    funcs, anon, image, ramflash = [], [], 0, 0
    tot = Counter()
    for line in nm.splitlines():
        p = line.split(None, 3)
        if len(p) < 4:
            continue
        addr, size, kind, name = int(p[0], 16), int(p[1], 16), p[2], p[3]
        if kind in "bBdD" and name.endswith("::FLASH") and name.startswith("raconn_firmware"):
            ramflash += size
        if kind not in "tTrR":
            continue
        if name == "raconn_firmware::IMAGE":
            image += size
            continue
        if name.startswith(".L"):
            anon.append((addr, size))
            continue
        c = crate_of(name)
        tot[c] += size
        if kind in "tT":
            funcs.append((addr & ~1, size, c))

    # Anonymous constants: who loads their address?
    funcs.sort()
    fstarts = [f[0] for f in funcs]
    anon.sort()
    astarts = [a[0] for a in anon]
    def anon_at(v):
        k = bisect.bisect_right(astarts, v) - 1
        if k >= 0 and anon[k][0] <= v < anon[k][0] + anon[k][1]:
            return k
        return None
    def func_at(a):
        k = bisect.bisect_right(fstarts, a) - 1
        if k >= 0 and funcs[k][0] <= a < funcs[k][0] + max(funcs[k][1], 1) + 256:
            return funcs[k][2]
        return None
    refs = defaultdict(Counter)
    taddr, toff, tsize, _ = secs[".text"]
    text = data[toff:toff + tsize]
    for o in range(0, tsize - 3, 4):  # literal-pool words
        v, = struct.unpack_from("<I", text, o)
        k = anon_at(v)
        if k is not None:
            c = func_at(taddr + o)
            if c:
                refs[k][c] += 1
    last_movw, cur = {}, None
    for o in range(0, tsize - 3, 2):  # MOVW/MOVT pairs (Thumb-2 T3 encodings)
        h1, h2 = struct.unpack_from("<HH", text, o)
        k = bisect.bisect_right(fstarts, taddr + o) - 1
        if k != cur:  # a pair never spans two functions
            last_movw, cur = {}, k
        op = h1 & 0xFBF0
        if op not in (0xF240, 0xF2C0) or h2 & 0x8000:
            continue
        imm = ((h1 & 0xF) << 12) | (((h1 >> 10) & 1) << 11) | (((h2 >> 12) & 7) << 8) | (h2 & 0xFF)
        rd = (h2 >> 8) & 0xF
        if op == 0xF240:
            last_movw[rd] = (o, imm)
        elif rd in last_movw and o - last_movw[rd][0] <= 64:
            k = anon_at((imm << 16) | last_movw[rd][1])
            if k is not None:
                c = func_at(taddr + o)
                if c:
                    refs[k][c] += 1
    unref = 0
    for k, (a, s) in enumerate(anon):
        if refs[k]:
            # Most references wins; a tie goes to the first crate by name, so
            # the table does not depend on where the linker put the functions.
            best = min(refs[k].items(), key=lambda cn: (-cn[1], cn[0]))[0]
            tot[best] += s
        else:
            unref += s

    rows = [(s, c) for c, s in tot.most_common() if s >= 2048]
    small = sum(s for c, s in tot.items() if s < 2048)
    named = sum(tot.values()) + unref
    board_flash = flash - image
    board_static = static - ramflash

    lines = []
    w = lines.append
    w("| | bytes | KiB |")
    w("|---|---:|---:|")
    k = lambda n: f"{n / 1024:.1f}"
    w(f"| flash (.vector_table + .text + .rodata + .data) | {flash:,} | {k(flash)} |")
    w(f"| &nbsp;&nbsp;of which the flash-image constant (`IMAGE`, QEMU only) | {image:,} | {k(image)} |")
    w(f"| **flash a real board pays** | **{board_flash:,}** | **{k(board_flash)}** |")
    w(f"| static RAM (.data + .bss) | {static:,} | {k(static)} |")
    w(f"| &nbsp;&nbsp;of which the RAM-backed flash (`FLASH`, QEMU only) | {ramflash:,} | {k(ramflash)} |")
    w(f"| **static RAM a real board pays** | **{board_static:,}** | **{k(board_static)}** |")

    def stack_rows(stacks, board_static):
        """The stack peaks, and static RAM plus the largest as peak RAM."""
        for label, n in stacks:
            w(f"| stack high-water mark, {label} | {n:,} | {k(n)} |")
        peak = max((n for _, n in stacks), default=None)
        if peak is not None:
            w(f"| **peak RAM a real board pays** (static + largest stack) | **{board_static + peak:,}** | **{k(board_static + peak)}** |")

    stack_rows(stacks, board_static)
    if variant:
        vflash, vstatic = board(variant[1])
        w("")
        w(f"{variant[0]}:")
        w("")
        w("| | bytes | KiB |")
        w("|---|---:|---:|")
        w(f"| flash a real board pays | {vflash:,} | {k(vflash)} |")
        w(f"| static RAM a real board pays | {vstatic:,} | {k(vstatic)} |")
        stack_rows(vstacks, vstatic)
    if buffers:
        w("")
        w("Work buffers (in the static RAM above): size, and the high-water mark of the real "
          "issuance under QEMU against raconn-sim (painted, as the stack is):")
        w("")
        w("| buffer | size | " + " | ".join(f"used, {label}" for label, _ in buffers) + " |")
        w("|---|---:|" + "---:|" * len(buffers))
        for j, (name, _, size) in enumerate(buffers[0][1]):
            used = [row[j][1] if j < len(row) else 0 for _, row in buffers]
            w(f"| {name} | {size:,} | " + " | ".join(f"{u:,}" for u in used) + " |")
    w("")
    w(f"Code and read-only data by crate ({named:,} B in symbols; the flash-image constant left out):")
    w("")
    w("| bytes | share | crate |")
    w("|---:|---:|---|")
    for s, c in rows:
        w(f"| {s:,} | {100 * s / named:.1f}% | {c} |")
    w(f"| {small:,} | {100 * small / named:.1f}% | crates under 2 KB each, together |")
    w(f"| {unref:,} | {100 * unref / named:.1f}% | anonymous constants no function references by address |")
    w("")
    w(f"Flash a real board pays outside sized symbols (vector table, alignment padding, "
      f"symbols without a size such as runtime labels): {board_flash - named:,} B.")
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if md:
        with open(md, "w") as f:
            f.write("# Firmware size (generated — do not edit)\n\n")
            f.write("`scripts/test.sh` regenerates this file from the release firmware\n")
            f.write("(`host-embedded/firmware`, QEMU mps2-an386) and the stack peaks of the real\n")
            f.write("issuance under QEMU (`tests/examples/qemu_issuance.rs`) and shows the diff\n")
            f.write("against the checked-in copy; it fails when flash or static RAM a real board\n")
            f.write("pays moved by more than 512 B (a checkout's path alone moves them by tens of\n")
            f.write("bytes). Made by `scripts/fw-size.py`, whose doc says what each line counts.\n\n")
            f.write(report)


if __name__ == "__main__":
    main(sys.argv)
