"""The conversation's one state (smtpunit.core.state): every phase change is a named
transition, drawn in one module, and a step the state does not allow is refused."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import smtpunit
from smtpunit.core.actions import Channel
from smtpunit.core.capabilities import Capabilities
from smtpunit.core.reply import ReplyParser
from smtpunit.core.state import Phase, SessionState
from smtpunit.errors import SMTPStateError

P = Phase
# event -> {phase it may happen in: the phase it leads to}
TABLE = {
    "opened": {P.OPENING: P.READY},
    "data_begun": {P.READY: P.IN_DATA},
    "message_done": {P.READY: P.READY, P.IN_DATA: P.READY},
    "message_done_quit": {P.READY: P.QUIT_SENT, P.IN_DATA: P.QUIT_SENT},
    "refused_before_data": {P.READY: P.RESET_DUE, P.RESET_DUE: P.RESET_DUE},
    "reset": {P.READY: P.READY, P.RESET_DUE: P.READY},
    "broke": {**{p: P.BROKEN for p in P if p is not P.CLOSED}, P.CLOSED: P.CLOSED},
    "close": {p: P.CLOSED for p in P},
}


def fire(state: SessionState, event: str) -> None:
    if event == "opened":
        state.opened(Capabilities())
    elif event == "message_done_quit":
        state.message_done(quit_sent=True)
    else:
        getattr(state, event)()


def new_state(phase: Phase = P.OPENING) -> SessionState:
    state = SessionState(Channel(ReplyParser(), loopback=True))
    state.phase = phase
    return state


@pytest.mark.parametrize("phase", list(P), ids=lambda p: p.name)
@pytest.mark.parametrize("event", sorted(TABLE))
def test_each_event_in_each_phase_moves_as_drawn_or_is_refused(event, phase):
    state = new_state(phase)
    expected = TABLE[event].get(phase)
    if expected is None:
        with pytest.raises(SMTPStateError, match=phase.value):
            fire(state, event)
        assert state.phase is phase  # a refused step changes nothing
    else:
        fire(state, event)
        assert state.phase is expected


@given(st.lists(st.sampled_from(sorted(TABLE)), max_size=30))
def test_any_sequence_of_events_follows_the_table(events):
    state = new_state()
    for event in events:
        before = state.phase
        try:
            fire(state, event)
        except SMTPStateError:
            assert before not in TABLE[event]
            assert state.phase is before
        else:
            assert state.phase is TABLE[event][before]
        assert state.awaits_command == (state.phase in (P.OPENING, P.READY, P.RESET_DUE))
        assert state.broken == (state.phase in (P.BROKEN, P.CLOSED))


def test_tls_is_established_once_and_only_while_opening():
    state = new_state()
    state.tls_established()
    assert state.secure
    with pytest.raises(SMTPStateError):
        state.tls_established()
    ready = new_state(P.READY)
    with pytest.raises(SMTPStateError):
        ready.tls_established()
    assert not ready.secure


def test_opened_records_the_capabilities_that_count():
    state = new_state()
    capabilities = Capabilities.from_ehlo_reply(smtpunit.core.reply.Reply(250, ("mx", "PIPELINING")))
    state.opened(capabilities)
    assert state.capabilities is capabilities


def test_no_module_but_the_state_module_changes_the_phase():
    package = Path(smtpunit.__file__).parent
    writers = []
    for path in package.rglob("*.py"):
        if path == package / "core" / "state.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr in {"phase", "secure"} \
                        and "state" in ast.unparse(target.value):
                    writers.append(f"{path.relative_to(package)}:{node.lineno}")
    assert writers == []
