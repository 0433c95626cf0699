"""The frame a worker hands to the capture writer (container/runtime/capture_record.py): what is packed
is what is unpacked, whatever the ids, types and bodies, and a frame cut anywhere waits for the rest."""

from __future__ import annotations

import random

from container.runtime.capture_record import HEAD, Item, pack, unpack


def items(seed: int, n: int) -> list[Item]:
    rng = random.Random(seed)
    ids = [None, "", "order-42/line 7", "x" * 64, "é\udcff"]  # a lone surrogate survives, as latin-1 headers can
    types = ["application/json", "text/csv; charset=utf-8", "", "application/x-ümlaut"]
    return [(rng.uniform(0, 2e9), rng.choice(ids), rng.choice(ids), rng.choice(types),
             rng.randbytes(rng.choice([0, 1, 17, 5000])), rng.choice(types), rng.randbytes(rng.choice([0, 9])))
            for _ in range(n)]


def test_pack_then_unpack_gives_the_same_items() -> None:
    sent = items(1, 300)
    stream = b"".join(pack(*item) for item in sent)
    got, used = unpack(stream)
    assert got == sent and used == len(stream)


def test_a_cut_frame_waits_for_the_rest() -> None:
    sent = items(2, 20)
    stream = b"".join(pack(*item) for item in sent)
    rng = random.Random(3)
    for cut in [*sorted(rng.sample(range(1, len(stream)), 40)), HEAD.size - 1, HEAD.size]:
        head, used = unpack(stream[:cut])
        rest, more = unpack(stream[used:])
        assert head + rest == sent and used <= cut and used + more == len(stream)
