"""The sans-IO core: the SMTP grammar and the conversation, as pure code (bytes in,
actions out; no sockets, no clocks), driven by :mod:`smtpunit.drivers`."""
