"""The board protocol's vocabulary: what the publisher asks Discord to do, and what Discord answered.

Like h11's ``_events.py``: plain frozen values, no behaviour. The board machine
(``actors.board_schedule``) turns answers, and the few inputs from this side (``Local``), into
phase changes; the poster
(``bot_entry.board_poster``) turns HTTP answers into these, so every Discord error has exactly one
meaning and the publisher never imports disnake.
"""

from __future__ import annotations

from attrs import define

__all__ = [
    "LOCAL",
    "Action",
    "Check",
    "Delete",
    "Done",
    "Edit",
    "Failed",
    "Found",
    "Input",
    "Local",
    "MemberFound",
    "MemberGone",
    "MemberOutcome",
    "MessageMissing",
    "Moved",
    "NoAccess",
    "NoneFound",
    "OldMessageQuota",
    "Outcome",
    "Post",
    "Posted",
    "RateLimited",
    "Scan",
    "Stored",
    "Unblocked",
    "UnblockedWithMessage",
]


# --- What Discord answered ----------------------------------------------------------------------------


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
class Found:
    """The channel's recent messages hold boards of this kind written by the bot: ids, newest first."""

    message_ids: tuple[int, ...]


@define(frozen=True)
class NoneFound:
    """The channel's recent messages hold no board of this kind written by the bot."""


@define(frozen=True)
class MemberFound:
    name: str


@define(frozen=True)
class MemberGone:
    """404 Unknown Member (10007): they left the server."""


Outcome = (
    Posted | Done | MessageMissing | RateLimited | OldMessageQuota | NoAccess | Failed | Found | NoneFound
)
MemberOutcome = MemberFound | MemberGone | RateLimited | Failed


# --- What the publisher is asked to do ----------------------------------------------------------------


@define(frozen=True)
class Check:
    """GET the board message: after a (re)start, and now and then while the server is quiet, so a
    board a moderator deleted comes back without waiting for activity."""

    channel_id: int
    message_id: int


@define(frozen=True)
class Scan:
    """Read one page of the channel's recent messages for the bot's own boards of this kind, before
    posting and when adopting a stored board: a post whose nonce Discord no longer remembers
    (a restart later than its window) is adopted instead of posted twice. Like ``Check`` it needs
    the Read Message History permission; without it the board is blocked with a warning."""

    channel_id: int


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
    """Delete a board message we no longer use (replaced after 30046, moved, or a duplicate)."""

    channel_id: int
    message_id: int


Action = Check | Scan | Post | Edit | Delete


# --- What the board is told from this side (not Discord) ----------------------------------------------


@define(frozen=True)
class Local:
    """Not a call to Discord: the source of the inputs the publisher passes on from the guild, its
    config and the database. The board machine keys them like answers, ``(phase, Local, input)``,
    so its one table holds every phase change."""


LOCAL = Local()


@define(frozen=True)
class Stored:
    """The database holds this board's message (a (re)start): confirm it exists before editing it."""

    message_id: int


@define(frozen=True)
class Moved:
    """The configured channel changed: the old message goes, a new one is posted in ``channel_id``."""

    channel_id: int


@define(frozen=True)
class Unblocked:
    """The guild was seen again (channels or permissions may have changed), the board has no
    message: look in the channel before posting."""


@define(frozen=True)
class UnblockedWithMessage:
    """The guild was seen again and the board has a message: confirm it exists first. Split from
    ``Unblocked`` so the table's key, not the board, decides where the board goes."""


Input = Stored | Moved | Unblocked | UnblockedWithMessage
