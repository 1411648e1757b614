"""smtpunit for asyncio: the same conversations, the same errors, the same bounds.

::

    import smtpunit.aio

    await smtpunit.aio.smtp_send_message(server, from_, to, header, lines, 587, tls_encode=True)

    async with await smtpunit.aio.connect(server, 587, tls_encode=True) as session:
        await session.send(from_, to, header, lines)

The sans-IO core (:mod:`smtpunit.core.conversation`, :mod:`smtpunit.core.transactions`)
and the driver (:mod:`smtpunit.drivers.aio`, from which the blocking one is generated)
are those of the blocking API. The connection comes from the registry's
:class:`~smtpunit.interfaces.IAsyncTransport`; STARTTLS takes any TLS provider that
is an :class:`~smtpunit.interfaces.IAsyncTLSUpgrader` (``tls_encode=True``, an
``ssl.SSLContext`` and :class:`~smtpunit.providers.tls.SSLContextTLS` are) or has an
``ssl.SSLContext`` as its ``context``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

from .core.commands import Envelope, Line
from .core.results import Outcome, SendResult
from .core.verbs import MessageTuple
from .units.contract import AsyncMailSession
from .units.lookup import current_mailer

if TYPE_CHECKING:  # pragma: no cover
    from email.message import EmailMessage

    from typing_extensions import Unpack

    from .options import SendKeywords

__all__ = ["smtp_send_message", "send", "send_envelope", "send_message", "send_many", "connect"]


async def smtp_send_message(server_address: str, from_: str, to: Iterable[str], header: Line,
                            message: Iterable[Line], port_no: int = 25, **options: Unpack[SendKeywords]
                            ) -> SendResult:
    """:func:`smtpunit.smtp_send_message` for asyncio, with the same arguments
    (``tcp_connect`` must be an :class:`~smtpunit.interfaces.IAsyncTransport`)."""
    return await current_mailer().smtp_send_message_async(
        server_address, from_, to, header, message, port_no, **options)


async def send(server_address: str, from_: str, to: Iterable[str], header: Line, message: Iterable[Line],
               port_no: int = 25, **options: Unpack[SendKeywords]) -> SendResult:
    """:func:`smtpunit.send` for asyncio."""
    return await current_mailer().send_async(server_address, from_, to, header, message, port_no, **options)


async def send_many(server_address: str, messages: Iterable[MessageTuple], port_no: int = 25,
                    **options: Unpack[SendKeywords]) -> list[Outcome]:
    """:func:`smtpunit.send_many` for asyncio."""
    return await current_mailer().send_many_async(server_address, messages, port_no, **options)


async def send_envelope(server_address: str, envelope: Envelope, port_no: int = 25,
                        **options: Unpack[SendKeywords]) -> SendResult:
    """:func:`smtpunit.send_envelope` for asyncio."""
    return await current_mailer().send_envelope_async(
        server_address, envelope, port_no, **options)


async def send_message(server_address: str, message: EmailMessage, port_no: int = 25, *,
                       from_: Optional[str] = None, to: Optional[Iterable[str]] = None,
                       **options: Unpack[SendKeywords]) -> SendResult:
    """:func:`smtpunit.send_message` for asyncio."""
    return await current_mailer().send_message_async(
        server_address, message, port_no, from_=from_, to=to, **options)


async def connect(server_address: str, port_no: int = 25, **options: Unpack[SendKeywords]) -> AsyncMailSession:
    """:func:`smtpunit.connect` for asyncio: an open session
    (:class:`~smtpunit.drivers.aio.AsyncSession` with the SMTP unit)."""
    return await current_mailer().connect_async(server_address, port_no, **options)
