"""The errors of the HLS target: all ValueErrors, each with a message that says what to change."""

from __future__ import annotations


class HlsError(ValueError):
    """A model or an option the HLS target cannot turn into a project."""


class UnsupportedOpsError(HlsError):
    """Ops with no HLS template; the message lists every one of them (not just the first)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n  ".join(problems)
        super().__init__(f"the HLS target cannot generate {len(problems)} op(s) of this model:"
                         f"\n  {lines}")


class WidthError(HlsError):
    """A value or accumulator wider than the templates support (64 bits)."""


class HlsBuildError(HlsError):
    """g++ rejected the generated C++ (the message carries its diagnostics)."""
