"""Posted boards (table ``boards``): the leaderboard publisher's checkpoint.

One row per (guild, kind): where the board message is, the hash of what was last written there
and when, so a restarted publisher edits the same message (never a duplicate) and keeps its
interval. Functions take the ``Store`` and run in its writer thread (``store.call``).
"""

from __future__ import annotations

from actors.board_render import BoardKind
from actors.board_schedule import BoardRow
from persistence.store import Store

_COLUMNS = "guild_id, kind, channel_id, message_id, content_hash, posted_at, edited_at"


def load_boards_sync(store: Store) -> list[BoardRow]:
    rows = store.db.execute(f"SELECT {_COLUMNS} FROM boards ORDER BY guild_id, kind")
    return [
        BoardRow(guild_id, BoardKind(kind), channel_id, message_id, content_hash, posted_at, edited_at)
        for guild_id, kind, channel_id, message_id, content_hash, posted_at, edited_at in rows
    ]


def save_board_sync(store: Store, row: BoardRow) -> None:
    with store.db.atomic():
        store.db.execute(
            f"INSERT INTO boards ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO UPDATE SET channel_id = excluded.channel_id, message_id = excluded.message_id, "
            "content_hash = excluded.content_hash, posted_at = excluded.posted_at, "
            "edited_at = excluded.edited_at",
            [
                row.guild_id,
                row.kind.value,
                row.channel_id,
                row.message_id,
                row.content_hash,
                row.posted_at,
                row.edited_at,
            ],
        )
