"""Racket parameters on top of :mod:`contextvars`.

A :class:`Parameter` is read by calling it, and set for a dynamic extent with
``with p.parameterize(value):``. Each thread and each asyncio task sees its own
value, as each Racket thread sees its own parameterization.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, Optional, TypeVar

from .commands import check_ehlo_name
from .errors import InvalidArgument

__all__ = ["Parameter", "smtp_sending_server", "smtp_sending_end_of_message"]

T = TypeVar("T")


class Parameter(Generic[T]):
    """A dynamically scoped value, like Racket's ``make-parameter``.

    :param name: shown in errors and reprs.
    :param default: the value outside any :meth:`parameterize`.
    :param guard: checks (and may convert) every new value; raises if it is bad.
    """

    def __init__(self, name: str, default: T, guard: Optional[Callable[[T], T]] = None) -> None:
        self.name = name
        self._guard = guard
        self._var: ContextVar[T] = ContextVar(name, default=self._checked(default))

    def _checked(self, value: T) -> T:
        return self._guard(value) if self._guard else value

    def __call__(self) -> T:
        """The current value."""
        return self._var.get()

    @contextmanager
    def parameterize(self, value: T) -> Iterator[T]:
        """Use ``value`` within the ``with`` block (and the calls made from it)."""
        token = self._var.set(self._checked(value))
        try:
            yield value
        finally:
            self._var.reset(token)

    def set(self, value: T) -> None:
        """Set the value for the rest of the current context (thread or task)."""
        self._var.set(self._checked(value))

    def __repr__(self) -> str:
        return f"<Parameter {self.name}={self()!r}>"


def _check_thunk(procedure: Callable[[], object]) -> Callable[[], object]:
    if not callable(procedure):
        raise InvalidArgument(
            f"smtp_sending_end_of_message needs a procedure of no arguments, not {procedure!r}"
        )
    return procedure


def _do_nothing() -> None:
    """The default end-of-message procedure."""


smtp_sending_server: Parameter[str] = Parameter(
    "smtp_sending_server", "localhost", check_ehlo_name
)
"""The name the client gives in ``EHLO``. Default ``"localhost"``, as in Racket."""

smtp_sending_end_of_message: Parameter[Callable[[], object]] = Parameter(
    "smtp_sending_end_of_message", _do_nothing, _check_thunk
)
"""Called after the last message line is written and before the final ``.``.

As Racket writes the lines to a buffered port, the last piece of the data is
written to the connection together with the ``.``, after this procedure returns;
if it raises, neither is sent and the server delivers nothing."""
