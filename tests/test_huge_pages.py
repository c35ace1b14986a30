"""planctl.lowering.huge_pages: only memory that appeared while a build loaded gets huge pages."""
from __future__ import annotations

import ctypes
import mmap
import re
import sys

import pytest

from planctl.lowering import huge_pages
from planctl.lowering.huge_pages import BLOCK, anonymous_blocks, loaded_with_huge_pages, runs

MAPS = """\
55d0c0000000-55d0c0a00000 rw-p 00000000 00:00 0                          [heap]
7f0000100000-7f0000700000 rw-p 00000000 00:00 0
7f0000800000-7f0000c00000 r--p 00000000 00:00 0
7f0001000000-7f0001400000 rw-p 00000000 08:01 1234                       /usr/lib/libfoo.so
7f0002000000-7f0002400000 rw-s 00000000 00:01 99                         /dev/zero (deleted)
7ffd00000000-7ffd00400000 rw-p 00000000 00:00 0                          [stack]
"""


def test_blocks_are_the_aligned_2mib_blocks_inside_private_anonymous_rw_mappings():
    blocks = anonymous_blocks(MAPS)
    heap = {0x55D0C0000000 + i * BLOCK for i in range(5)}            # 10 MiB of heap: five blocks
    anon = {0x7F0000200000, 0x7F0000400000}                           # 1 MiB..7 MiB: two whole blocks
    assert blocks == heap | anon   # read-only, file-backed, shared and the stack are never touched


def test_adjacent_blocks_merge_into_one_run():
    assert runs({0, BLOCK, 2 * BLOCK, 5 * BLOCK}) == [(0, 3 * BLOCK), (5 * BLOCK, BLOCK)]
    assert runs(set()) == []


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv(huge_pages.SWITCH, "0")
    assert not huge_pages.enabled()


def _huge_kib(address: int, size: int) -> int:
    """AnonHugePages (KiB) of this process's mappings that overlap [address, address + size)
    (madvise splits a mapping at the advised range; the kernel merges adjacent ones)."""
    total = 0
    for chunk in re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", open("/proc/self/smaps").read()):
        low, high = (int(x, 16) for x in chunk.split()[0].split("-"))
        if low < address + size and high > address:
            total += int(re.search(r"AnonHugePages:\s+(\d+) kB", chunk).group(1))
    return total


def _mapped(size: int) -> tuple[mmap.mmap, int]:
    region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    region.write(b"\1" * size)   # touched, as loaded weights are
    return region, ctypes.addressof(ctypes.c_char.from_buffer(region))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux memory maps")
def test_memory_mapped_during_the_load_is_collapsed_and_earlier_memory_is_not(monkeypatch):
    monkeypatch.delenv(huge_pages.SWITCH, raising=False)
    if not huge_pages.enabled():
        pytest.skip("transparent huge pages are off on this host")
    earlier, earlier_at = _mapped(8 * BLOCK)
    with loaded_with_huge_pages("a test build"):
        loaded, loaded_at = _mapped(8 * BLOCK)
    size = 8 * BLOCK
    if _huge_kib(loaded_at, size) == 0:
        pytest.skip("this kernel does not collapse on request (MADV_COLLAPSE needs Linux 6.1)")
    assert _huge_kib(loaded_at, size) >= 7 * BLOCK // 1024   # the aligned blocks of the 16 MiB mapped inside
    assert _huge_kib(earlier_at, size) == 0                  # the caller's memory is left as it was
    assert loaded[:4] == b"\1" * 4 and earlier[:4] == b"\1" * 4   # contents kept
