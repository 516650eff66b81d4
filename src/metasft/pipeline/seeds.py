"""Seeds derived from the config's seed and a name: every random choice of the pipeline."""

from __future__ import annotations

import zlib


def derived_seed(*parts) -> int:
    """A stable 31-bit seed from any parts (config seed, stage, domain): the same in every process."""
    return zlib.crc32(":".join(map(str, parts)).encode()) & 0x7FFFFFFF
