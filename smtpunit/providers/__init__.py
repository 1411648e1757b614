"""Built-in providers for the transport, TLS and SASL signatures."""

from .sasl import CramMD5Mechanism, LoginMechanism, PlainMechanism, ScramSHA256Mechanism, XOAuth2Mechanism, saslprep
from .sendmail import SendmailError, SendmailSMTP  # noqa: F401 -- to be listed in __all__
from .tcp import SocketConnection, TCPTransport, as_connection
from .tls import CallableTLS, ImplicitTLSTransport, SSLContextTLS, default_context
from .unix import UnixSocketTransport

__all__ = [
    "CallableTLS",
    "CramMD5Mechanism",
    "ImplicitTLSTransport",
    "LoginMechanism",
    "PlainMechanism",
    "SSLContextTLS",
    "ScramSHA256Mechanism",
    "SocketConnection",
    "TCPTransport",
    "UnixSocketTransport",
    "XOAuth2Mechanism",
    "as_connection",
    "default_context",
    "saslprep",
]
