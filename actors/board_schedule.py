"""Board schedule: when each leaderboard message is written, and what each Discord answer means.

Theory of operation: one ``Board`` per (guild, kind) holds where its message lives, what was last
written there and when, and whether the totals changed since. It does no I/O and reads no clock.
The publisher asks ``needs(now)`` what the board wants, gets the one ``Action`` to perform from
``action()`` (rendering first when the board needs content), performs it, and hands Discord's
answer (an ``Outcome``) to ``handle()``, which moves the board to its next phase. Everything that
decides when Discord is called lives in this file, so a board that spams Discord or goes silent is
reproducible in a three-line test without Trio.

The rules:
1. At most one write (post or edit) per board per ``interval``: a write never comes sooner than
   ``interval`` after the last successful one, whatever Discord answered in between, and across
   restarts (``last_write_at`` is stored with the board). Only ``urgent`` writes ignore this: the
   final board of a finished period, and the last state at shutdown.
2. A write is skipped when the rendered content's hash equals the last one written.
3. After a 429 or a failure nothing is sent for ``max(Retry-After, interval)``, doubling on repeated
   failures: disnake has already retried a 429 itself, so our side never loops faster than that.
4. 404 on the message (a moderator deleted it) -> post a new one. 30046 (too many edits to a
   message older than an hour) -> post a fresh message, then delete the old one.
5. Unknown channel, missing access or missing permissions -> BLOCKED with one warning, until the
   configured channel changes or the guild is seen again (``unblock``).

Transitions of the phase, (phase, action, outcome) -> phase; a missing entry keeps the phase:

    UNCHECKED  --Check:Done-->              LIVE
    UNCHECKED  --Check:MessageMissing-->    UNPOSTED
    UNPOSTED   --Post:Posted-->             LIVE
    LIVE       --Edit:MessageMissing-->     UNPOSTED
    LIVE       --Edit:OldMessageQuota-->    UNPOSTED   (the old message is kept to be deleted)
    any        --any:NoAccess-->            BLOCKED    (Delete excepted: the stale message is let go)
"""

from __future__ import annotations

import enum
import hashlib
import json
import math

from attrs import define, evolve, field

from actors.board_render import BoardView, render_board
from domain.checkpoints import BoardCheckpoint, BoardRow
from domain.kinds import BoardKind

__all__ = [
    "Board",
    "Check",
    "Delete",
    "Done",
    "Edit",
    "Failed",
    "MemberFound",
    "MemberGone",
    "MessageMissing",
    "Need",
    "NoAccess",
    "OldMessageQuota",
    "Phase",
    "Post",
    "Posted",
    "RateLimited",
    "Report",
    "board_channels",
    "content_hash",
]

MAX_BACKOFF_DOUBLINGS = 4  # after repeated failures: interval, 2x, 4x, 8x, then 16x at most


# --- What Discord answered (the poster translates HTTP errors into these) ----------------------------


@define(frozen=True)
class Posted:
    message_id: int


@define(frozen=True)
class Done:
    """The edit, check or delete succeeded."""


@define(frozen=True)
class MessageMissing:
    """404 Unknown Message (10008): the board was deleted."""


@define(frozen=True)
class RateLimited:
    retry_after: float


@define(frozen=True)
class OldMessageQuota:
    """400, 30046: too many edits to a message older than an hour."""


@define(frozen=True)
class NoAccess:
    """Unknown channel (10003), missing access (50001) or permissions (50013), not a text channel."""

    code: int
    detail: str


@define(frozen=True)
class Failed:
    """Anything else: 5xx after disnake's retries, a timeout, a refused connection, a bad request."""

    detail: str


@define(frozen=True)
class MemberFound:
    name: str


@define(frozen=True)
class MemberGone:
    """404 Unknown Member (10007): they left the server."""


Outcome = Posted | Done | MessageMissing | RateLimited | OldMessageQuota | NoAccess | Failed
MemberOutcome = MemberFound | MemberGone | RateLimited | Failed


# --- What the publisher is asked to do ---------------------------------------------------------------


@define(frozen=True)
class Check:
    """GET the stored message once after a (re)start, so a restart never posts a duplicate."""

    channel_id: int
    message_id: int


@define(frozen=True)
class Post:
    """POST a new board message. ``nonce`` is sent with ``enforce_nonce``: a retry of a post that
    Discord did create (the answer was lost, or the call was cut at shutdown) returns that message
    instead of posting a second board."""

    channel_id: int
    content_hash: str
    nonce: str


@define(frozen=True)
class Edit:
    channel_id: int
    message_id: int
    content_hash: str


@define(frozen=True)
class Delete:
    """Delete a board message we no longer use (replaced after 30046, or moved to another channel)."""

    channel_id: int
    message_id: int


Action = Check | Post | Edit | Delete


class Need(enum.Enum):
    CHECK = "check"
    CONTENT = "content"  # render, then ``action(Need.CONTENT, hash)`` says post, edit or nothing
    DELETE = "delete"


class Phase(enum.Enum):
    UNPOSTED = "unposted"  # no message: post one when a write is allowed
    UNCHECKED = "unchecked"  # a message id from the database, not yet confirmed to exist
    LIVE = "live"  # the message exists: edit it when dirty, the interval allows, and content changed
    BLOCKED = "blocked"  # the channel is missing or we may not post there: wait for config or snapshot


_PHASE_AFTER: dict[tuple[type, type], Phase] = {
    (Check, Done): Phase.LIVE,
    (Check, MessageMissing): Phase.UNPOSTED,
    (Post, Posted): Phase.LIVE,
    (Edit, MessageMissing): Phase.UNPOSTED,
    (Edit, OldMessageQuota): Phase.UNPOSTED,
    (Check, NoAccess): Phase.BLOCKED,
    (Post, NoAccess): Phase.BLOCKED,
    (Edit, NoAccess): Phase.BLOCKED,
}


@define(frozen=True)
class Report:
    """What the publisher does after ``handle``: store the row, and/or log a warning."""

    save: bool = False
    warning: str | None = None


@define
class Board:
    guild_id: int
    kind: BoardKind
    phase: Phase = Phase.UNPOSTED
    channel_id: int | None = None  # where the message is (or is to be posted)
    message_id: int | None = None
    content_hash: str | None = None  # of the last content written
    posted_at: float | None = None
    last_write_at: float | None = None
    interval: float = 60.0
    enabled: bool = False  # a channel is configured and the guild has been seen this run
    dirty: bool = True  # totals may have changed since the last write
    retry_at: float = -math.inf  # nothing is sent before this (429 / failure backoff)
    failures: int = 0
    stale: list[tuple[int, int]] = field(factory=list)  # (channel, message) to delete
    post_nonce: str | None = None  # the post being attempted: kept until Discord's answer is definite

    @classmethod
    def from_row(cls, row: BoardRow) -> Board:
        """A stored board after a (re)start: its message must be confirmed before it is edited."""
        return cls(
            row.guild_id,
            row.kind,
            Phase.UNCHECKED,
            row.channel_id,
            row.message_id,
            row.content_hash,
            row.posted_at,
            row.edited_at,
        )

    @classmethod
    def restore(cls, checkpoint: BoardCheckpoint) -> Board:
        """A board after a (re)start, from everything its checkpoint holds."""
        row = checkpoint.row
        board = cls.from_row(row) if row is not None else cls(checkpoint.guild_id, checkpoint.kind)
        board.stale = list(checkpoint.stale)
        if row is not None and (row.channel_id, row.message_id) in board.stale:
            board.phase, board.message_id = Phase.UNPOSTED, None  # it was being replaced
        if checkpoint.pending_post is not None:
            board.channel_id, board.post_nonce = checkpoint.pending_post
            if board.message_id is None:
                board.phase = Phase.UNPOSTED
        return board

    def checkpoint(self) -> BoardCheckpoint:
        pending = (self.channel_id, self.post_nonce) if self.post_nonce and self.channel_id else None
        return BoardCheckpoint(self.guild_id, self.kind, self.row(), pending, tuple(self.stale))

    def row(self) -> BoardRow | None:
        if self.channel_id is None or self.message_id is None or self.content_hash is None:
            return None
        return BoardRow(
            self.guild_id,
            self.kind,
            self.channel_id,
            self.message_id,
            self.content_hash,
            self.posted_at if self.posted_at is not None else 0.0,
            self.last_write_at if self.last_write_at is not None else 0.0,
        )

    # -- inputs from the guild and its config -----------------------------------------------------

    def configure(self, channel_id: int | None, interval: float) -> None:
        """The board's channel and interval as configured now (None: no board for this kind).

        A different channel moves the board: the old message is deleted and a new one is posted.
        """
        self.interval = interval
        self.enabled = channel_id is not None
        if channel_id is None or channel_id == self.channel_id:
            return
        if self.message_id is not None and self.channel_id is not None:
            self.stale.append((self.channel_id, self.message_id))
        self.channel_id, self.message_id, self.content_hash = channel_id, None, None
        self.phase, self.dirty, self.failures, self.retry_at = Phase.UNPOSTED, True, 0, -math.inf
        self.post_nonce = None

    def unblock(self) -> None:
        """The guild was seen again (channels or permissions may have changed): try once more."""
        if self.phase is Phase.BLOCKED:
            self.phase = Phase.UNPOSTED if self.message_id is None else Phase.UNCHECKED
            self.retry_at, self.failures = -math.inf, 0

    def mark_dirty(self) -> None:
        self.dirty = True

    # -- deciding ---------------------------------------------------------------------------------

    def write_allowed_at(self) -> float:
        return -math.inf if self.last_write_at is None else self.last_write_at + self.interval

    def needs(self, now: float, *, urgent: bool = False) -> Need | None:
        """What the board wants at ``now`` (None: nothing). ``urgent`` ignores the write interval."""
        if now < self.retry_at:
            return None
        if self.enabled and self.phase is not Phase.BLOCKED:
            if self.phase is Phase.UNCHECKED:
                return Need.CHECK
            write_ok = urgent or now >= self.write_allowed_at()
            if write_ok and (self.phase is Phase.UNPOSTED or self.dirty):
                return Need.CONTENT
        if self.stale and self.phase is not Phase.UNPOSTED:  # the new message first, then the delete
            return Need.DELETE
        return None

    def next_due(self) -> float | None:
        """The earliest time ``needs`` may answer something, if nothing else happens."""
        candidates: list[float] = []
        if self.enabled and self.phase is not Phase.BLOCKED:
            if self.phase is Phase.UNCHECKED:
                candidates.append(self.retry_at)
            elif self.phase is Phase.UNPOSTED or self.dirty:
                candidates.append(max(self.retry_at, self.write_allowed_at()))
        if self.stale and self.phase is not Phase.UNPOSTED:
            candidates.append(self.retry_at)
        return min(candidates) if candidates else None

    def action(self, need: Need, content_hash: str | None, now: float) -> Action | None:
        """The call to make for ``need`` at ``now``; for CONTENT, None when the content is unchanged."""
        if need is Need.DELETE:
            channel_id, message_id = self.stale[0]
            return Delete(channel_id, message_id)
        assert self.channel_id is not None
        if need is Need.CHECK:
            assert self.message_id is not None
            return Check(self.channel_id, self.message_id)
        assert content_hash is not None, "CONTENT needs the rendered content's hash"
        # Clean from the moment the content is taken: changes during the call mark it dirty again.
        self.dirty = False
        if self.phase is Phase.UNPOSTED:
            if self.post_nonce is None:
                seed = f"{self.guild_id}:{self.kind.value}:{self.channel_id}:{now!r}"
                self.post_nonce = hashlib.blake2b(seed.encode(), digest_size=10).hexdigest()  # <= 25 chars
            return Post(self.channel_id, content_hash, self.post_nonce)
        assert self.message_id is not None
        if content_hash == self.content_hash:
            return None
        return Edit(self.channel_id, self.message_id, content_hash)

    # -- learning from Discord's answer -----------------------------------------------------------

    def handle(self, action: Action, outcome: Outcome, now: float) -> Report:
        """Apply Discord's answer to ``action``; the report says whether to store the board."""
        if isinstance(action, Delete):
            return self._deleted(action, outcome, now)
        if isinstance(outcome, RateLimited | Failed):
            if isinstance(action, Post | Edit):
                self.dirty = True  # the content was not written
            self._back_off(now, outcome.retry_after if isinstance(outcome, RateLimited) else 0.0)
            return Report()
        self.failures, self.retry_at = 0, -math.inf
        phase = _PHASE_AFTER.get((type(action), type(outcome)))
        save, warning = False, None
        match action, outcome:
            case Post(), Posted(message_id=message_id):
                self.message_id, self.posted_at, self.post_nonce = message_id, now, None
                self._written(action.content_hash, now)
                save = True
            case Edit(), Done():
                self._written(action.content_hash, now)
                save = True
            case Edit(), OldMessageQuota():
                assert self.channel_id is not None and self.message_id is not None
                self.stale.append((self.channel_id, self.message_id))
                self.message_id, self.dirty = None, True
            case Edit() | Check(), MessageMissing():
                self.message_id, self.dirty = None, True
            case _, NoAccess(code=code, detail=detail):
                if isinstance(action, Post | Edit):
                    self.dirty = True
                if isinstance(action, Post):
                    self.post_nonce = None  # nothing was posted: a later post is a new one
                warning = self._blocked_warning(code, detail)
            case Check(), Done():
                pass
            case _:
                # An answer that cannot belong to this call (e.g. Posted for an edit): a poster bug.
                self._back_off(now, 0.0)
                return Report(warning=f"{self._name()}: unexpected answer {outcome!r} to {action!r}")
        if phase is not None:
            self.phase = phase
        return Report(save=save, warning=warning)

    def _written(self, content_hash: str, now: float) -> None:
        self.content_hash, self.last_write_at = content_hash, now

    def _deleted(self, action: Delete, outcome: Outcome, now: float) -> Report:
        if isinstance(outcome, RateLimited | Failed):
            self._back_off(now, outcome.retry_after if isinstance(outcome, RateLimited) else 0.0)
            return Report()
        self.failures, self.retry_at = 0, -math.inf
        target = (action.channel_id, action.message_id)
        if target in self.stale:
            self.stale.remove(target)
        if isinstance(outcome, NoAccess):
            return Report(
                save=True,
                warning=f"{self._name()}: could not delete the old board message {action.message_id} "
                f"in channel {action.channel_id} ({outcome.detail}); delete it by hand",
            )
        return Report(save=True)

    def _back_off(self, now: float, retry_after: float) -> None:
        self.failures += 1
        doublings = min(self.failures - 1, MAX_BACKOFF_DOUBLINGS)
        self.retry_at = now + max(retry_after, self.interval * 2**doublings)

    def _blocked_warning(self, code: int, detail: str) -> str:
        return (
            f"{self._name()}: cannot post in channel {self.channel_id} ({detail}, code {code}); "
            "the board is paused until its channel is changed or the bot's access is fixed "
            "(activity is still counted)"
        )

    def _name(self) -> str:
        return f"guild {self.guild_id}: {self.kind.value} board"


# --- Pure helpers the publisher uses ---------------------------------------------------------------


def content_hash(view: BoardView) -> str:
    """The hash of what members would see, ignoring the "Updated" time (which changes every render)."""
    embed = render_board(evolve(view, updated_at=0.0))
    return hashlib.sha256(json.dumps(embed, sort_keys=True).encode()).hexdigest()[:32]


def board_channels(
    configured: dict[BoardKind, int | None], text_channel_ids: frozenset[int]
) -> tuple[dict[BoardKind, int | None], tuple[str, ...]]:
    """Each board's channel if it is a text channel of the guild, and one line per one that is not."""
    channels: dict[BoardKind, int | None] = {}
    problems: list[str] = []
    for kind, channel_id in configured.items():
        if channel_id is not None and channel_id not in text_channel_ids:
            problems.append(f"{kind.value} board channel {channel_id} is not a text channel of this server")
            channel_id = None
        channels[kind] = channel_id
    return channels, tuple(problems)
