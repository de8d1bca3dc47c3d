"""Posted boards: the leaderboard publisher's checkpoint (tables ``boards``, ``board_posts``,
``board_stale``).

One ``boards`` row per (guild, kind): where the board message is, the hash of what was last written
there and when, so a restarted publisher edits the same message and keeps its interval. A post in
flight (its nonce) and old messages still to delete are kept too, so a kill at any moment leaves no
second board behind. Functions take the ``Store`` and run in its writer thread (``store.call``).
"""

from __future__ import annotations

from collections import defaultdict

from domain.checkpoints import BoardCheckpoint, BoardRow
from domain.kinds import BoardKind
from persistence.dialect import insertion_order
from persistence.store import Store

_COLUMNS = "guild_id, kind, channel_id, message_id, content_hash, posted_at, edited_at"


def load_boards_sync(store: Store) -> list[BoardCheckpoint]:
    rows = {
        (guild_id, BoardKind(kind)): BoardRow(
            guild_id, BoardKind(kind), channel_id, message_id, content_hash, posted_at, edited_at
        )
        for guild_id, kind, channel_id, message_id, content_hash, posted_at, edited_at in store.db.execute(
            f"SELECT {_COLUMNS} FROM boards"
        )
    }
    posts = {
        (guild_id, BoardKind(kind)): (channel_id, nonce)
        for guild_id, kind, channel_id, nonce in store.db.execute(
            "SELECT guild_id, kind, channel_id, nonce FROM board_posts"
        )
    }
    stale: defaultdict[tuple[int, BoardKind], list[tuple[int, int]]] = defaultdict(list)
    for guild_id, kind, channel_id, message_id in store.db.execute(
        f"SELECT guild_id, kind, channel_id, message_id FROM board_stale ORDER BY {insertion_order(store.db)}"
    ):
        stale[(guild_id, BoardKind(kind))].append((channel_id, message_id))
    keys = sorted(rows.keys() | posts.keys() | stale.keys(), key=lambda k: (k[0], k[1].value))
    return [BoardCheckpoint(g, k, rows.get((g, k)), posts.get((g, k)), tuple(stale[(g, k)])) for g, k in keys]


def save_board_sync(store: Store, checkpoint: BoardCheckpoint) -> None:
    key = [checkpoint.guild_id, checkpoint.kind.value]
    with store.db.atomic():
        if (row := checkpoint.row) is not None:
            store.db.execute(
                f"INSERT INTO boards ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, kind) DO UPDATE SET channel_id = excluded.channel_id, "
                "message_id = excluded.message_id, content_hash = excluded.content_hash, "
                "posted_at = excluded.posted_at, edited_at = excluded.edited_at",
                [*key, row.channel_id, row.message_id, row.content_hash, row.posted_at, row.edited_at],
            )
        store.db.execute("DELETE FROM board_posts WHERE guild_id = ? AND kind = ?", key)
        if checkpoint.pending_post is not None:
            store.db.execute(
                "INSERT INTO board_posts (guild_id, kind, channel_id, nonce) VALUES (?, ?, ?, ?)",
                [*key, *checkpoint.pending_post],
            )
        store.db.execute("DELETE FROM board_stale WHERE guild_id = ? AND kind = ?", key)
        store.db.conn.executemany(
            "INSERT INTO board_stale (guild_id, kind, channel_id, message_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [[*key, channel_id, message_id] for channel_id, message_id in checkpoint.stale],
        )
