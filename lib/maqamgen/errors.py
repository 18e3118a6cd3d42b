"""Typed errors. Every error a user can cause names the file (when there is one) and what is wrong.

The CLI catches :class:`MaqamgenError` and prints its message on one line, without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class MaqamgenError(Exception):
    """Base class of every error caused by bad input or bad configuration."""

    def __init__(self, problem: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class AudioError(MaqamgenError):
    """Missing, empty, corrupt, non-audio, silent or non-finite audio; wrong sample rate."""


class NotesError(MaqamgenError):
    """A malformed note list (the report's ``{"notes": [[onset, offset, freq, cents], ...]}``)."""


class ConfigError(MaqamgenError):
    """Unknown profile, maqam, chapter or parameter."""


class CheckpointError(ConfigError):
    """A checkpoint that cannot be trusted or used: missing, truncated, corrupt, not a checkpoint,
    of another model, of an unknown format version, or holding code (refused unread)."""
