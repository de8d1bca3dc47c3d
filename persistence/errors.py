"""What the store raises, so callers never need to know which database engine is behind it.

``StoreError`` is fatal (the file cannot be used: the bot stops with exit 3 and names a backup;
its kind ``FlushIncomplete``, a stop that could not write everything, exits 4);
``StoreUnavailable`` and its kinds are passing (locked by another writer, disk full): the caller
keeps its batch and tries again within its bound.
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


class FlushIncomplete(StoreError):
    """A stop gave up writing to a failing database; the message says what was lost, per guild."""


class StoreUnavailable(RuntimeError):
    """A write or read could not run now; nothing of it was applied. Try again later."""


class StoreBusy(StoreUnavailable):
    """Another writer holds the database (locked or busy past the engine's own wait)."""


class StoreFull(StoreUnavailable):
    """The disk (or the database's size limit) is full."""
