"""Built-in providers for the transport, TLS and SASL signatures, and the sendmail unit."""

from .async_tcp import AsyncConnection, AsyncTCPTransport
from .sasl import CramMD5Mechanism, LoginMechanism, PlainMechanism, ScramSHA256Mechanism, XOAuth2Mechanism, saslprep
from .sendmail import SendmailError, SendmailSMTP
from .tcp import SocketConnection, TCPTransport, as_connection
from .tls import CallableTLS, ImplicitTLSTransport, SSLContextTLS, TLSFromTheStart, default_context
from .unix import UnixSocketTransport

__all__ = [
    "AsyncConnection",
    "AsyncTCPTransport",
    "CallableTLS",
    "CramMD5Mechanism",
    "ImplicitTLSTransport",
    "LoginMechanism",
    "PlainMechanism",
    "SSLContextTLS",
    "SendmailError",
    "SendmailSMTP",
    "ScramSHA256Mechanism",
    "SocketConnection",
    "TCPTransport",
    "TLSFromTheStart",
    "UnixSocketTransport",
    "XOAuth2Mechanism",
    "as_connection",
    "default_context",
    "saslprep",
]
