"""``evolve``: ``dataclasses.replace`` for the frozen, slotted values of the hot path.

``dataclasses.replace`` walks the class's fields, builds a keyword dict and
calls the generated ``__init__``, whose every field is an
``object.__setattr__`` (the class is frozen): about 10 us for a ``Payment``
of 23 fields, several times per CreatePayment. ``evolve`` copies the slots
with their descriptors instead and assigns only the changed fields, then
runs the class's ``__post_init__`` exactly as ``__init__`` would: the new
value is validated the same way, so nothing the constructor refuses can be
made through it.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_new = object.__new__
_set = object.__setattr__  # a frozen dataclass refuses its own __setattr__


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    """How to copy one class: read every field at once, write each through its slot."""

    read: Callable[[Any], tuple[Any, ...]]
    writes: tuple[Callable[[Any, Any], None], ...]
    post_init: Callable[[Any], None] | None


_layouts: dict[type, _Layout] = {}


def _layout(cls: type) -> _Layout:
    layout = _layouts.get(cls)
    if layout is None:
        fields = dataclasses.fields(cls)
        if not fields or "__slots__" not in cls.__dict__ or any(not f.init for f in fields):
            raise TypeError(f"evolve needs a slotted dataclass of init fields, not {cls!r}")
        names = [f.name for f in fields]
        layout = _Layout(
            # attrgetter of several names: one C call returning a tuple.
            read=operator.attrgetter(names[0], names[0], *names[1:]),
            writes=tuple(getattr(cls, name).__set__ for name in names),
            post_init=getattr(cls, "__post_init__", None),
        )
        _layouts[cls] = layout
    return layout


def evolve(value: T, **changes: Any) -> T:
    """A copy of the frozen dataclass ``value`` with ``changes``; as ``dataclasses.replace``.

    An unknown field name raises (AttributeError; replace raises TypeError),
    and the class's ``__post_init__`` checks the result.
    """
    layout = _layout(type(value))
    new = _new(type(value))
    # The getter repeats the first name so that a one-field class still reads a tuple.
    for write, field_value in zip(layout.writes, layout.read(value)[1:], strict=True):
        write(new, field_value)
    for name, field_value in changes.items():
        _set(new, name, field_value)
    if layout.post_init is not None:
        layout.post_init(new)
    return new
