"""The publisher's checkpoint round-trips: the board row, a post in flight and old messages to delete."""

from __future__ import annotations

from pathlib import Path

from domain.checkpoints import BoardCheckpoint, BoardRow
from domain.kinds import BoardKind
from persistence.boards import load_boards_sync, save_board_sync
from persistence.store import Store


def test_each_part_of_a_board_checkpoint_is_stored_and_replaced(db_target: Path | str) -> None:
    store = Store(db_target)
    row = BoardRow(1, BoardKind.MESSAGES, 5, 6, "h", 10.0, 20.0)
    replacing = BoardCheckpoint(1, BoardKind.MESSAGES, None, (5, "nonce-1"), ((5, 6), (4, 3)))
    first_post = BoardCheckpoint(1, BoardKind.VOICE, None, (5, "nonce-2"))
    try:
        save_board_sync(store, BoardCheckpoint(1, BoardKind.MESSAGES, row))
        save_board_sync(store, replacing)  # no row: the stored one stays until the new post lands
        save_board_sync(store, first_post)
        assert load_boards_sync(store) == [
            BoardCheckpoint(1, BoardKind.MESSAGES, row, (5, "nonce-1"), ((5, 6), (4, 3))),
            first_post,
        ]
        posted = BoardRow(1, BoardKind.MESSAGES, 5, 7, "h2", 30.0, 30.0)
        save_board_sync(store, BoardCheckpoint(1, BoardKind.MESSAGES, posted, None, ((5, 6),)))
        assert load_boards_sync(store)[0] == BoardCheckpoint(1, BoardKind.MESSAGES, posted, None, ((5, 6),))
    finally:
        store.close()
