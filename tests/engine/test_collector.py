"""The collector's thresholds inside and after :func:`lbsim.collector.rare_collections`."""

from __future__ import annotations

import gc
import weakref

import pytest

from lbsim.collector import YOUNG, rare_collections


class _Node:
    """An object that can sit in a reference cycle and be watched by a weak reference."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def test_thresholds_are_raised_inside_and_restored_after_even_on_error() -> None:
    found = gc.get_threshold()
    with pytest.raises(RuntimeError), rare_collections():
        assert gc.get_threshold() == (YOUNG, 10, 10)
        with rare_collections():
            assert gc.get_threshold()[0] == YOUNG
        assert gc.get_threshold()[0] == YOUNG
        raise RuntimeError("the block fails")
    assert gc.get_threshold() == found


def test_cycles_are_still_collected_inside_the_block() -> None:
    """Rarely is not never: a cycle is freed once enough objects have been allocated."""
    assert gc.isenabled()
    with rare_collections():
        gc.collect()
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        watch = weakref.ref(a)
        del a, b
        kept = [[] for _ in range(YOUNG // 2)]
        assert watch() is not None, "collected at once: the threshold was not raised"
        kept.extend([] for _ in range(YOUNG))
        assert watch() is None
        del kept
