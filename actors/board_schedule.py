"""Board schedule: when each leaderboard message is written, and what each Discord answer means.

Theory of operation: one ``Board`` per (guild, kind) holds where its message lives, what was last
written there and when, and whether the totals changed since. It does no I/O and reads no clock.
The publisher asks ``needs(now)`` what the board wants, gets the one ``Action`` to perform from
``action()`` (rendering first when the board needs content), performs it, and hands Discord's
answer (an ``Outcome``, both in ``actors.board_protocol``) to ``handle()``, which moves the board to
its next phase. Everything that decides when Discord is called lives in this file, so a board that
spams Discord or goes silent is reproducible in a three-line test without Trio.

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
6. A board with no known message posts first; ``READ_AFTER_POST`` seconds after the post (a
   lower-urgency call: every first post of a start goes before it, and the publisher gives these
   reads turns of their own, fewer than the edits'), one page of the channel's recent messages is
   read (``Scan``) for the bot's own boards of this kind: the newest (the one just posted) is kept
   and the other copies deleted. When adopting a stored board after a (re)start, the page is read
   once its message is confirmed, before it is edited. Discord deduplicates a post's nonce only for
   a few minutes, so a post cut short by a kill and made again after a late restart, a restore from
   an older backup, or a config moved back to a channel that still holds an old board would
   otherwise leave two boards. Posting first makes a start one call per board until every board is
   up (the read was a call before each first post). Meanwhile the board is edited like a live one;
   at a stop the read is not waited for (a restart confirms the stored message and reads the page
   then).
7. A live board is read back (``Check``) after ``RECHECK_INTERVALS`` intervals without a write or a
   check, so a board a moderator deleted in a quiet server comes back without waiting for activity;
   or after ``recheck_floor`` seconds if longer (the publisher spreads the re-checks of many boards
   so they stay a small share of the REST budget).

Phase changes come only from ``TRANSITIONS``, (phase, action, outcome) -> phase, complete for every
action a phase asks for (``ASKS``) and every answer that action can get (``ANSWERS``); an answer
not in it is a poster bug: the board backs off and warns. The inputs from this side come the same
way, as answers of the pseudo-action ``Local``: a stored message at a (re)start (``Stored``: a board
starts UNPOSTED and a restore feeds it), a new channel (``Moved``, from ``configure``) and the guild
seen again (``Unblocked`` / ``UnblockedWithMessage``, from ``unblock``). ``handle`` is the only
place a phase is assigned.

    UNPOSTED         --Post:Posted-->              POSTED_UNSCANNED
    UNPOSTED         --Post:Failed-->              UNPOSTED  (again with its nonce; the read after
                                                              deletes a copy it may have made)
    POSTED_UNSCANNED --Scan:Found-->               LIVE      (the newest kept, the other copies deleted)
    POSTED_UNSCANNED --Scan:NoneFound-->           LIVE
    POSTED_UNSCANNED --Edit:Done-->                POSTED_UNSCANNED (the read is still to come)
    POSTED_UNSCANNED --Edit:MessageMissing-->      UNPOSTED
    POSTED_UNSCANNED --Edit:OldMessageQuota-->     UNPOSTED  (the old message is kept to be deleted)
    UNCHECKED        --Check:Done-->               CHECKED
    UNCHECKED        --Check:MessageMissing-->     UNPOSTED
    CHECKED          --Scan:Found|NoneFound-->     LIVE      (copies newer or older than it deleted)
    LIVE             --Edit|Check:Done-->          LIVE
    LIVE             --Edit|Check:MessageMissing--> UNPOSTED
    LIVE             --Edit:OldMessageQuota-->     UNPOSTED  (the old message is kept to be deleted)
    any              --any:NoAccess-->             BLOCKED   (Delete excepted: the stale message is let go)
    any              --any:RateLimited|Failed-->   the same phase, backing off
    any              --Local:Stored-->             UNCHECKED (only fed to a fresh UNPOSTED board)
    any              --Local:Moved-->              UNPOSTED  (the old message deleted once a new one is up)
    BLOCKED          --Local:Unblocked-->          UNPOSTED
    BLOCKED          --Local:UnblockedWithMessage--> UNCHECKED
    other            --Local:Unblocked*-->         the same phase (nothing was blocked)
"""

from __future__ import annotations

import enum
import hashlib
import math

from attrs import define, field

from actors.board_protocol import (
    LOCAL,
    Action,
    Check,
    Delete,
    Done,
    Edit,
    Failed,
    Found,
    Input,
    Local,
    MessageMissing,
    Moved,
    NoAccess,
    NoneFound,
    OldMessageQuota,
    Outcome,
    Post,
    Posted,
    RateLimited,
    Scan,
    Stored,
    Unblocked,
    UnblockedWithMessage,
)
from domain.checkpoints import BoardCheckpoint, BoardRow
from domain.kinds import BoardKind

__all__ = [
    "ANSWERS",
    "ASKS",
    "READ_AFTER_POST",
    "RECHECK_INTERVALS",
    "TRANSITIONS",
    "Board",
    "Need",
    "Phase",
    "Report",
    "board_channels",
]

MAX_BACKOFF_DOUBLINGS = 4  # after repeated failures: interval, 2x, 4x, 8x, then 16x at most
RECHECK_INTERVALS = 10  # a quiet live board is read back after this many intervals
# Seconds after a first post before the page is read for older copies (rule 6): longer than a
# start of one process takes (2,500 guilds: 5,000 posts at 40/s, ~125 s), so every first post goes
# before any such read, and past Discord's nonce window of a few minutes. The read then ranks from
# this time (its REST call says it waits since then), in its own lane of the publisher's queue,
# which takes turns with the kinds' lanes: it never starves, nor stalls the edits.
READ_AFTER_POST = 300.0


class Need(enum.Enum):
    CHECK = "check"
    SCAN = "scan"
    CONTENT = "content"  # render, then ``action(Need.CONTENT, hash)`` says post, edit or nothing
    DELETE = "delete"


class Phase(enum.Enum):
    UNPOSTED = "unposted"  # no message known: post one when a write is allowed
    POSTED_UNSCANNED = "posted_unscanned"  # just posted: read the channel for older copies later
    UNCHECKED = "unchecked"  # a message id from the database, not yet confirmed to exist
    CHECKED = "checked"  # the stored message exists: read the channel for copies of it
    LIVE = "live"  # the message exists: edit it when dirty, the interval allows, and content changed
    BLOCKED = "blocked"  # the channel is missing or we may not post there: wait for config or snapshot


_NO_MESSAGE = (Phase.UNPOSTED,)  # no Delete here: the new message comes first

# What each phase may ask Discord for (Delete: an old message, once the board has one), and
# ``Local``: every phase hears the inputs from this side.
ASKS: dict[Phase, tuple[type, ...]] = {
    Phase.UNPOSTED: (Post, Local),
    Phase.POSTED_UNSCANNED: (Scan, Edit, Delete, Local),
    Phase.UNCHECKED: (Check, Delete, Local),
    Phase.CHECKED: (Scan, Delete, Local),
    Phase.LIVE: (Edit, Check, Delete, Local),
    Phase.BLOCKED: (Delete, Local),
}

# Every answer each action can get from the poster.
_TROUBLE = (NoAccess, RateLimited, Failed)
ANSWERS: dict[type, tuple[type, ...]] = {
    Check: (Done, MessageMissing, *_TROUBLE),
    Scan: (Found, NoneFound, *_TROUBLE),
    Post: (Posted, *_TROUBLE),
    Edit: (Done, MessageMissing, OldMessageQuota, *_TROUBLE),
    Delete: (Done, MessageMissing, *_TROUBLE),
    Local: (Stored, Moved, Unblocked, UnblockedWithMessage),
}

TRANSITIONS: dict[tuple[Phase, type, type], Phase] = {
    (Phase.UNPOSTED, Post, Posted): Phase.POSTED_UNSCANNED,
    (Phase.POSTED_UNSCANNED, Scan, Found): Phase.LIVE,
    (Phase.POSTED_UNSCANNED, Scan, NoneFound): Phase.LIVE,
    (Phase.POSTED_UNSCANNED, Edit, Done): Phase.POSTED_UNSCANNED,
    (Phase.POSTED_UNSCANNED, Edit, MessageMissing): Phase.UNPOSTED,
    (Phase.POSTED_UNSCANNED, Edit, OldMessageQuota): Phase.UNPOSTED,
    (Phase.UNCHECKED, Check, Done): Phase.CHECKED,
    (Phase.UNCHECKED, Check, MessageMissing): Phase.UNPOSTED,
    (Phase.CHECKED, Scan, Found): Phase.LIVE,
    (Phase.CHECKED, Scan, NoneFound): Phase.LIVE,
    (Phase.LIVE, Edit, Done): Phase.LIVE,
    (Phase.LIVE, Edit, MessageMissing): Phase.UNPOSTED,
    (Phase.LIVE, Edit, OldMessageQuota): Phase.UNPOSTED,
    (Phase.LIVE, Check, Done): Phase.LIVE,
    (Phase.LIVE, Check, MessageMissing): Phase.UNPOSTED,
}
# The same for every phase: no access blocks (a delete just lets the message go), a delete leaves
# the phase as it was, and a 429 or a failure keeps the phase while the board backs off.
for _phase, _asks in ASKS.items():
    TRANSITIONS[(_phase, Local, Stored)] = Phase.UNCHECKED
    TRANSITIONS[(_phase, Local, Moved)] = Phase.UNPOSTED
    _blocked = _phase is Phase.BLOCKED
    TRANSITIONS[(_phase, Local, Unblocked)] = Phase.UNPOSTED if _blocked else _phase
    TRANSITIONS[(_phase, Local, UnblockedWithMessage)] = Phase.UNCHECKED if _blocked else _phase
    for _action in _asks:
        if _action is Local:
            continue
        TRANSITIONS[(_phase, _action, NoAccess)] = _phase if _action is Delete else Phase.BLOCKED
        TRANSITIONS.setdefault((_phase, _action, Failed), _phase)
        TRANSITIONS[(_phase, _action, RateLimited)] = _phase
        if _action is Delete:
            TRANSITIONS[(_phase, Delete, Done)] = TRANSITIONS[(_phase, Delete, MessageMissing)] = _phase
del _phase, _asks, _action, _blocked


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
    content_hash: str | None = None  # of the last content written ("": adopted, content unknown)
    posted_at: float | None = None
    last_write_at: float | None = None
    interval: float = 60.0
    enabled: bool = False  # a channel is configured and the guild has been seen this run
    dirty: bool = True  # totals may have changed since the last write
    retry_at: float = -math.inf  # nothing is sent before this (429 / failure backoff)
    failures: int = 0
    stale: list[tuple[int, int]] = field(factory=list)  # (channel, message) to delete
    post_nonce: str | None = None  # the post being attempted: kept until Discord's answer is definite
    confirmed_at: float | None = None  # when the message was last known to exist (write or check)
    # When the change not yet on Discord began waiting (None: no change, or since an unknown time):
    # the publisher drives the boards that waited longest first, and the REST budget grants them so.
    waiting_since: float | None = None
    writing_since: float | None = None  # ``waiting_since`` of the content being written now
    recheck_floor: float = 0.0  # seconds between two re-checks at least (rule 7)

    @classmethod
    def from_row(cls, row: BoardRow) -> Board:
        """A stored board after a (re)start: its message must be confirmed before it is edited."""
        return cls.restore(BoardCheckpoint(row.guild_id, row.kind, row))

    @classmethod
    def restore(cls, checkpoint: BoardCheckpoint) -> Board:
        """A board after a (re)start, from everything its checkpoint holds.

        It starts UNPOSTED like a new board; its stored message, unless it was being replaced, is
        fed as ``Stored`` so the table moves it to UNCHECKED. A post that may have been made without
        its answer keeps its nonce and, with no message, the board posts again with it (Discord
        answers with the first one within its window) and reads the page after (rule 6).
        """
        board = cls(checkpoint.guild_id, checkpoint.kind)
        board.stale = list(checkpoint.stale)
        row = checkpoint.row
        if row is not None:
            board.channel_id, board.content_hash = row.channel_id, row.content_hash
            board.posted_at, board.last_write_at = row.posted_at, row.edited_at
            if (row.channel_id, row.message_id) not in board.stale:  # else it was being replaced
                board._feed(Stored(row.message_id))
        if checkpoint.pending_post is not None:
            board.channel_id, board.post_nonce = checkpoint.pending_post
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
        self._feed(Moved(channel_id))

    def unblock(self) -> None:
        """The guild was seen again (channels or permissions may have changed): try once more."""
        if self.phase is Phase.BLOCKED:
            self._feed(Unblocked() if self.message_id is None else UnblockedWithMessage())

    def mark_dirty(self, at: float | None = None) -> None:
        """The totals may have changed at ``at``; a change already waiting keeps its older time."""
        if self.waiting_since is None:
            self.waiting_since = at
        self.dirty = True

    def not_written(self) -> None:
        """The content taken for a write did not reach Discord: it waits again, since it first did."""
        self.dirty = True
        taken = self.writing_since
        if taken is not None and (self.waiting_since is None or taken < self.waiting_since):
            self.waiting_since = taken

    def priority(self, due: float) -> float:
        """When the work this board is due for (at ``due``) began waiting: the oldest goes first."""
        return due if self.waiting_since is None else self.waiting_since

    def read_after_post(self, now: float, need: Need | None = None) -> bool:
        """Whether what the board needs at ``now`` (``need``, if already asked) is the read after its
        first post: the publisher gives these reads turns of their own."""
        if self.phase is not Phase.POSTED_UNSCANNED:
            return False
        return (self.needs(now) if need is None else need) is Need.SCAN

    def read_at(self) -> float:
        """(POSTED_UNSCANNED) When the read after the first post is due, and ranks (rule 6)."""
        return (-math.inf if self.posted_at is None else self.posted_at) + READ_AFTER_POST

    def call_since(self, action: Action) -> float | None:
        """Since when the work ``action`` serves waits (the REST budget grants the oldest first): a
        write's content since its change, the read after a post since it became due."""
        if isinstance(action, Post | Edit):
            return self.writing_since
        if isinstance(action, Scan) and self.phase is Phase.POSTED_UNSCANNED:
            return self.read_at()
        return self.waiting_since

    # -- deciding ---------------------------------------------------------------------------------

    def write_allowed_at(self) -> float:
        return -math.inf if self.last_write_at is None else self.last_write_at + self.interval

    def recheck_at(self) -> float:
        """When a live board is next read back if nothing is written meanwhile (rule 7)."""
        seen = -math.inf if self.confirmed_at is None else self.confirmed_at
        return seen + max(RECHECK_INTERVALS * self.interval, self.recheck_floor)

    def needs(self, now: float, *, urgent: bool = False) -> Need | None:
        """What the board wants at ``now`` (None: nothing). ``urgent`` ignores the write interval."""
        if now < self.retry_at:
            return None
        if self.enabled and self.phase is not Phase.BLOCKED:
            write_ok = urgent or now >= self.write_allowed_at()
            match self.phase:
                case Phase.UNCHECKED:
                    return Need.CHECK
                case Phase.CHECKED:
                    return Need.SCAN
                case Phase.UNPOSTED if write_ok:
                    return Need.CONTENT
                case Phase.LIVE | Phase.POSTED_UNSCANNED if write_ok and self.dirty:
                    return Need.CONTENT
                case Phase.POSTED_UNSCANNED if now >= self.read_at():
                    return Need.SCAN
                case Phase.LIVE if now >= self.recheck_at():
                    return Need.CHECK
        if self.stale and self.phase not in _NO_MESSAGE:  # the new message first, then the delete
            return Need.DELETE
        return None

    def last_work_due(self) -> float | None:
        """(At shutdown) When the board can next do what its last state still needs: content not
        yet on Discord, or an old message to delete; None once there is nothing. Ignores the write
        interval (the last state is urgent) and the slow re-check, never the backoff."""
        if self.enabled and self.phase is not Phase.BLOCKED and (self.dirty or self.phase in _NO_MESSAGE):
            return self.retry_at
        if self.stale and self.phase not in _NO_MESSAGE:
            return self.retry_at
        return None

    def next_due(self) -> float | None:
        """The earliest time ``needs`` may answer something, if nothing else happens."""
        candidates: list[float] = []
        if self.enabled and self.phase is not Phase.BLOCKED:
            if self.phase in (Phase.UNCHECKED, Phase.CHECKED):
                candidates.append(self.retry_at)
            elif self.phase in _NO_MESSAGE or self.dirty:
                candidates.append(max(self.retry_at, self.write_allowed_at()))
            if self.phase is Phase.LIVE:
                candidates.append(max(self.retry_at, self.recheck_at()))
            if self.phase is Phase.POSTED_UNSCANNED:
                candidates.append(max(self.retry_at, self.read_at()))
        if self.stale and self.phase not in _NO_MESSAGE:
            candidates.append(self.retry_at)
        return min(candidates) if candidates else None

    def action(self, need: Need, content_hash: str | None, now: float) -> Action | None:
        """The call to make for ``need`` at ``now``; for CONTENT, None when the content is unchanged."""
        if need is Need.DELETE:
            channel_id, message_id = self.stale[0]
            return Delete(channel_id, message_id)
        assert self.channel_id is not None
        if need is Need.SCAN:
            return Scan(self.channel_id)
        if need is Need.CHECK:
            assert self.message_id is not None
            return Check(self.channel_id, self.message_id)
        assert content_hash is not None, "CONTENT needs the rendered content's hash"
        # Clean from the moment the content is taken: changes during the call mark it dirty again.
        self.dirty = False
        self.writing_since, self.waiting_since = self.waiting_since, None
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

    def handle(self, action: Action | Local, outcome: Outcome | Input, now: float) -> Report:
        """Apply Discord's answer to ``action`` (or an input from this side, with ``LOCAL``); the
        phase comes from ``TRANSITIONS`` alone, and this is the only place that assigns it."""
        if isinstance(outcome, Found):
            outcome = self._unstale(outcome)
        phase = TRANSITIONS.get((self.phase, type(action), type(outcome)))
        if phase is None:
            # An answer that cannot belong to this call (e.g. Posted for an edit): a poster bug.
            self._back_off(now, 0.0)
            return Report(
                warning=f"{self._name()}: unexpected answer {outcome!r} to {action!r} in {self.phase.name}"
            )
        report = self._learn(action, outcome, now)
        self.phase = phase
        return report

    def _feed(self, event: Input) -> None:
        """An input from this side: through ``handle`` and the table like any answer. Inputs read no
        clock, and every phase has a row for each, so no backoff ever needs a time."""
        self.handle(LOCAL, event, -math.inf)

    def _learn(self, action: Action | Local, outcome: Outcome | Input, now: float) -> Report:
        """What the answer tells about the message (everything but the phase)."""
        if isinstance(action, Local):
            return self._told(outcome)
        if isinstance(outcome, RateLimited | Failed):
            if isinstance(action, Post | Edit):
                self.not_written()
            self._back_off(now, outcome.retry_after if isinstance(outcome, RateLimited) else 0.0)
            return Report()
        self.failures, self.retry_at = 0, -math.inf
        if isinstance(action, Delete):
            return self._deleted(action, outcome)
        match action, outcome:
            case Scan(), Found(message_ids=found):
                return self._adopt(found, now)
            case Scan(), NoneFound():
                if self.phase is Phase.CHECKED:
                    self.confirmed_at = now  # the stored one (checked) is older than the page
                # (After a post: not seen on the page, which says nothing of it; rule 7 reads it.)
                return Report()
            case Post(), Posted(message_id=message_id):
                self.message_id, self.posted_at, self.post_nonce = message_id, now, None
                self._written(action.content_hash, now)
                return Report(save=True)
            case Edit(), Done():
                self._written(action.content_hash, now)
                return Report(save=True)
            case Check(), Done():
                self.confirmed_at = now
                return Report()
            case Edit(), OldMessageQuota():
                assert self.channel_id is not None and self.message_id is not None
                self.stale.append((self.channel_id, self.message_id))
                self.message_id = None
                self.not_written()
                return Report()
            case Edit() | Check(), MessageMissing():
                self.message_id = None
                self.not_written()
                return Report()
            case _, NoAccess(code=code, detail=detail):
                if isinstance(action, Post | Edit):
                    self.not_written()
                if isinstance(action, Post):
                    self.post_nonce = None  # nothing was posted: a later post is a new one
                return Report(warning=self._blocked_warning(code, detail))
        raise AssertionError(f"TRANSITIONS holds {action!r} -> {outcome!r} but nothing learns from it")

    def _told(self, event: Outcome | Input) -> Report:
        """What an input from this side changes (everything but the phase)."""
        match event:
            case Stored(message_id=message_id):
                self.message_id = message_id
            case Moved(channel_id=channel_id):
                if self.message_id is not None and self.channel_id is not None:
                    self.stale.append((self.channel_id, self.message_id))
                self.channel_id, self.message_id, self.content_hash = channel_id, None, None
                self.dirty, self.failures, self.retry_at, self.post_nonce = True, 0, -math.inf, None
            case Unblocked() | UnblockedWithMessage():
                self.retry_at, self.failures = -math.inf, 0
            case _:
                raise AssertionError(f"TRANSITIONS holds Local -> {event!r} but nothing learns from it")
        return Report()

    def _unstale(self, found: Found) -> Found | NoneFound:
        """Messages being deleted are not candidates: a 30046 replacement must not adopt its old one."""
        stale = {message_id for channel_id, message_id in self.stale if channel_id == self.channel_id}
        kept = tuple(m for m in found.message_ids if m not in stale)
        return Found(kept) if kept else NoneFound()

    def _adopt(self, found: tuple[int, ...], now: float) -> Report:
        """The newest of our boards in the channel (the stored one too) is the board; the rest go."""
        assert self.channel_id is not None
        candidates = set(found) | ({self.message_id} if self.message_id is not None else set())
        newest = max(candidates)
        for message_id in sorted(candidates - {newest}):
            if (self.channel_id, message_id) not in self.stale:
                self.stale.append((self.channel_id, message_id))
        if newest != self.message_id:
            # A post made before a kill, or a copy: what it shows is unknown, so it is edited.
            self.message_id, self.content_hash, self.dirty = newest, "", True
            self.posted_at = now if self.posted_at is None else self.posted_at
        self.post_nonce, self.confirmed_at = None, now
        return Report(save=True)

    def _written(self, content_hash: str, now: float) -> None:
        self.content_hash, self.last_write_at, self.confirmed_at = content_hash, now, now
        self.writing_since = None

    def _deleted(self, action: Delete, outcome: Outcome) -> Report:
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
