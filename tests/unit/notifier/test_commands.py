"""Citizens' commands as people type them: any case, stray punctuation and whitespace, WhatsApp's
*bold*, full-width letters, an emoji; anything else is UNKNOWN (answered with the help text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.domain.commands import Command, Kind, is_opt_out, parse
from services.notifier.domain.messages import is_opt_out as messages_is_opt_out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CEK", Command(Kind.CHECK)),
        ("cek", Command(Kind.CHECK)),
        ("Cek", Command(Kind.CHECK)),
        ("  cEk  ", Command(Kind.CHECK)),
        ("cek!", Command(Kind.CHECK)),
        ("CEK.", Command(Kind.CHECK)),
        ("*CEK*", Command(Kind.CHECK)),
        ("_cek_ ?", Command(Kind.CHECK)),
        ("\ncek\n", Command(Kind.CHECK)),
        ("ＣＥＫ", Command(Kind.CHECK)),  # full-width (some Indonesian keyboards)
        ("cek 🙏", Command(Kind.CHECK)),
        ("cek status", Command(Kind.CHECK)),
        ("Cek, status!", Command(Kind.CHECK)),
        ("BERHENTI", Command(Kind.STOP)),
        ("berhenti.", Command(Kind.STOP)),
        ("Berhenti!!", Command(Kind.STOP)),
        ("STOP", Command(Kind.STOP)),
        ("stop.", Command(Kind.STOP)),
        (" *Stop* ", Command(Kind.STOP)),
        ("MULAI", Command(Kind.START)),
        ("mulai!", Command(Kind.START)),
        ("start", Command(Kind.START)),
        ("BANDING 3F2A9C1B", Command(Kind.APPEAL, "3F2A9C1B")),
        ("banding 3f2a9c1b.", Command(Kind.APPEAL, "3f2a9c1b")),
        ("Banding: 3F2A-9C1B", Command(Kind.APPEAL, "3F2A-9C1B")),
        ("*BANDING*   3F2A9C1B !", Command(Kind.APPEAL, "3F2A9C1B")),
        ("BANDING", Command(Kind.APPEAL, None)),
        ("banding ?", Command(Kind.APPEAL, None)),
        ("BANDING " + "A" * 65, Command(Kind.APPEAL, None)),  # longer than any reference: none
        ("", Command(Kind.UNKNOWN)),
        ("   ", Command(Kind.UNKNOWN)),
        ("halo", Command(Kind.UNKNOWN)),
        ("berhenti dulu", Command(Kind.UNKNOWN)),  # not the bare word: the help text names it
        ("jangan stop", Command(Kind.UNKNOWN)),
        ("cekk", Command(Kind.UNKNOWN)),
        ("c e k", Command(Kind.UNKNOWN)),
        ("stopcek", Command(Kind.UNKNOWN)),
    ],
)
def test_commands_are_read_whatever_the_case_punctuation_and_whitespace(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "opt_out"), [("STOP.", True), (" berhenti! ", True), ("MULAI", False)])
def test_the_stale_replay_rule_knows_opt_outs_with_punctuation(text: str, opt_out: bool) -> None:
    # domain/webhooks.to_act_on honours a late opt-out: it must recognise "STOP." as one.
    assert is_opt_out(text) is opt_out and messages_is_opt_out(text) is opt_out


_noise = st.text(st.sampled_from(" .,!?*_~-\n\t\"'()"), max_size=4)


@given(before=_noise, after=_noise, word=st.sampled_from(["cek", "berhenti", "stop", "mulai"]), upper=st.booleans())
def test_surrounding_punctuation_and_case_keep_the_command(before: str, after: str, word: str, upper: bool) -> None:
    expected = {"cek": Kind.CHECK, "berhenti": Kind.STOP, "stop": Kind.STOP, "mulai": Kind.START}[word]
    assert parse(before + (word.upper() if upper else word.title()) + after).kind is expected


@given(st.text(max_size=200))
def test_any_text_is_some_command_and_never_raises(text: str) -> None:
    command = parse(text)
    assert command.kind in Kind
    assert command.reference is None or (command.kind is Kind.APPEAL and 1 <= len(command.reference) <= 64)
