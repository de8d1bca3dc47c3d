"""The leaderboard publisher: the Trio shell around ``actors.board_schedule``.

It keeps two boards per guild (messages, voice) up to date in the channels the guild configured.
Everything it learns arrives as a message in its inbox: ``TotalsChanged`` (the counter: messages
boards, the ledger: voice boards, a command: both; only those boards are rendered again), every
``GuildSnapshot`` (name, icon, text channels; from the router), ``GuildConfigured`` (its own copy of
each guild's config), ``PeriodReset`` (the boards start fresh once the new period is visible),
``MemberForgotten``, and ``PublishFinal`` from the reset clock. The run loop takes every queued
message at once (each notes the guild and when its change was taken), hands that to the boards of
those guilds only, then takes the due boards whose change has waited longest (a heap of due times, a
heap of waiting times per lane: no round visits every board; the lanes, the two kinds and the reads
after first posts, take turns, so a voice board's minute clock never takes every call from the
messages boards), renders each (SQLite top 10 + names -> ``board_view`` -> ``render_board``), calls
Discord through the poster, eight guilds at once (each call says since when its change waits, so the
REST budget grants the oldest first), and hands the answer back to the board; it reads its inbox
meanwhile, and sleeps until the next message or board due. At a stop the last changes go out the
same way, the longest-waiting first, within SHUTDOWN_WAIT; what does not fit is stored and goes out
at the next start.

Checkpoint: the ``boards`` rows. A (re)started publisher loads them, confirms each message exists
and reads the channel for copies before editing it, and reads it after every first post (in its
own lane, once every post has gone), so a restart never leaves a second board for long (even past
Discord's nonce window) and keeps each board's interval.
What it learned from the gateway (snapshots, dirty guilds, fetched names) lives on this object,
like the voice ledger's state, so it survives a crash of the loop.

Names: ``actors.member_names`` (the last-known name stored in ``members``; else the member fetched
over REST, cached and remembered; else "Unknown member"; never a raw id). With ``hide_departed``
each ranked member is confirmed over REST (cached for an hour) and those who left are skipped.
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
from collections import deque
from collections.abc import Coroutine, Hashable
from typing import Any, Protocol

import trio
from attrs import define, field

from actors.board_protocol import (
    Action,
    Check,
    Delete,
    Edit,
    Failed,
    MemberOutcome,
    Outcome,
    Post,
    RateLimited,
    Scan,
)
from actors.board_queue import BoardQueue
from actors.board_render import content_hash, render_board
from actors.board_schedule import Board, Need, Phase, board_channels
from actors.board_view import TOP, Paging, board_view
from actors.member_names import Learned, MemberNames, ranked_members
from domain.clock import WallClock
from domain.events import GuildSnapshot
from domain.guild_config import GuildConfigs
from domain.kinds import BoardKind
from domain.messages import GuildConfigured, MemberForgotten, PeriodReset, TotalsChanged
from domain.shards import ShardSet
from persistence import boards as board_rows
from persistence import queries
from persistence.store import Store
from supervisor.coalescing import CoalescingMailbox
from supervisor.mailbox import Mailbox, Sender
from supervisor.supervisor import ChildSpec, Restart

log = logging.getLogger(__name__)

MAX_STEPS = 6  # calls per board per round: e.g. edit -> 404 -> scan -> post, then delete old ones
FINAL_WAIT = 30.0  # seconds the reset clock waits for the final boards
SHUTDOWN_WAIT = 10.0  # seconds the last state may take to go out at shutdown
MIN_RETRY_WAIT = 0.05  # seconds between two shutdown rounds at least (no busy loop)
# A Trio deadline met may read a hair before its wall-clock time (float rounding): what is due
# within this is due now, so a wake-up always finds the work it woke for (no busy loop).
CLOCK_SLACK = 1e-6
IN_FLIGHT = 8  # guilds whose boards are driven at once (the REST budget in bot_entry paces the calls)
ROUND_BOARDS = 64  # boards a round takes at most, so the inbox is read between rounds
RECHECKS_PER_SECOND = 1.0  # quiet boards read back per second at most, however many (rule 7)

Key = tuple[int, BoardKind]
Boards = dict[Key, Board]
_BOTH = frozenset(BoardKind)
READS_AFTER_POSTS = "reads after posts"  # the queue's third lane
# Turns per cycle, used only while several lanes wait (a lane alone takes every turn). A messages
# board changes when someone does something, and a board behind on it shows the wrong counts and
# ranks; a voice board changes whenever anyone in its top 10 passes a minute in voice, so it is
# always a little behind by nature, and a later edit catches up all of its minutes at once. Under a
# budget shortage the messages boards go three turns to the voice boards' one (at 40 calls/s: 24
# or more for the messages boards, 8 or more for the voice boards, none starved); the reads after
# first posts (one per board after a start) take one turn, so the edits go on meanwhile.
# Boards not yet posted (a start, a guild that just configured its boards) come before any edit: a
# board not there shows nothing at all. Their lane is not strict (64 turns to the others' 5), but
# there is one first post per board, so it empties; at 40 calls/s the first posts of a start go at
# about 37 a second.
FIRST_POSTS = "first posts"
LANE_SHARES: dict[Hashable, int] = {
    FIRST_POSTS: 64,
    BoardKind.MESSAGES: 3,
    BoardKind.VOICE: 1,
    READS_AFTER_POSTS: 1,
}


def _lane(boards: Boards, key: Key, due: float) -> Hashable:
    """The queue's lanes take turns, so none starves another: the first posts (``FIRST_POSTS``), the
    two kinds (a voice board's content
    is a clock, so under a budget shortage it would take every call from the messages boards), and
    the reads after first posts (rule 6 of ``board_schedule``: one per board, all due about
    READ_AFTER_POST after a start, which would otherwise stall the edits of both kinds meanwhile)."""
    board = boards.get(key)
    if board is not None and board.read_after_post(due + CLOCK_SLACK):
        return READS_AFTER_POSTS
    if board is not None and board.phase is Phase.UNPOSTED:
        return FIRST_POSTS
    return key[1]


class Poster(Protocol):
    """What the publisher needs from Discord (``bot_entry.board_poster.BoardPoster``)."""

    # ``waiting_since``: when the change this call serves began waiting (None: no change waits);
    # the REST budget grants the oldest first.
    async def post(
        self, channel_id: int, embed: dict[str, Any], nonce: str, *, waiting_since: float | None = None
    ) -> Outcome: ...
    async def edit(
        self, channel_id: int, message_id: int, embed: dict[str, Any], *, waiting_since: float | None = None
    ) -> Outcome: ...
    async def check(
        self, channel_id: int, message_id: int, *, waiting_since: float | None = None
    ) -> Outcome: ...
    async def scan(
        self, channel_id: int, kind: BoardKind, *, waiting_since: float | None = None
    ) -> Outcome: ...
    async def delete(
        self, channel_id: int, message_id: int, *, waiting_since: float | None = None
    ) -> Outcome: ...
    async def fetch_member(
        self, guild_id: int, user_id: int, *, waiting_since: float | None = None
    ) -> MemberOutcome: ...


@define(frozen=True, eq=False)
class PublishFinal:
    """The reset clock asks for the final boards of a finished period, now."""

    guild_id: int
    period: int
    deadline: float  # epoch seconds; after it the request is stale (the reset went ahead)
    done: trio.Event = field(factory=trio.Event)


Request = TotalsChanged | GuildSnapshot | GuildConfigured | PeriodReset | MemberForgotten | PublishFinal


def _request_key(request: Request) -> Hashable | None:
    """Queued requests that say "this is now so" merge: one per kind and guild (totals: one per set
    of board kinds, so a voice flush never marks a guild's messages board)."""
    match request:
        case TotalsChanged(kinds=kinds):
            return ("totals", kinds)
        case (
            GuildSnapshot(guild_id=guild_id)
            | GuildConfigured(guild_id=guild_id)
            | PeriodReset(guild_id=guild_id)
        ):
            return (type(request).__name__, guild_id)
    return None  # a forget or a final-board request: each is answered


def _merge_requests(queued: Request, newer: Request) -> Request:
    if isinstance(queued, TotalsChanged) and isinstance(newer, TotalsChanged):
        return TotalsChanged(queued.guild_ids | newer.guild_ids, queued.kinds)  # the same kinds (the key)
    return newer


def publisher_inbox() -> CoalescingMailbox[Request]:
    """The publisher's inbox: senders on the hot path never wait for a round of Discord calls, and
    no change is dropped (queued ones merge, so it holds at most a few messages per guild)."""
    return CoalescingMailbox[Request]("leaderboard_publisher", _request_key, _merge_requests)


async def publish_final(publisher: Sender[Request], clock: WallClock, guild_id: int, period: int) -> None:
    """(For the reset clock) Ask for both boards of ``guild_id`` in their final state for
    ``period``, now (no interval); return when they are written, or after ``FINAL_WAIT`` at most
    (the reset goes on)."""
    request = PublishFinal(guild_id, period, clock.now() + FINAL_WAIT)
    try:
        publisher.send_nowait(request)
    except (trio.WouldBlock, trio.ClosedResourceError):
        log.warning(
            "publisher: final boards of guild %s period %s not posted (busy or stopping)", guild_id, period
        )
        return
    with trio.move_on_at(clock.trio_deadline(request.deadline)):
        await request.done.wait()


@define(frozen=True)
class Content:
    embed: dict[str, Any]
    hash: str


@define
class LeaderboardPublisher:
    store: Store
    poster: Poster
    configs: GuildConfigs
    clock: WallClock
    settle_seconds: float = 0.0  # after a boundary, the old period is shown until its last writes land
    inbox: Mailbox[Request] = field(factory=publisher_inbox)
    guilds: dict[int, GuildSnapshot] = field(factory=dict)
    shards: ShardSet = field(factory=ShardSet)  # only these shards' boards are loaded (several processes)
    writes: int = 0  # successful posts and edits (health, tests)
    # guild -> board kind -> when its first unabsorbed change was taken (a guild in it with no kind:
    # its config, name or channels may have changed, which both boards look at).
    _dirty: dict[int, dict[BoardKind, float]] = field(factory=dict)
    # Taken during a round, handled after it: final-board requests (they drive boards) and
    # forgets (a name fetched by a render under way must not outlive them in the cache).
    _later: list[PublishFinal | MemberForgotten] = field(factory=list)
    _seen: set[int] = field(factory=set)  # guilds whose snapshot arrived since the last round
    _names: MemberNames = field(init=False)
    _fresh_at: dict[int, float] = field(factory=dict)  # guild -> when its new period becomes visible
    _fresh_heap: list[tuple[float, int]] = field(factory=list)  # (at, guild); stale entries skipped
    # Which board goes next: a round touches only the guilds that changed and the boards that are due.
    _queue: BoardQueue[Key] = field(factory=BoardQueue)
    _boards: int = 0  # how many boards there are (the re-checks are spread over them)
    _channel_problems: dict[int, tuple[str, ...]] = field(factory=dict)
    _cut_at_stop: trio.CancelScope | None = None  # the regular work under way, which ``stop`` cuts

    # -- the inbox --------------------------------------------------------------------------------

    def _take(self, message: Request) -> None:
        """Note what ``message`` says; the next round hands it to the boards (``_absorb``)."""
        now = self.clock.now()
        match message:
            case TotalsChanged(guild_ids, kinds):
                for guild_id in guild_ids:
                    self._mark(guild_id, now, kinds)
            case GuildSnapshot(guild_id=guild_id):
                self.guilds[guild_id] = message
                self._seen.add(guild_id)
                self._mark(guild_id, now)  # name, icon or channels may have changed
            case GuildConfigured(guild_id, config):
                self.configs.set(guild_id, config)
                self._mark(guild_id, now)
            case PeriodReset(guild_id, _, at):
                # The old period shows until its last writes land (``settle_seconds``): look again then.
                self._fresh_at[guild_id] = at + self.settle_seconds
                heapq.heappush(self._fresh_heap, (at + self.settle_seconds, guild_id))
            case MemberForgotten(guild_id, user_id, at, applied):
                self._names.forget(guild_id, user_id)
                self._mark(guild_id, now)
                applied.set()
            case _:
                raise AssertionError(f"unknown message {message!r}")

    def _mark(self, guild_id: int, at: float, kinds: frozenset[BoardKind] = _BOTH) -> None:
        """Note that ``kinds`` of ``guild_id`` changed at ``at`` (an earlier note keeps its time)."""
        noted = self._dirty.setdefault(guild_id, {})
        for kind in kinds:
            noted.setdefault(kind, at)

    # -- the actor --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Shut down within SHUTDOWN_WAIT, whatever Discord is doing: the regular round under way is
        cut (a 429 wait or 5xx retries can take a minute; every call is safe to make again, posts
        too, by their nonce), queued requests are skipped, and urgent rounds send the last state.
        """
        self.inbox.close()
        if self._cut_at_stop is not None:
            self._cut_at_stop.cancel()

    def spec(self) -> ChildSpec:
        return ChildSpec("leaderboard_publisher", self.run, self.load, Restart.PERMANENT)

    async def load(self) -> Boards:
        checkpoints = await self.store.call(board_rows.load_boards_sync, self.store)
        now = self.clock.now()
        for guild_id in self.guilds:  # after a crash, look at every known guild again
            self._mark(guild_id, now)
        owned = (c for c in checkpoints if self.shards.owns(c.guild_id))
        return {(c.guild_id, c.kind): Board.restore(c) for c in owned}

    async def run(
        self, boards: Boards, inbox: Mailbox[Request], *, task_status: trio.TaskStatus[None]
    ) -> None:
        self._schedule_all(boards)
        task_status.started()
        while True:
            await self._unless_stopped(self._round(boards))
            await self._after_round(boards)
            request: Request | None = None
            with trio.move_on_at(self.clock.trio_deadline(self._next_wake())):
                try:
                    request = await inbox.receive()
                except trio.EndOfChannel:
                    break
            while request is not None:  # everything queued, then one round
                if isinstance(request, PublishFinal):
                    self._later.append(request)
                    await self._after_round(boards)
                else:
                    self._take(request)
                try:
                    request = inbox.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    request = None
        await self._last_boards(boards)

    async def _after_round(self, boards: Boards) -> None:
        """What the inbox said during the round that had to wait for its end, in order."""
        while self._later:
            request = self._later.pop(0)
            if isinstance(request, MemberForgotten):
                self._take(request)
                continue
            try:
                await self._unless_stopped(self._publish_final(boards, request))
            finally:
                request.done.set()

    async def _last_boards(self, boards: Boards) -> None:
        """Shutdown: the counter and the ledger have flushed; their last totals go out now, the
        board whose change waited longest first, and what a failing call left undone is tried
        again when its backoff allows, within SHUTDOWN_WAIT. What does not fit (the backoff of a
        failure is at least one interval) waits for the next start: it is stored."""
        with trio.move_on_after(SHUTDOWN_WAIT):
            self._absorb(boards)
            pending = [key for key, board in boards.items() if board.last_work_due() is not None]
            while pending:
                now = self.clock.now()
                due = [
                    (boards[key].priority(now), n, key)
                    for n, key in enumerate(pending)
                    if self._last_due(boards[key], now)
                ]
                await self._drive_all(boards, [key for *_, key in sorted(due)], urgent=True)
                pending = [key for key in pending if boards[key].last_work_due() is not None]
                if not pending:
                    break
                soonest = min(d for key in pending if (d := boards[key].last_work_due()) is not None)
                await self.clock.sleep_until(max(soonest, self.clock.now() + MIN_RETRY_WAIT))

    @staticmethod
    def _last_due(board: Board, now: float) -> bool:
        due = board.last_work_due()
        return due is not None and due <= now

    async def _unless_stopped(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` unless ``stop`` was called; ``stop`` cuts it short."""
        with trio.CancelScope() as self._cut_at_stop:
            if self.inbox.closed:
                self._cut_at_stop.cancel()
            await work  # when stopped: cancelled at its first checkpoint, before any call
        self._cut_at_stop = None

    # -- the schedule -----------------------------------------------------------------------------

    def _schedule_all(self, boards: Boards) -> None:
        """(At each start of the loop) Every board once: what it needs is seen without a scan later."""
        self._queue = BoardQueue(functools.partial(_lane, boards), LANE_SHARES)
        self._boards = len(boards)
        for key in sorted(boards, key=lambda k: (k[0], k[1].value)):
            self._schedule(key, boards[key])

    def _schedule(self, key: Key, board: Board) -> None:
        """Note when ``board`` next needs a call (after it changed or was driven): O(log B)."""
        if self._queue.is_ready(key):
            return  # due already: its turn comes, and it is scheduled again after
        board.recheck_floor = self._boards / RECHECKS_PER_SECOND
        self._queue.put(key, board.next_due())

    def _take_ready(self, boards: Boards, now: float) -> list[Key]:
        """The boards due by ``now`` whose work waited longest, ROUND_BOARDS at most, oldest first."""
        return self._queue.take(now, lambda key, due: boards[key].priority(due), ROUND_BOARDS)

    def _next_wake(self) -> float:
        now = self.clock.now()
        if self._dirty:  # (changes taken during the last round)
            return now
        due = self._queue.next_due()
        fresh = self._fresh_heap[0][0] if self._fresh_heap else math.inf
        return max(now, min(due, fresh))

    async def _round(self, boards: Boards) -> None:
        """Absorb what the inbox said, then drive the due boards that waited longest; the inbox
        is read meanwhile (each change noted with the time it was taken, which orders the boards)."""
        self._absorb(boards)
        keys = self._take_ready(boards, self.clock.now() + CLOCK_SLACK)
        if not keys:
            return
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._listen)
            try:
                await self._drive_all(boards, keys)
            except Exception as exc:  # raised as itself, not in a group
                failure = exc
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _listen(self) -> None:
        """(During a round) Note what each message says; the rest waits for the round's end."""
        while True:
            try:
                request = await self.inbox.receive()
            except trio.EndOfChannel:
                return  # the run loop sees it too
            if isinstance(request, PublishFinal | MemberForgotten):
                self._later.append(request)
            else:
                self._take(request)

    async def _drive_all(self, boards: Boards, keys: list[Key], *, urgent: bool = False) -> None:
        """Drive ``keys`` in their order, the boards of IN_FLIGHT guilds at a time (a guild's own
        boards one after the other, in the order given). A failure cuts the rest short and is raised
        as itself (the supervisor restarts the loop; every board is scheduled again)."""
        by_guild: dict[int, list[Key]] = {}
        for key in keys:
            by_guild.setdefault(key[0], []).append(key)
        queue = deque(by_guild.values())
        undriven = set(keys)
        failures: list[Exception] = []

        async def worker(cut: trio.CancelScope) -> None:
            while queue:
                for key in queue.popleft():
                    board = boards[key]
                    try:
                        await self._drive(key, board, urgent=urgent)
                    except Exception as exc:
                        failures.append(exc)
                        cut.cancel()
                        return
                    finally:
                        undriven.discard(key)
                        self._schedule(key, board)

        try:
            async with trio.open_nursery() as nursery:
                for _ in range(min(IN_FLIGHT, len(queue))):
                    nursery.start_soon(worker, nursery.cancel_scope)
        finally:
            for key in undriven:  # cut short: their turn comes again
                self._schedule(key, boards[key])
        if failures:
            raise failures[0]

    def _absorb(self, boards: Boards) -> None:
        """Hand what the inbox said to the boards of the guilds it concerned (no other guild is
        visited), with this actor's copy of each guild's config."""
        now = self.clock.now()
        while self._fresh_heap and self._fresh_heap[0][0] <= now + CLOCK_SLACK:
            at, guild_id = heapq.heappop(self._fresh_heap)
            if self._fresh_at.get(guild_id) == at:  # the new period is what a render shows now
                del self._fresh_at[guild_id]
                self._mark(guild_id, at)
        dirty, self._dirty = self._dirty, {}
        seen, self._seen = self._seen, set()
        for guild_id in sorted(dirty):
            snapshot = self.guilds.get(guild_id)
            if snapshot is None:
                continue  # not seen yet: its snapshot marks it dirty
            config = self.configs.get(guild_id)
            configured = {
                BoardKind.MESSAGES: config.message_board_channel_id,
                BoardKind.VOICE: config.voice_board_channel_id,
            }
            channels, problems = board_channels(configured, snapshot.text_channel_ids)
            if problems and problems != self._channel_problems.get(guild_id):
                log.warning(
                    "guild %s (%s): %s; no board is posted there (activity is still counted)",
                    guild_id,
                    snapshot.name,
                    "; ".join(problems),
                )
            self._channel_problems[guild_id] = problems
            for kind, channel_id in channels.items():
                board = boards.get((guild_id, kind))
                if board is None:
                    if channel_id is None:
                        continue
                    board = boards[(guild_id, kind)] = Board(guild_id, kind)
                    self._boards = len(boards)
                board.configure(channel_id, config.update_interval)
                if guild_id in seen:
                    board.unblock()
                if kind in dirty[guild_id]:  # else only the other kind's totals changed
                    board.mark_dirty(dirty[guild_id][kind])
                self._schedule((guild_id, kind), board)

    async def _drive(
        self, key: tuple[int, BoardKind], board: Board, *, urgent: bool = False, period: int | None = None
    ) -> None:
        """Make the calls this board needs now (a few at most: e.g. edit -> 404 -> post)."""
        for step in range(MAX_STEPS):
            now = self.clock.now()
            need = board.needs(now + CLOCK_SLACK, urgent=urgent)
            if need is None:
                return
            if step and board.read_after_post(now + CLOCK_SLACK, need):
                return  # not with this drive's calls: the read takes its own turn (``_lane``)
            content = await self._render(key, now, period) if need is Need.CONTENT else None
            action = board.action(need, content.hash if content else None, now)
            if action is None:
                continue  # rendered the same as what is on Discord; an old message may await deletion
            if isinstance(action, Post):
                await self._save(board)  # its nonce first: a kill during the post must not post twice
            since = board.call_since(action)
            try:
                outcome = await self._perform(key[1], action, content, since)
            except trio.Cancelled:
                if isinstance(action, Post | Edit):
                    board.not_written()  # cut at shutdown: the content may not be on Discord
                raise
            now = self.clock.now()
            report = board.handle(action, outcome, now)
            if report.warning:
                log.warning("%s", report.warning)
            if isinstance(outcome, RateLimited | Failed):
                log.info(
                    "guild %s: %s board: %s answered %r; next try in %.0fs",
                    key[0],
                    key[1].value,
                    type(action).__name__.lower(),
                    outcome,
                    board.retry_at - now,
                )
            if report.save:
                if isinstance(action, Post | Edit):
                    self.writes += 1
                await self._save(board)

    async def _save(self, board: Board) -> None:
        with trio.CancelScope(shield=True):  # what is on Discord now must be remembered
            await self.store.call(board_rows.save_board_sync, self.store, board.checkpoint())

    async def _perform(
        self, kind: BoardKind, action: Action, content: Content | None, since: float | None
    ) -> Outcome:
        match action:
            case Check(channel_id, message_id):
                return await self.poster.check(channel_id, message_id, waiting_since=since)
            case Scan(channel_id):
                return await self.poster.scan(channel_id, kind, waiting_since=since)
            case Delete(channel_id, message_id):
                return await self.poster.delete(channel_id, message_id, waiting_since=since)
            case Post(channel_id, _, nonce):
                assert content is not None
                return await self.poster.post(channel_id, content.embed, nonce, waiting_since=since)
            case Edit(channel_id, message_id):
                assert content is not None
                return await self.poster.edit(channel_id, message_id, content.embed, waiting_since=since)
        raise AssertionError(f"unknown action {action!r}")

    async def _publish_final(self, boards: Boards, request: PublishFinal) -> None:
        if self.clock.now() > request.deadline:
            log.warning("publisher: final boards of guild %s came too late; skipped", request.guild_id)
            return
        for kind in BoardKind:
            board = boards.get((request.guild_id, kind))
            if board is None or not board.enabled:
                continue
            board.mark_dirty(self.clock.now())
            try:
                await self._drive((request.guild_id, kind), board, urgent=True, period=request.period)
            finally:
                board.mark_dirty(
                    self.clock.now()
                )  # after the reset the board starts fresh (once its interval allows)
                self._schedule((request.guild_id, kind), board)

    # -- rendering --------------------------------------------------------------------------------

    async def _render(self, key: tuple[int, BoardKind], now: float, period: int | None) -> Content:
        guild_id, kind = key
        snapshot = self.guilds[guild_id]
        config = self.configs.get(guild_id)
        spec = await self.store.call(self.store.period_spec_sync, guild_id, now)
        if period is None:
            period = spec.index_at(now - self.settle_seconds)

        async def read_page(size: int, offset: int) -> list[queries.Standing]:
            return await self.store.call(queries.top, self.store, guild_id, period, kind, size, offset)

        paging = Paging(TOP, hide_departed=config.hide_departed)
        # Who was in voice at GUILD_CREATE came with a name: none of them is fetched, even before
        # the voice ledger has stored it.
        carried = {s.user_id: s.member_name for s in snapshot.voice_states if s.member_name}
        standings, names = await ranked_members(read_page, self._names, guild_id, paging, seen=carried.get)
        view = board_view(
            kind,
            standings,
            names,
            config,
            guild_name=snapshot.name,
            guild_icon_url=snapshot.icon_url,
            updated_at=now,
            next_reset_at=spec.end_of(period),
        )
        embed = render_board(view)
        return Content(embed, content_hash(view, embed))

    @_names.default
    def _member_names(self) -> MemberNames:
        return MemberNames(self._fetch_member, self._remember, self.clock)

    async def _fetch_member(self, guild_id: int, user_id: int) -> MemberOutcome:
        return await self.poster.fetch_member(guild_id, user_id)

    async def _remember(self, learned: Learned) -> None:
        """Store fetched names (the store refuses one learned before its member was forgotten)."""
        await self.store.call(self.store.remember_names_sync, learned)
