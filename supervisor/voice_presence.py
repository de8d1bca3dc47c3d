"""Who is in which voice channel, and what each user's ``Presence`` is (pure; no Trio).

The router owns one ``GuildVoice`` per guild. A voice change can alter other users' situation
too (someone joining gives the people already there company), so ``apply`` returns the new
presence of every user it affected, and only those whose presence actually changed.
"""

from __future__ import annotations

from attrs import define, field

from actors.events import GuildSnapshot, VoiceStateChanged
from actors.voice_machine import Presence

LEFT = Presence(channel_id=None)


@define
class GuildVoice:
    guild_id: int
    afk_channel_id: int | None = None
    excluded: frozenset[int] = frozenset()
    states: dict[int, VoiceStateChanged] = field(factory=dict)  # humans in a voice channel now
    told: dict[int, Presence] = field(factory=dict)  # the last presence sent for each user

    def presence_of(self, user_id: int) -> Presence:
        state = self.states.get(user_id)
        if state is None or state.channel_id is None:
            return LEFT
        return Presence(
            channel_id=state.channel_id,
            self_mute=state.self_mute,
            self_deaf=state.self_deaf,
            mute=state.mute,
            deaf=state.deaf,
            suppress=state.suppress,
            afk=state.channel_id == self.afk_channel_id,
            excluded=state.channel_id in self.excluded,
            has_company=any(
                other.channel_id == state.channel_id for uid, other in self.states.items() if uid != user_id
            ),
        )

    def apply(self, change: VoiceStateChanged) -> list[tuple[int, Presence]]:
        """Record one user's change; return (user, presence) for every user whose presence changed."""
        if change.bot:
            return []  # bots never count and never keep anyone company
        before = self.states.get(change.user_id)
        if change.channel_id is None:
            self.states.pop(change.user_id, None)
        else:
            self.states[change.user_id] = change
        channels = {change.channel_id, before.channel_id if before else None} - {None}
        affected = [change.user_id] + [u for u, s in self.states.items() if s.channel_id in channels]
        return self._changed(dict.fromkeys(affected))

    def reconcile(self, snapshot: GuildSnapshot) -> list[tuple[int, Presence]]:
        """Replace everything with a fresh GUILD_CREATE view: missing users have left."""
        self.afk_channel_id = snapshot.afk_channel_id
        previous = set(self.states) | set(self.told)
        self.states = {s.user_id: s for s in snapshot.voice_states if s.channel_id is not None and not s.bot}
        return self._changed(dict.fromkeys([*previous, *self.states]))

    def reconcile_in_place(self) -> list[tuple[int, Presence]]:
        """Everyone's presence again (after ``told`` was cleared because the rules changed)."""
        return self._changed(dict.fromkeys(self.states))

    def _changed(self, users: dict[int, None]) -> list[tuple[int, Presence]]:
        out = []
        for user_id in users:
            presence = self.presence_of(user_id)
            if self.told.get(user_id, LEFT) != presence:
                out.append((user_id, presence))
                if presence == LEFT:
                    self.told.pop(user_id, None)
                else:
                    self.told[user_id] = presence
        return out
