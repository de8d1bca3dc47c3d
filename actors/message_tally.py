"""Message tally: which messages count, and the batch of increments waiting to be flushed.

Pure: events in, a new tally out; no Trio, no SQLite. The shell (``message_counter``) decides when
to flush. Dedupe is by message id over a bounded window of recent ids, so a gateway replay (RESUME)
or a redelivered event after a crash never counts twice.

Reactions added (``ReactionAdded``) ride in the same batches for the daily history: a bot's
reaction and a reaction to one's own message do not count, nor one already counted (same member,
message and emoji, within a bounded window of recent ones, kept in memory only).
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from attrs import define, field

from domain.checkpoints import MessageBatch
from domain.events import MessageSent, ReactionAdded
from domain.guild_config import GuildConfig, GuildConfigs

DEDUPE_WINDOW = 100_000
REACTION_WINDOW = 100_000  # recent (message, member, emoji) reactions remembered against replays
FORGOTTEN_KEPT = 10_000  # forget cutoffs remembered (a late replay must not bring a member back)


class Skip(enum.Enum):
    """Why a message does not count."""

    BOT = "bot author"
    WEBHOOK = "webhook"
    SYSTEM = "system message"
    DUPLICATE = "already counted"
    EXCLUDED_CHANNEL = "excluded channel"
    PARENT_UNKNOWN = "channel of unknown parent, and the guild excludes channels"
    EXCLUDED_ROLE = "author has an excluded role"
    COOLDOWN = "within the member's cooldown"
    FORGOTTEN = "sent before the member was forgotten"
    OWN_MESSAGE = "a reaction to one's own message"


@define
class MessageTally:
    """Recent ids (dedupe) plus the increments not yet flushed.

    Mutable on purpose: it sits on the hot path (thousands of events a second), and the shell owns
    it alone. ``take_batch`` hands the pending increments over and starts a new batch.
    """

    configs: GuildConfigs = field(factory=lambda: GuildConfigs(GuildConfig()))
    seen: OrderedDict[int, None] = field(factory=OrderedDict)
    last_counted: dict[tuple[int, int], float] = field(factory=dict)  # for the optional cooldown
    counts: dict[tuple[int, int, int], int] = field(factory=dict)
    message_ids: list[tuple[int, float]] = field(factory=list)
    names: dict[tuple[int, int], tuple[str, float]] = field(factory=dict)
    forgotten: dict[tuple[int, int], float] = field(factory=dict)  # member -> nothing before this counts
    # The pending messages by channel (guild, user, second, channel), and reactions added.
    channels: dict[tuple[int, int, int, int], int] = field(factory=dict)
    reactions: dict[tuple[int, int, int], int] = field(factory=dict)
    reactions_pending: int = 0
    seen_reactions: OrderedDict[tuple[int, int, str], None] = field(factory=OrderedDict)

    @classmethod
    def resume(cls, recent_ids: list[int], configs: GuildConfigs | None = None) -> MessageTally:
        tally = cls(configs=configs or GuildConfigs(GuildConfig()))
        for message_id in recent_ids[-DEDUPE_WINDOW:]:
            tally.seen[message_id] = None
        return tally

    @property
    def pending(self) -> int:
        return len(self.message_ids) + self.reactions_pending

    def classify(self, event: MessageSent) -> Skip | None:
        return self._skip(event, self.configs.get(event.guild_id))

    def _skip(self, event: MessageSent, config: GuildConfig) -> Skip | None:
        if event.author_bot or event.webhook or event.system:  # one test on the hot path
            return Skip.BOT if event.author_bot else Skip.WEBHOOK if event.webhook else Skip.SYSTEM
        excluded = config.excluded_channels
        if excluded:
            if event.channel_id in excluded or event.parent_channel_id in excluded:
                return Skip.EXCLUDED_CHANNEL
            if event.parent_unknown:  # never counted against an exclusion by mistake
                return Skip.PARENT_UNKNOWN
        if config.excluded_roles and event.author_roles & config.excluded_roles:
            return Skip.EXCLUDED_ROLE
        if event.message_id in self.seen:
            return Skip.DUPLICATE
        if self.forgotten and event.at < self.forgotten.get((event.guild_id, event.author_id), -math.inf):
            return Skip.FORGOTTEN
        if config.message_cooldown:
            last = self.last_counted.get((event.guild_id, event.author_id))
            if last is not None and event.at - last < config.message_cooldown:
                return Skip.COOLDOWN
        return None

    def add(self, event: MessageSent) -> Skip | None:
        """Count ``event`` unless it must be skipped; returns the reason it was skipped.

        On the hot path (every message): the config is looked up once, and locals stand in for
        attribute reads.
        """
        config = self.configs.get(event.guild_id)
        skip = self._skip(event, config)
        if skip is not None:
            return skip
        guild_id, author_id, at = event.guild_id, event.author_id, event.at
        member = (guild_id, author_id)
        seen = self.seen
        seen[event.message_id] = None
        if len(seen) > DEDUPE_WINDOW:
            seen.popitem(last=False)
        if config.message_cooldown:
            self.last_counted[member] = at
        key = (guild_id, author_id, int(at))
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        where = (*key, event.channel_id)
        channels = self.channels
        channels[where] = channels.get(where, 0) + 1
        self.message_ids.append((event.message_id, at))
        self.names[member] = (event.author_name, at)
        return None

    def add_batch(self, events: Iterator[Any]) -> Any:
        """Count the messages and reactions of ``events`` in order, up to the first other event,
        which is returned (None once ``events`` is done); the caller handles it and goes on.

        The same decisions as ``add`` one by one, in one loop with the batch's dicts bound once: a
        message that needs no check beyond the dedupe (no exclusions, no cooldown, no forget
        cutoffs) is counted inline; any other goes through ``add``. The iterator is taken one
        event at a time, so a mailbox knows which event was in hand if this raises.
        """
        configs, defaults = self.configs.by_guild, self.configs.defaults
        seen, counts, channels, names = self.seen, self.counts, self.channels, self.names
        count_get, channel_get, append = counts.get, channels.get, self.message_ids.append
        add, add_reaction = self.add, self.add_reaction
        for event in events:
            kind = type(event)
            if kind is MessageSent:
                guild_id = event.guild_id
                config = configs.get(guild_id, defaults)
                message_id = event.message_id
                if (
                    event.author_bot
                    or event.webhook
                    or event.system
                    or config.excluded_channels
                    or config.excluded_roles
                    or config.message_cooldown
                    or self.forgotten
                    or message_id in seen
                ):
                    add(event)  # the full checks (and the reason it does not count, if so)
                    continue
                author_id, at = event.author_id, event.at
                seen[message_id] = None
                if len(seen) > DEDUPE_WINDOW:
                    seen.popitem(last=False)
                second = int(at)
                key = (guild_id, author_id, second)
                counts[key] = count_get(key, 0) + 1
                where = (guild_id, author_id, second, event.channel_id)
                channels[where] = channel_get(where, 0) + 1
                append((message_id, at))
                names[guild_id, author_id] = (event.author_name, at)
            elif kind is ReactionAdded:
                add_reaction(event)
            else:
                return event
        return None

    def classify_reaction(self, event: ReactionAdded) -> Skip | None:
        if event.user_bot:
            return Skip.BOT
        if event.message_author_id == event.user_id:
            return Skip.OWN_MESSAGE
        config = self.configs.get(event.guild_id)
        excluded = config.excluded_channels
        if event.channel_id in excluded or event.parent_channel_id in excluded:
            return Skip.EXCLUDED_CHANNEL
        if event.roles & config.excluded_roles:
            return Skip.EXCLUDED_ROLE
        if (event.message_id, event.user_id, event.emoji) in self.seen_reactions:
            return Skip.DUPLICATE
        if self.forgotten and event.at < self.forgotten.get((event.guild_id, event.user_id), -math.inf):
            return Skip.FORGOTTEN
        return None

    def add_reaction(self, event: ReactionAdded) -> Skip | None:
        """Count a reaction added unless it must be skipped; returns the reason it was skipped."""
        skip = self.classify_reaction(event)
        if skip is not None:
            return skip
        self.seen_reactions[(event.message_id, event.user_id, event.emoji)] = None
        if len(self.seen_reactions) > REACTION_WINDOW:
            self.seen_reactions.popitem(last=False)
        key = (event.guild_id, event.user_id, int(event.at))
        self.reactions[key] = self.reactions.get(key, 0) + 1
        self.reactions_pending += 1
        return None

    def forget(self, guild_id: int, user_id: int, at: float) -> None:
        """Drop the member's pending counts and name from before ``at`` and their cooldown, and skip
        their messages from before ``at`` from now on (a replay after a RESUME can bring old ones).
        The store refuses such writes too; this frees the memory and keeps the batch honest."""
        member = (guild_id, user_id)
        self.counts = {k: n for k, n in self.counts.items() if k[:2] != member or k[2] >= at}
        self.channels = {k: n for k, n in self.channels.items() if k[:2] != member or k[2] >= at}
        self.reactions = {k: n for k, n in self.reactions.items() if k[:2] != member or k[2] >= at}
        if member in self.names and self.names[member][1] < at:
            del self.names[member]
        self.last_counted.pop(member, None)
        self.forgotten.pop(member, None)
        self.forgotten[member] = at
        if len(self.forgotten) > FORGOTTEN_KEPT:
            del self.forgotten[next(iter(self.forgotten))]

    def configure(self, guild_id: int, config: GuildConfig) -> None:
        self.configs.set(guild_id, config)

    def take_batch(self) -> MessageBatch:
        batch = MessageBatch(
            counts=self.counts,
            message_ids=tuple(self.message_ids),
            names=self.names,
            channels=self.channels,
            reactions=self.reactions,
        )
        self.counts, self.message_ids, self.names = {}, [], {}
        self.channels, self.reactions, self.reactions_pending = {}, {}, 0
        return batch

    def put_back(self, batch: MessageBatch) -> None:
        """Return a batch whose flush failed, so the next flush retries it (nothing is dropped); its
        messages count as seen (a restarted actor's fresh tally must not count a redelivery again)."""
        for key, n in batch.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        for where, n in batch.channels.items():
            self.channels[where] = self.channels.get(where, 0) + n
        for key, n in batch.reactions.items():
            self.reactions[key] = self.reactions.get(key, 0) + n
            self.reactions_pending += n
        self.message_ids[:0] = batch.message_ids
        for message_id, _ in batch.message_ids:
            self.seen.setdefault(message_id, None)
        self.names = {**batch.names, **self.names}
