"""The two leaderboards a guild has."""

from __future__ import annotations

import enum


class BoardKind(enum.Enum):
    MESSAGES = "messages"
    VOICE = "voice"
