"""Pictures: the rank card (PNG) and the 30-day activity chart (PNG pixels or a self-contained SVG).

Pure functions from plain data (``domain`` records) to bytes or text: no Trio, no I/O, no clock.
They are slow by event-loop standards (tens of milliseconds of CPU, much of it Python), so
callers run them away from the event loop: the bot in a worker process
(``bot_entry.commands.rank_card.CardRenderer``). Nothing here shares mutable state between calls,
so any number of threads or processes may render at once.
"""
