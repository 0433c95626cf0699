"""The batches a worker hands to its capture writer (container/runtime/capture_record.py): what is sent
is what is received, whatever the ids, types and bodies, and a batch cut anywhere waits for the rest."""

from __future__ import annotations

import random

from container.runtime.capture_record import BATCH_HEAD, Item, decode_batches, encode_batch


def items(seed: int, n: int) -> list[Item]:
    rng = random.Random(seed)
    ids = [None, "", "order-42/line 7", "x" * 64, "é\udcff"]  # a lone surrogate survives, as latin-1 headers can
    types = ["application/json", "text/csv; charset=utf-8", "", "application/x-ümlaut"]
    out: list[Item] = []
    for _ in range(n):
        body, reply = rng.randbytes(rng.choice([0, 1, 17, 5000])), rng.randbytes(rng.choice([0, 9]))
        out.append((rng.uniform(0, 2e9), rng.choice(ids), rng.choice(ids), rng.choice(types), body,
                    rng.choice(types), reply, len(body) + len(reply)))
    return out


def test_batches_come_out_as_they_went_in() -> None:
    sent = [items(seed, n) for seed, n in ((1, 300), (2, 0), (3, 1))]
    stream = b"".join(encode_batch(batch) for batch in sent)
    got, used = decode_batches(bytearray(stream))
    assert got == [item for batch in sent for item in batch] and used == len(stream)


def test_a_cut_batch_waits_for_the_rest() -> None:
    sent = [items(4, 5), items(5, 7)]
    stream = b"".join(encode_batch(batch) for batch in sent)
    rng = random.Random(6)
    for cut in [*sorted(rng.sample(range(1, len(stream)), 40)), BATCH_HEAD.size - 1, BATCH_HEAD.size]:
        head, used = decode_batches(bytearray(stream[:cut]))
        rest, more = decode_batches(bytearray(stream[used:]))
        assert head + rest == sent[0] + sent[1] and used <= cut and used + more == len(stream)
