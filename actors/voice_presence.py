"""Who is in which voice channel, and what each user's ``Presence`` is (pure; no Trio).

The router owns one ``GuildVoice`` per guild. A voice change can alter other users' situation
too (someone joining gives the people already there company), so ``apply`` returns the new
presence of every user it affected, and only those whose presence actually changed.
Bots are dropped here, before any presence is made: the voice machine never sees one.
"""

from __future__ import annotations

from attrs import define, field

from actors.voice_machine import Presence
from domain.events import GuildSnapshot, VoiceStateChanged

LEFT = Presence(channel_id=None)


@define
class GuildVoice:
    guild_id: int
    shard_id: int = 0  # the gateway connection that carries the guild: its outages hold this guild
    afk_channel_id: int | None = None
    excluded: frozenset[int] = frozenset()
    excluded_roles: frozenset[int] = frozenset()
    states: dict[int, VoiceStateChanged] = field(factory=dict)  # humans in a voice channel now
    told: dict[int, Presence] = field(factory=dict)  # the last presence sent for each user
    rooms: dict[int, set[int]] = field(factory=dict)  # channel -> humans in it (company in O(1))

    def presence_of(self, user_id: int) -> Presence:
        state = self.states.get(user_id)
        if state is None:
            return LEFT
        channel_id = state.channel_id
        if channel_id is None:
            return LEFT
        excluded_roles = self.excluded_roles
        return Presence(
            channel_id=channel_id,
            self_mute=state.self_mute,
            self_deaf=state.self_deaf,
            mute=state.mute,
            deaf=state.deaf,
            suppress=state.suppress,
            afk=channel_id == self.afk_channel_id,
            # (no set is made while no role is excluded, the usual case)
            excluded=channel_id in self.excluded
            or (bool(excluded_roles) and not excluded_roles.isdisjoint(state.roles)),
            has_company=len(self.rooms.get(channel_id, ())) > 1,
            name=state.member_name,
        )

    def apply(self, change: VoiceStateChanged) -> list[tuple[int, Presence]]:
        """Record one user's change; return (user, presence) for every user whose presence changed."""
        if change.bot:
            return []  # bots never count and never keep anyone company
        user_id, new = change.user_id, change.channel_id
        before = self.states.get(user_id)
        old = before.channel_id if before else None
        if new is None:
            self.states.pop(user_id, None)
        else:
            self.states[user_id] = change
        # Company only depends on whether a room holds one human or more, so besides the user
        # only someone left alone, or someone who was alone until now, can be affected.
        affected = [user_id]
        if old != new:
            if old is not None:
                room = self.rooms[old]
                room.discard(user_id)
                if len(room) == 1:
                    affected += room
                elif not room:
                    del self.rooms[old]
            if new is not None:
                room = self.rooms.setdefault(new, set())
                if len(room) == 1:
                    affected += room
                room.add(user_id)
        return self._changed(dict.fromkeys(affected))

    def reconcile(self, snapshot: GuildSnapshot) -> list[tuple[int, Presence]]:
        """Replace everything with a fresh GUILD_CREATE view: missing users have left."""
        self.afk_channel_id = snapshot.afk_channel_id
        self.shard_id = snapshot.shard_id
        previous = set(self.states) | set(self.told)
        self.states = {s.user_id: s for s in snapshot.voice_states if s.channel_id is not None and not s.bot}
        self.rooms = {}
        for user_id, state in self.states.items():
            self.rooms.setdefault(state.channel_id, set()).add(user_id)  # type: ignore[arg-type]
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
