"""Events that flow from the gateway through the router to the actors.

Named for what happened, in the past tense, frozen: once the gateway has translated a payload, the
rest of the program trusts it. Only ``bot_entry`` builds these from Discord payloads.
"""

from __future__ import annotations

from attrs import define, field

from domain.messages import GuildConfigured


@define(frozen=True)
class MessageSent:
    """A MESSAGE_CREATE in a guild channel or thread."""

    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    author_name: str
    at: float
    author_bot: bool = False
    webhook: bool = False
    system: bool = False
    parent_channel_id: int | None = None  # the thread's parent, so excluding a channel excludes its threads
    # The bot could not learn whether the channel is a thread, nor its parent (Discord refused or
    # failed the lookup): the tally must not count it where an exclusion might apply.
    parent_unknown: bool = False
    author_roles: frozenset[int] = field(factory=frozenset)  # so excluded roles can be honoured


@define(frozen=True)
class ReactionAdded:
    """A MESSAGE_REACTION_ADD in a guild: ``user_id`` reacted to a message by ``message_author_id``
    (None when Discord did not say). Counted in the daily history, not on the boards."""

    guild_id: int
    channel_id: int
    message_id: int
    user_id: int
    emoji: str  # the emoji's id, or its unicode text: one member's reaction is (message, user, emoji)
    at: float
    message_author_id: int | None = None
    user_bot: bool = False
    parent_channel_id: int | None = None  # the thread's parent, when the bot knows it
    roles: frozenset[int] = field(factory=frozenset)


@define(frozen=True)
class VoiceStateChanged:
    """A VOICE_STATE_UPDATE: the user's whole voice situation right after the change."""

    guild_id: int
    user_id: int
    channel_id: int | None
    at: float
    member_name: str = ""
    self_mute: bool = False
    self_deaf: bool = False
    mute: bool = False
    deaf: bool = False
    suppress: bool = False
    bot: bool = False
    roles: frozenset[int] = field(factory=frozenset)


@define(frozen=True)
class GuildSnapshot:
    """A GUILD_CREATE: the guild as it is now, including who is in voice (sent on every (re)connect)."""

    guild_id: int
    name: str
    at: float
    icon_url: str | None = None
    afk_channel_id: int | None = None
    voice_channel_ids: frozenset[int] = field(factory=frozenset)
    text_channel_ids: frozenset[int] = field(factory=frozenset)  # text, news, forum: where boards can go
    voice_states: tuple[VoiceStateChanged, ...] = ()


@define(frozen=True)
class ConnectionLost:
    """The gateway's websocket closed (Discord will replay what was missed, or the bot re-IDENTIFIEs).

    Until the outage ends the bot cannot see voice changes when they happen, so voice sessions
    stop counting here and decide about the outage's time when it ends.
    """

    at: float


@define(frozen=True)
class ConnectionResumed:
    """RESUMED: Discord replayed every missed event (they came before this); the outage is over.

    After a re-IDENTIFY there is no such event: each guild's GUILD_CREATE ends its outage.
    """

    at: float


# ``GuildConfigured`` comes from ``/lbconfig``, not Discord: it enters the same stream so the router
# applies it in order with the voice changes around it, and forwards it to the actors that need it.
Event = (
    MessageSent
    | VoiceStateChanged
    | GuildSnapshot
    | GuildConfigured
    | ConnectionLost
    | ConnectionResumed
    | ReactionAdded
)
