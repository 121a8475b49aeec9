"""Where a batch ends, from where it starts (workflows/engine.py `batch_end`): in content order the batches ramp up,
so the heaviest item goes alone first; otherwise, and in runs started before the ramp, `batch_size` each."""

from __future__ import annotations

import pytest

from migrayt.workflows.engine import batch_end


def bounds(size: int, batch_size: int, ramped: bool) -> list[int]:
    """The starts of a range's batches, and its size: each batch starts where the one before ended."""
    places = [0]
    while places[-1] < size:
        places.append(batch_end(places[-1], size, batch_size, ramped))
    return places


def test_ramped_batches_of_50_go_1_2_4_8_16_then_50_each():
    assert bounds(200, 50, ramped=True) == [0, 1, 3, 7, 15, 31, 81, 131, 181, 200]


def test_unramped_batches_are_batch_size_each():
    assert bounds(200, 50, ramped=False) == [0, 50, 100, 150, 200]
    assert bounds(5, 1, ramped=True) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 7, 8, 10, 31, 32, 33, 50])
def test_the_ramp_doubles_holds_less_than_one_full_batch_and_never_passes_batch_size(batch_size):
    places = bounds(1000, batch_size, ramped=True)
    sizes = [end - start for start, end in zip(places, places[1:], strict=False)][:-1]
    ramp = [s for s in sizes if s < batch_size]
    assert ramp == [2**k for k in range(len(ramp))]
    assert sum(ramp) < batch_size and all(s <= batch_size for s in sizes)
    assert sizes[len(ramp) :] == [batch_size] * (len(sizes) - len(ramp))


def test_a_short_range_ends_its_batches_at_its_end():
    assert bounds(2, 50, ramped=True) == [0, 1, 2]
    assert bounds(10, 50, ramped=True) == [0, 1, 3, 7, 10]
