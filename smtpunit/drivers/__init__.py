"""The drivers: they run the conversations of :mod:`smtpunit.core` over a connection,
owning only the I/O and the deadlines. :mod:`smtpunit.drivers.aio` is the one source;
:mod:`smtpunit.drivers.blocking` is generated from it."""
