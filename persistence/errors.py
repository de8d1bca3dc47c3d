"""What the store raises, so callers never need to know which database engine is behind it.

``StoreError`` is fatal (the file cannot be used: the bot stops with exit 3 and names a backup;
``StoreInaccessible`` when the file is fine but out of reach, so a backup would not help;
``FlushIncomplete``, a stop that could not write everything, exits 4);
``StoreUnavailable`` and its kinds are passing (locked by another writer, disk full): the caller
keeps its batch and tries again within its bound. At start-up a ``StoreBusy`` is fatal too.
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


class StoreInaccessible(StoreError):
    """This bot cannot use the file (missing directory, read-only, a newer schema); it is not damaged."""


class FlushIncomplete(StoreError):
    """A stop gave up writing to a failing database; the message says what was lost, per guild."""


class StoreUnavailable(RuntimeError):
    """A write or read could not run now; nothing of it was applied. Try again later."""


class StoreBusy(StoreUnavailable):
    """Another writer holds the database (locked or busy past the engine's own wait)."""


class StoreFull(StoreUnavailable):
    """The disk (or the database's size limit) is full."""
