"""The rules the simulator invents: Discord enforces them but publishes no number.

The bot is tested against the simulator's choice, so each of these is a knob rather than a
constant: a test can run the same scenario under another plausible value (see
``tests/e2e/test_sim_rules_e2e.py``). ``DiscordSim(rules=SimRules(...))`` sets them at start;
``sim.rules`` reads the live values and ``sim.rules = evolve(sim.rules, ...)`` changes them.
The older per-part knobs stay live and are the same values: ``sim.limits.old_message_edits``,
``sim.nonce_window_ms``, ``sim.gateway.heartbeat_timeout``, ``sim.gateway.resume_window_ms``.

What Discord does publish (route buckets, the 50/s global limit, the 3 s interaction deadline,
the one-hour age after which an edit counts as "old") is in ``ratelimit.py`` and is no rule here.
The sharding numbers are the exception: Discord publishes them (``shards.py``), but a test needs
to meet them at small sizes (a shard limit of 3 guilds, a session budget of 2), so they are knobs
here too, with Discord's values as defaults.
"""

from __future__ import annotations

from attrs import define

from discord_sim.ratelimit import OLD_MESSAGE_EDITS, Rule


@define(frozen=True)
class SimRules:
    """The invented rules, each with the reason for its default.

    ``old_message_edits``: edits of messages older than an hour, per channel, before error
    30046 ("Maximum number of edits to messages older than 1 hour reached"). Discord publishes no
    number; default 5 per hour per channel, low enough that a board edited every minute meets
    it soon after it is an hour old, so the bot's 30046 path runs (None: no quota).

    ``nonce_window_ms``: how long a POST with ``enforce_nonce`` returns the message first created
    with that nonce instead of a second one. Discord says only "in the past few minutes";
    default 5 min (0: no deduplication at all).

    ``heartbeat_timeout``: intervals of client silence before the server closes the connection
    with 4000 (it first asks with an op 1 after one interval). Discord says only that a client
    that misses heartbeats is disconnected; default 1.5, the smallest margin that still lets a
    client answer the request (None: never asked, never closed).

    ``resume_window_ms``: how long a disconnected session can still be resumed. Discord says "a
    few minutes"; default 10 min, so the bot's reconnect backoff fits well inside it.

    Sharding and session starts (Discord's published values; ``shards.py``, ``gateway.py``):

    ``shard_guild_limit``: the most guilds one shard may hold; an IDENTIFY whose shard would hold
    more is closed with 4011 "Sharding required". Discord: 2,500.

    ``guilds_per_shard``: ``GET /gateway/bot`` recommends ``max(1, ceil(guilds / this))`` shards.
    Discord publishes no formula; its recommendation is about one shard per 1,000 guilds.

    ``max_concurrency``: IDENTIFYs allowed per ``identify_interval_s``, one per bucket
    ``shard_id % max_concurrency``; a second one in the same bucket sooner gets op 9 Invalid
    Session (``d: false``). Discord: 1, unless the app has large bot sharding.

    ``session_start_total`` / ``session_start_remaining`` / ``session_start_reset_after_ms``: the
    IDENTIFY budget ``GET /gateway/bot`` reports; each accepted IDENTIFY spends one, and the
    budget is whole again ``reset_after`` ms after the window began (the first look at it). An
    IDENTIFY with none left ends every session and resets the token, as Discord documents.
    Discord: 1,000 a day. ``session_start_remaining`` None: start with ``total``.

    ``identify_interval_s``: the bucket's interval. Discord: 5 s.
    """

    old_message_edits: Rule | None = OLD_MESSAGE_EDITS
    nonce_window_ms: int = 5 * 60_000
    heartbeat_timeout: float | None = 1.5
    resume_window_ms: int = 10 * 60_000
    shard_guild_limit: int = 2500
    guilds_per_shard: int = 1000
    max_concurrency: int = 1
    session_start_total: int = 1000
    session_start_remaining: int | None = None
    session_start_reset_after_ms: int = 24 * 3600_000
    identify_interval_s: float = 5.0
