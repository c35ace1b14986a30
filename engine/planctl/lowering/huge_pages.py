"""Transparent huge pages for a loaded build's weights (Linux).

A build's weights are constants in its library: loading it copies them (90 MB for MiniLM) into
heap memory of 4 KiB pages, and every kernel then walks them with a TLB miss every 4 KiB. Backed by
2 MiB pages they cost 512x fewer TLB entries. TVM allocates them with ``posix_memalign`` and never
asks for huge pages; most Linux hosts run THP in ``madvise`` mode (``/sys/kernel/mm/
transparent_hugepage/enabled``), where only memory marked ``MADV_HUGEPAGE`` gets them. So
``loaded_with_huge_pages`` marks the memory that loading a build mapped and collapses it into huge
pages at once (``MADV_COLLAPSE``, Linux 6.1+; on older kernels khugepaged collapses it later).

Why: the same tuned MiniLM build measured 62-80 ms by the process's heap state, 68 with glibc's
``glibc.malloc.hugetlb=1`` tunable (docs/tvm-0.27.md, section 8); a tunable must be set before the
process starts, which a library that loads a build cannot do. With this, MiniLM's x86-64-avx512
builds ran 7-8% faster at 32 x 16 and 3% at 8 x 16, and the same at 8 x 128; the collapse copies
the pages, about 0.1 s a build at load, once per process (section 18).

Only blocks that appeared while the build loaded are touched: a 2 MiB-aligned block of a private
anonymous mapping that was not wholly mapped before (where the kernel merged the new mapping with
an older neighbour, the one block across their edge counts as new). Contents never change, only
the page size. Everything here is best effort: on another OS, with THP off, or when the kernel
refuses, the build runs as before. ``PLANCTL_HUGE_PAGES=0`` turns it off.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger("planctl.runtime")
BLOCK = 2 << 20          # x86-64 and arm64 (4 KiB base pages): the PMD-level huge page
MADV_HUGEPAGE = 14       # linux/mman.h
MADV_COLLAPSE = 25       # linux/mman.h, Linux 6.1
SWITCH = "PLANCTL_HUGE_PAGES"
MAPS = "/proc/self/maps"


def enabled() -> bool:
    """Whether to try: Linux, not switched off by ``PLANCTL_HUGE_PAGES=0``, and THP not ``never``."""
    switched_off = os.environ.get(SWITCH, "1").strip().lower() in ("0", "false", "no", "off")
    if switched_off or not sys.platform.startswith("linux"):
        return False
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii") as fh:
            return "[never]" not in fh.read()
    except OSError:
        return False


def anonymous_blocks(maps_text: str | None = None) -> set[int]:
    """Start addresses of the ``BLOCK``-aligned blocks lying wholly inside a private, anonymous,
    read-write mapping of this process (``maps_text``: the text of /proc/self/maps, for tests)."""
    if maps_text is None:
        try:
            with open(MAPS, encoding="ascii") as fh:
                maps_text = fh.read()
        except OSError:
            return set()
    blocks: set[int] = set()
    for line in maps_text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        low, high = (int(x, 16) for x in fields[0].split("-"))
        start = (low + BLOCK - 1) // BLOCK * BLOCK
        blocks.update(range(start, high - BLOCK + 1, BLOCK))
    return blocks


def runs(blocks: set[int]) -> list[tuple[int, int]]:
    """``blocks`` merged into ``[(start, length)]`` runs of adjacent blocks, ascending."""
    merged: list[list[int]] = []
    for start in sorted(blocks):
        if merged and merged[-1][0] + merged[-1][1] == start:
            merged[-1][1] += BLOCK
        else:
            merged.append([start, BLOCK])
    return [(start, length) for start, length in merged]


def advise(blocks: set[int]) -> int:
    """Mark ``blocks`` ``MADV_HUGEPAGE`` and collapse them (``MADV_COLLAPSE``); returns the bytes
    the kernel collapsed now (0 where it refused or cannot, e.g. before Linux 6.1)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    collapsed = 0
    for start, length in runs(blocks):
        if libc.madvise(start, length, MADV_HUGEPAGE) == 0 and libc.madvise(start, length, MADV_COLLAPSE) == 0:
            collapsed += length
    return collapsed


@contextmanager
def loaded_with_huge_pages(what: str) -> Iterator[None]:
    """Around the loading of a build (``what`` names it in the debug log): afterwards, the blocks
    that loading mapped are given huge pages (see the module docstring)."""
    if not enabled():
        yield
        return
    before = anonymous_blocks()
    yield
    fresh = anonymous_blocks() - before
    if fresh:
        collapsed = advise(fresh)
        log.debug("planctl: %s: %d MiB of freshly loaded memory marked for huge pages, %d MiB collapsed now",
                  what, len(fresh) * BLOCK >> 20, collapsed >> 20)
