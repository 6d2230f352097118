"""The text of a `.dir` manifest as DVC writes it (`json.dumps(..., sort_keys=True)`):
where two versions differ, found without parsing either. A leaf: the delta
(`dvcfiles/objects.py`) and the safety proof of an edit (`safety.py`) both read it.
"""

from __future__ import annotations

SEP = b"}, {"  # between entries
BLOCK = 1 << 14


def differing_regions(a: bytes, b: bytes, frame: int = 0) -> list[tuple[int, int, int]]:
    """(start, end in a, end in b) of runs of whole entries that may differ.

    The entries lie between `frame` bytes at each end of both texts (2 for `[{` and `}]`);
    offsets are into the texts as given, which are never copied (80 MB at 10^6 entries).
    Outside the runs both texts are byte-equal and cut at the same separators, so the
    entries there are the same. Entries edited in place keep their offsets (equal
    lengths): only the differing blocks count. Otherwise the span between the equal head
    and tail does.
    """
    a_end, b_end = len(a) - frame, len(b) - frame
    if len(a) == len(b):
        spans = [(i, min(i + BLOCK, a_end))
                 for i in range(frame, a_end, BLOCK) if a[i:i + BLOCK] != b[i:i + BLOCK]]
    else:
        head = frame
        while a[head:head + BLOCK] == b[head:head + BLOCK]:
            head += BLOCK
        tail = 0
        while head + tail + BLOCK <= min(a_end, b_end) and (
                a[a_end - tail - BLOCK:a_end - tail] == b[b_end - tail - BLOCK:b_end - tail]):
            tail += BLOCK
        start = a.rfind(SEP, frame, head)
        start = frame if start < 0 else start + len(SEP)
        end = a.find(SEP, a_end - tail, a_end)
        if end < 0:
            return [(start, a_end, b_end)]
        return [(start, end, end + len(b) - len(a))]
    regions: list[tuple[int, int, int]] = []
    equal_from = frame  # bytes from here up to the next span are equal in both
    for k, (lo, hi) in enumerate(spans):
        sep = a.rfind(SEP, equal_from, lo)  # a separator in the equal gap: both have it
        if regions and (regions[-1][1] >= lo or sep < 0):
            start = regions.pop()[0]  # none: one region with the previous
        else:
            start = frame if sep < 0 else sep + len(SEP)
        limit = spans[k + 1][0] if k + 1 < len(spans) else a_end
        end = a.find(SEP, hi, limit)
        end = limit if end < 0 else end
        regions.append((start, end, end))
        equal_from = hi
    return regions
