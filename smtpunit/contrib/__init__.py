"""smtpunit inside the frameworks it is composed into: :mod:`~smtpunit.contrib.django`
(an email backend), :mod:`~smtpunit.contrib.flask` (an extension),
:mod:`~smtpunit.contrib.pyramid` (an ``include``), and :mod:`~smtpunit.contrib.celery`
(a task sending from worker processes). Each needs its framework, installed
with the extra of its name: ``pip install 'smtpunit[django]'``."""
