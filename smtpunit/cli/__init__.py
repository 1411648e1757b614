"""The ``smtpunit`` command: ``send``, ``bulk`` and ``demo``."""
