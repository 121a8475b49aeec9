"""Where a batch ends, from where it starts (workflows/engine.py `batch_end`): in content order the heaviest item goes
alone first; otherwise, and in runs started before the ramp, `batch_size` each."""

from __future__ import annotations

from migrayt.workflows.engine import batch_end


def bounds(size: int, batch_size: int, ramped: bool) -> list[int]:
    """The places where a range's batches start, and its end."""
    places = [0]
    while places[-1] < size:
        places.append(batch_end(places[-1], size, batch_size, ramped))
    return places


def test_ramped_the_first_item_goes_alone_then_batch_size_each():
    assert bounds(200, 50, ramped=True) == [0, 1, 51, 101, 151, 200]
    assert bounds(12, 4, ramped=True) == [0, 1, 5, 9, 12]


def test_unramped_batches_are_batch_size_each():
    assert bounds(200, 50, ramped=False) == [0, 50, 100, 150, 200]
    assert bounds(5, 1, ramped=True) == [0, 1, 2, 3, 4, 5]


def test_short_ranges_end_where_the_range_does():
    assert bounds(1, 50, ramped=True) == [0, 1]
    assert bounds(10, 50, ramped=True) == [0, 1, 10]


def test_a_batch_started_mid_way_keeps_its_own_bounds():
    # A cut batch is redone from its start: the same end whatever ran before.
    assert batch_end(51, 200, 50, ramped=True) == 101
    assert batch_end(1, 200, 50, ramped=True) == 51
