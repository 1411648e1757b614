"""The unit framework: signatures are the interfaces of :mod:`smtpunit.interfaces`;
units are linked into registries and invoked from them.

* :mod:`~smtpunit.units.linking` -- :class:`~smtpunit.units.linking.Unit`, :class:`~smtpunit.units.linking.Slot`,
  :func:`~smtpunit.units.linking.link`, :func:`~smtpunit.units.linking.provide`, ...
* :mod:`~smtpunit.units.lookup` -- :func:`~smtpunit.units.lookup.invoke` and the current registry
* :mod:`~smtpunit.units.builtin` -- ``smtp@``, ``lmtp@`` and the default registry
* :mod:`~smtpunit.units.discovery` -- providers found through entry points
* :mod:`~smtpunit.units.contract` -- the one mail contract every provider serves
* :mod:`~smtpunit.units.smtp_unit` -- the SMTP and LMTP unit itself
"""
