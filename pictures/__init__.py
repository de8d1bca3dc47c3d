"""Pictures: the rank card (PNG) and the 30-day activity chart (PNG pixels or a self-contained SVG).

Pure functions from plain data (``domain`` records) to bytes or text: no Trio, no I/O, no clock.
They are slow by event-loop standards (tens of milliseconds), so callers run them in a worker
thread (``trio.to_thread.run_sync``); nothing here shares mutable state between calls, so any
number of threads may render at once.
"""
