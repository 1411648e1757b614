"""The blocking driver and session are generated from the asyncio ones: one source."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import smtpunit.drivers.aio as aio
import smtpunit.drivers.blocking as blocking

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "unasync.py"


def load_script():
    spec = importlib.util.spec_from_file_location("unasync", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_blocking_driver_is_what_unasync_makes_of_the_asyncio_one():
    script = load_script()
    assert Path(blocking.__file__).read_text() == script.unasync(Path(aio.__file__).read_text()), (
        "smtpunit/drivers/blocking.py is stale: run python scripts/unasync.py")


def test_the_check_fails_on_a_stale_file(tmp_path, monkeypatch):
    script = load_script()
    stale = tmp_path / "blocking.py"
    stale.write_text(Path(blocking.__file__).read_text() + "# drifted\n")
    monkeypatch.setattr(script, "TARGET", stale)
    monkeypatch.setattr(script, "ROOT", tmp_path)
    assert script.main(["--check"]) == 1
    assert script.main([]) == 0 and script.main(["--check"]) == 0


def test_unasync_removes_async_and_renames_the_asyncio_names():
    script = load_script()
    source = '"""doc"""\nclass AsyncSession:\n    async def __aenter__(self):\n        await self.tls.wrap_async(c)\n'
    out = script.unasync(source)
    assert "class Session:" in out and "def __enter__(self):" in out and "self.tls.wrap(c)" in out
    assert "async" not in out.split('"""')[-1] and "await" not in out


def test_the_twins_have_the_same_methods():
    for asynchronous, synchronous in ((aio.AsyncDriver, blocking.Driver), (aio.AsyncSession, blocking.Session),
                                      (aio.AsyncSessionVerbs, blocking.SessionVerbs)):
        names = {n for n, _ in inspect.getmembers(asynchronous, inspect.isfunction)}
        renamed = {n.replace("__aenter__", "__enter__").replace("__aexit__", "__exit__") for n in names}
        assert renamed == {n for n, _ in inspect.getmembers(synchronous, inspect.isfunction)}
