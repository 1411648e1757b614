"""smtpunit inside the frameworks it is composed into: :mod:`~smtpunit.contrib.django`
(an email backend), :mod:`~smtpunit.contrib.flask` (an extension) and
:mod:`~smtpunit.contrib.pyramid` (an ``include``). Each needs its framework, installed
with the extra of its name: ``pip install 'smtpunit[django]'``."""
