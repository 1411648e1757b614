"""The blocking driver and session are generated from the asyncio ones: one source."""

from __future__ import annotations

import importlib.util
import inspect
import types
from pathlib import Path

import pytest

import smtpunit.drivers.aio as aio
import smtpunit.drivers.blocking as blocking

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "unasync.py"


def load_script() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def body(generated: str) -> str:
    """What follows the generated module docstring."""
    return generated.split('"""', 2)[2]


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
    monkeypatch.setattr(script, "SOURCE", tmp_path / "aio.py")
    (tmp_path / "aio.py").write_text(Path(aio.__file__).read_text())
    assert script.main(["--check"]) == 1
    assert script.main([]) == 0 and script.main(["--check"]) == 0


def test_the_script_refuses_a_source_it_cannot_make_blocking(tmp_path, monkeypatch, capsys):
    script = load_script()
    (tmp_path / "aio.py").write_text('"""doc"""\nasync def f():\n    await asyncio.sleep(1)\n')
    (tmp_path / "blocking.py").write_text("untouched\n")
    monkeypatch.setattr(script, "ROOT", tmp_path)
    monkeypatch.setattr(script, "SOURCE", tmp_path / "aio.py")
    monkeypatch.setattr(script, "TARGET", tmp_path / "blocking.py")
    assert script.main([]) == 2 and script.main(["--check"]) == 2
    assert "asyncio" in capsys.readouterr().err
    assert (tmp_path / "blocking.py").read_text() == "untouched\n"


def test_unasync_removes_async_and_renames_the_asyncio_names():
    script = load_script()
    source = '"""doc"""\nclass AsyncSession:\n    async def __aenter__(self):\n        await self.tls.wrap_async(c)\n'
    out = script.unasync(source)
    assert body(out) == "\nclass Session:\n    def __enter__(self):\n        self.tls.wrap(c)\n"


def test_unasync_keeps_the_layout_and_the_words_async_and_await_in_strings_and_comments():
    script = load_script()
    source = ('"""doc"""\n'
              'async  def f(x) :  # an async def; await the reply\n'
              '    """Await the reply of the async server; see AsyncSession and\n'
              '    :class:`smtpunit.drivers.aio.AsyncSession`, not AsyncSessions."""\n'
              "    return  await\tx.y(  'async with', \"await \" )  # AsyncSession, kept\n")
    assert body(script.unasync(source)) == (
        '\n'
        'def f(x) :  # an async def; await the reply\n'
        '    """Await the reply of the async server; see Session and\n'
        '    :class:`smtpunit.drivers.blocking.Session`, not AsyncSessions."""\n'
        "    return  x.y(  'async with', \"await \" )  # AsyncSession, kept\n")


@pytest.mark.parametrize("statement", [
    "await asyncio.sleep(1)",  # would be a coroutine never awaited
    "x = AsyncDriverX()",  # not in the map: neither half-renamed nor kept
    "x = IAsyncThing",
    "async_ = self.__aiter__()",
    "x = f'{await y}'",  # an f-string is a string, its await stays: on every Python
])
def test_unasync_refuses_code_that_would_stay_asynchronous(statement):
    script = load_script()
    with pytest.raises(script.UnasyncError, match="would still be asynchronous"):
        script.unasync(f'"""doc"""\nasync def f():\n    {statement}\n')


def test_unasync_renames_whole_names_only():
    script = load_script()
    source = '"""doc"""\nclass Driver:\n    """Not an AsyncDriverX, an AsyncDriver."""\n'
    assert "Not an AsyncDriverX, an Driver." in script.unasync(source)


def test_unasync_wants_the_source_to_start_with_its_docstring():
    script = load_script()
    with pytest.raises(script.UnasyncError, match="docstring"):
        script.unasync("x = 1\n")


def methods(cls: type) -> dict[str, inspect.Signature]:
    """The functions of ``cls`` (its own and inherited), by name, with their signatures."""
    return {name: inspect.signature(function) for name, function in inspect.getmembers(cls, inspect.isfunction)}


@pytest.mark.parametrize(("asynchronous", "synchronous"), [
    ("AsyncDriver", "Driver"), ("AsyncSession", "Session"), ("AsyncSessionVerbs", "SessionVerbs")])
def test_the_twins_have_the_same_methods(asynchronous, synchronous):
    """What unasync makes of the source (not the file on disk): the same methods, with
    the same parameters, none of them a coroutine function."""
    script = load_script()
    generated = types.ModuleType("smtpunit.drivers._unasynced")
    generated.__package__ = "smtpunit.drivers"
    exec(compile(script.unasync(Path(aio.__file__).read_text()), "<unasync>", "exec"), generated.__dict__)
    source_methods = methods(getattr(aio, asynchronous))
    made = methods(getattr(generated, synchronous))
    assert set(made) == {script.NAMES.get(name, name) for name in source_methods}
    for name, signature in source_methods.items():
        assert list(made[script.NAMES.get(name, name)].parameters) == list(signature.parameters), name
    coroutines = {name for name, function in inspect.getmembers(getattr(generated, synchronous), inspect.isfunction)
                  if inspect.iscoroutinefunction(function)}
    assert coroutines == set()
    assert any(inspect.iscoroutinefunction(function)
               for _, function in inspect.getmembers(getattr(aio, asynchronous), inspect.isfunction))
