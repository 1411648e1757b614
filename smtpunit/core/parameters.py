"""Racket parameters on top of :mod:`contextvars`.

A :class:`Parameter` is read by calling it, set by calling it with a value, and set
for a dynamic extent with ``with p.parameterize(value):``. Each thread and each
asyncio task sees its own value, as each Racket thread does.

Unlike a Racket thread, a new Python thread does not inherit the current values: it
starts with every parameter at its default. An asyncio task does inherit them. To
start a thread (or submit work to an executor) with the current values, wrap its
function with :func:`inherit_parameterization`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Generic, Optional, ParamSpec, TypeVar, Union, overload

from ..core.commands import check_ehlo_name

__all__ = ["Parameter", "inherit_parameterization", "smtp_sending_server", "smtp_sending_end_of_message"]

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


class _Unset:
    """The type of the marker for ``p()`` called without a value."""


_UNSET = _Unset()


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

    @overload
    def __call__(self) -> T: ...

    @overload
    def __call__(self, value: T) -> None: ...

    def __call__(self, value: Union[T, _Unset] = _UNSET) -> Optional[T]:
        """The current value; or, given a value, :meth:`set` it, as ``(p v)`` does in Racket."""
        if isinstance(value, _Unset):
            return self._var.get()
        self.set(value)
        return None

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


def inherit_parameterization(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, run with the parameter values current now, as a Racket thread
    inherits the parameterization of the thread that creates it.

    For a new thread or an executor's worker, which would otherwise see every
    parameter at its default::

        with smtp_sending_server.parameterize("client.example.org"):
            threading.Thread(target=inherit_parameterization(send_report)).start()

    Every call runs in its own copy of the values (and of every other context
    variable) taken now: what a call sets is not seen by the caller, nor by other
    calls, so the result may run in several threads at once.
    """
    context = copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(function, *args, **kwargs)

    return run


def _check_thunk(procedure: Callable[[], object]) -> Callable[[], object]:
    """Refuse what cannot be called with no arguments, as Racket's guard does."""
    if not callable(procedure):
        raise TypeError(f"smtp_sending_end_of_message needs a procedure of no arguments, not {procedure!r}")
    try:
        signature = inspect.signature(procedure)
    except (TypeError, ValueError):
        return procedure  # some built-ins cannot be inspected: trust them
    try:
        signature.bind()
    except TypeError:
        raise TypeError(
            f"smtp_sending_end_of_message needs a procedure of no arguments, not {procedure!r} {signature}"
        ) from None
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
if it raises, neither is sent and the server delivers nothing. A new value that
cannot be called with no arguments raises :class:`TypeError` when it is set."""
