"""Built-in providers for the transport, TLS and SASL signatures."""

from .sasl import PlainMechanism
from .tcp import SocketConnection, TCPTransport, as_connection
from .tls import CallableTLS, ImplicitTLSTransport, SSLContextTLS, default_context

__all__ = [
    "CallableTLS",
    "ImplicitTLSTransport",
    "PlainMechanism",
    "SSLContextTLS",
    "SocketConnection",
    "TCPTransport",
    "as_connection",
    "default_context",
]
