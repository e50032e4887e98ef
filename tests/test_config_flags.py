"""Flags made from a config dataclass (csr_bench/cli/config_flags.py), on a config written here."""

import argparse
from dataclasses import dataclass, field

import pytest

from csr_bench.cli.config_flags import add_config_flags, apply_flags


@dataclass
class Inner:
    width: int = field(default=4, metadata={"min": 2, "also": ("height",), "help": "side"})
    height: int = field(default=4, metadata={"cli": False})
    fast: bool = True


@dataclass
class Outer:
    name: str | None = None
    rate: float = field(default=0.5, metadata={"flag": "--learning-rate"})
    mode: str = field(default="a", metadata={"choices": ("a", "b")})
    targets: list[str] | None = None
    extra: dict = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_config_flags(parser, Outer, presets={"m1": {"rate": 0.25, "inner": {"width": 8}}})
    return parser, parser.parse_args(list(argv))


def test_flags_not_given_leave_the_config_as_it_was():
    base = Outer(name="kept", inner=Inner(width=6, height=6))
    assert apply_flags(base, parse()[1]) == base


def test_given_flags_replace_their_fields_nested_ones_too():
    _, args = parse("--learning-rate", "0.1", "--mode", "b", "--targets", "q,v", "--width", "3", "--no-fast")
    config = apply_flags(Outer(), args)
    assert (config.rate, config.mode, config.targets) == (0.1, "b", ["q", "v"])
    assert config.inner == Inner(width=3, height=3, fast=False)  # "also": height follows width


def test_help_names_defaults_and_presets_and_only_flag_fields_get_flags():
    parser, _ = parse()
    shown = " ".join(parser.format_help().split())
    assert "--learning-rate RATE" in shown and "(default 0.5; 0.25 for m1)" in shown
    assert "side (default 4; 8 for m1)" in shown
    assert "--height" not in shown and "--extra" not in shown and "--fast, --no-fast" in shown


@pytest.mark.parametrize("argv, message", [(["--width", "1"], "must be at least 2, got 1"),
                                           (["--mode", "c"], "invalid choice: 'c'")])
def test_bad_values_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse(*argv)
    assert message in capsys.readouterr().err
