"""read_ahead: same items, same order, the source's error where it happened, bounded, and
no helper thread left behind."""

from __future__ import annotations

import threading
import time

import pytest

from tray_client.sync.readahead import read_ahead


def helpers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "crm-read-ahead"]


def test_yields_every_item_in_order_across_chunks():
    assert list(read_ahead(range(1003), chunk=10, chunks=2)) == list(range(1003))
    assert list(read_ahead([], chunk=10)) == []
    assert not helpers_alive()


def test_the_source_error_comes_after_the_items_read_before_it():
    def source():
        yield from range(7)
        raise ValueError("page 2 failed")

    seen = []
    with pytest.raises(ValueError, match="page 2 failed"):
        for value in read_ahead(source(), chunk=5):
            seen.append(value)  # one at a time, up to the error
    assert seen == list(range(7))     # the partial chunk was not lost
    assert not helpers_alive()


def test_reads_at_most_its_bound_ahead_of_the_caller():
    pulled = []

    def source():
        for n in range(10_000):
            pulled.append(n)
            yield n

    walk = read_ahead(source(), chunk=10, chunks=3)
    assert next(walk) == 0
    time.sleep(0.3)                    # give the helper every chance to run ahead
    # One chunk handed over, three queued, one being filled (and one item to notice it).
    assert len(pulled) <= 10 + 3 * 10 + 10 + 1
    walk.close()


def test_leaving_early_stops_the_helper_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    for value in read_ahead(source(), chunk=4, chunks=2):
        if value == 25:
            break
    assert closed.wait(2)
    assert not helpers_alive()


def test_the_source_is_walked_on_the_helper_thread():
    threads = set()

    def source():
        for n in range(3):
            threads.add(threading.current_thread().name)
            yield n

    assert list(read_ahead(source())) == [0, 1, 2]
    assert threads == {"crm-read-ahead"}
