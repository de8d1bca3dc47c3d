"""The board schedule without Trio: when a board is written, and what each Discord answer does."""

from __future__ import annotations

import itertools
import random
from collections import deque

import attrs
import pytest
from attrs import evolve

from actors.board_protocol import (
    LOCAL,
    Check,
    Delete,
    Done,
    Edit,
    Failed,
    Found,
    Local,
    MessageMissing,
    Moved,
    NoAccess,
    NoneFound,
    OldMessageQuota,
    Post,
    Posted,
    RateLimited,
    Scan,
    Stored,
    Unblocked,
    UnblockedWithMessage,
)
from actors.board_render import BoardEntry, BoardView, content_hash
from actors.board_schedule import (
    ANSWERS,
    ASKS,
    READ_AFTER_POST,
    RECHECK_INTERVALS,
    TRANSITIONS,
    Board,
    Need,
    Phase,
    board_channels,
)
from domain.checkpoints import BoardCheckpoint, BoardRow
from domain.kinds import BoardKind

INTERVAL = 60.0
GUILD, CHANNEL, OTHER_CHANNEL = 1, 10, 20


class FakeDiscord:
    """Answers each call from a script, else with success (a scan finds none of our boards);
    records (time, action, answer)."""

    def __init__(self, *answers: object) -> None:
        self.script = deque(answers)
        self.calls: list[tuple[float, object, object]] = []
        self._ids = iter(range(1000, 10**9))

    def __call__(self, action: object, now: float) -> object:
        if self.script:
            answer = self.script.popleft()
        else:
            answer = (
                Posted(next(self._ids))
                if isinstance(action, Post)
                else NoneFound()
                if isinstance(action, Scan)
                else Done()
            )
        self.calls.append((now, action, answer))
        return answer

    def of(self, kind: type) -> list[tuple[float, object, object]]:
        return [call for call in self.calls if isinstance(call[1], kind)]


def step(
    board: Board, discord: FakeDiscord, now: float, content: str = "v1", *, urgent: bool = False
) -> list:
    """One round of the publisher's loop for one board, with ``content`` as the rendered hash."""
    reports = []
    for _ in range(6):
        need = board.needs(now, urgent=urgent)
        if need is None:
            break
        action = board.action(need, content if need is Need.CONTENT else None, now)
        if action is None:
            break
        reports.append(board.handle(action, discord(action, now), now))
    return reports


def scanned(board: Board, now: float, answer: object = None) -> None:
    """A page read: it finds none of our boards (unless ``answer`` says otherwise)."""
    scan = board.action(Need.SCAN, None, now)
    assert isinstance(scan, Scan)
    board.handle(scan, answer or NoneFound(), now)  # type: ignore[arg-type]


def read_after_post(board: Board, discord: FakeDiscord, now: float) -> None:
    """The read after a first post (rule 6), made at ``now`` (the publisher makes it in turn)."""
    assert board.phase is Phase.POSTED_UNSCANNED
    scan = board.action(Need.SCAN, None, now)
    board.handle(scan, discord(scan, now), now)  # type: ignore[arg-type]


def live_board(discord: FakeDiscord, now: float = 0.0) -> Board:
    """A board posted at ``now`` whose read after the post found no copy: calls [Post, Scan]."""
    board = Board(GUILD, BoardKind.MESSAGES)
    board.configure(CHANNEL, INTERVAL)
    step(board, discord, now, "v0")
    read_after_post(board, discord, now)
    assert board.phase is Phase.LIVE
    return board


def writes(discord: FakeDiscord) -> list[float]:
    """Times of successful writes (what members see change)."""
    return [
        t
        for t, action, answer in discord.calls
        if isinstance(answer, Posted) or (isinstance(action, Edit) and answer == Done())
    ]


# --- the interval ------------------------------------------------------------------------------------


def test_an_hour_of_5000_changes_per_second_edits_at_most_once_per_interval() -> None:
    """5,000 changes a second for a simulated hour, polled every 10 ms (50 changes between polls, each
    changing the content): one post, then one edit per interval, never two within an interval."""
    discord = FakeDiscord()
    board = Board(GUILD, BoardKind.MESSAGES)
    board.configure(CHANNEL, INTERVAL)
    changes = 0
    for tick in range(360_000):
        now = tick / 100
        changes += 50
        board.mark_dirty()
        step(board, discord, now, content=f"v{changes}")
    assert changes == 5_000 * 3600
    times = writes(discord)
    intervals = 3600 / INTERVAL
    assert intervals - 1 <= len(times) <= intervals  # converges, and never more than one per interval
    assert all(b - a >= INTERVAL for a, b in itertools.pairwise(times))
    assert len(discord.of(Post)) == 1 and len(discord.of(Edit)) == len(times) - 1


def test_marks_between_writes_collapse_into_one_edit() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    for _ in range(10_000):
        board.mark_dirty()
    assert board.needs(30.0) is None  # inside the interval: nothing
    assert board.next_due() == INTERVAL
    step(board, discord, INTERVAL, "v1")
    step(board, discord, INTERVAL + 1, "v1")
    assert len(discord.of(Edit)) == 1


def test_unchanged_content_is_not_edited() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    board.mark_dirty()
    assert board.needs(INTERVAL) is Need.CONTENT
    assert board.action(Need.CONTENT, "v0", INTERVAL) is None  # same hash as on Discord
    assert not board.dirty and board.next_due() == RECHECK_INTERVALS * INTERVAL  # only the re-check
    assert discord.of(Edit) == []


def test_a_change_during_the_call_keeps_the_board_dirty() -> None:
    board = live_board(FakeDiscord())
    board.mark_dirty()
    action = board.action(board.needs(INTERVAL), "v1", INTERVAL)  # type: ignore[arg-type]
    board.mark_dirty()  # totals changed while the edit was in flight
    board.handle(action, Done(), INTERVAL)  # type: ignore[arg-type]
    assert board.dirty and board.next_due() == 2 * INTERVAL


def test_urgent_writes_ignore_the_interval_but_not_unchanged_content() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    board.mark_dirty()
    assert board.needs(5.0) is None
    step(board, discord, 5.0, "final", urgent=True)
    assert [a.content_hash for _, a, _ in discord.of(Edit)] == ["final"]
    board.mark_dirty()
    step(board, discord, 6.0, "final", urgent=True)
    assert len(discord.of(Edit)) == 1


# --- Discord's answers ------------------------------------------------------------------------------


def test_429_waits_retry_after_and_never_less_than_the_interval() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    discord.script.extend([RateLimited(2.0), RateLimited(500.0)])
    board.mark_dirty()
    step(board, discord, 60.0, "v1")  # 429, Retry-After 2 s: wait the interval anyway
    assert board.dirty and board.needs(62.0) is None and board.next_due() == 120.0
    step(board, discord, 120.0, "v1")  # 429, Retry-After 500 s: wait that
    assert board.needs(120.0 + 2 * INTERVAL) is None and board.next_due() == 620.0
    step(board, discord, 620.0, "v1")
    assert [t for t, _, _ in discord.of(Edit)] == [60.0, 120.0, 620.0]
    assert board.content_hash == "v1" and not board.dirty and board.failures == 0


def test_repeated_failures_back_off_doubling_up_to_16_intervals() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    discord.script.extend([Failed("502")] * 8)
    board.mark_dirty()
    now = INTERVAL
    gaps = []
    for _ in range(8):
        step(board, discord, now, "v1")
        due = board.next_due()
        assert due is not None
        gaps.append((due - now) / INTERVAL)
        now = due
    assert gaps == [1, 2, 4, 8, 16, 16, 16, 16]


def test_a_storm_of_random_answers_never_calls_faster_than_the_interval() -> None:
    """An hour of random answers (429 with any Retry-After, 5xx, 404, 30046): write attempts are an
    interval apart, except the post that follows an edit refused with 404 or 30046."""
    rng = random.Random(6)
    answers = [
        RateLimited(rng.choice([0.5, 3.0, 90.0])),
        Failed("502"),
        MessageMissing(),
        OldMessageQuota(),
        None,
        None,
        None,
    ]
    discord = FakeDiscord()
    board = live_board(discord)
    for tick in range(36_000):
        now = tick / 10
        board.mark_dirty()
        pick = rng.choice(answers)
        if pick is not None:
            discord.script.append(pick)
        step(board, discord, now, f"v{tick}")
        discord.script.clear()
    attempts = [(t, a, answer) for t, a, answer in discord.calls if isinstance(a, Post | Edit)]
    assert len(attempts) > 20
    for (t0, _, answer0), (t1, a1, _) in itertools.pairwise(attempts):
        follows_refusal = isinstance(a1, Post) and isinstance(answer0, MessageMissing | OldMessageQuota)
        assert t1 - t0 >= INTERVAL or (follows_refusal and t1 == t0), (t0, t1, answer0)
    times = writes(discord)
    assert all(b - a >= INTERVAL for a, b in itertools.pairwise(times))


def test_30046_posts_a_fresh_message_then_deletes_the_old_one() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    old = board.message_id
    board.mark_dirty()
    discord.script.append(OldMessageQuota())
    reports = step(board, discord, INTERVAL, "v1")
    kinds = [type(a) for _, a, _ in discord.calls[2:]]
    assert kinds == [Edit, Post, Delete]  # fresh message first, so the board never disappears
    assert discord.calls[-1][1] == Delete(CHANNEL, old)  # type: ignore[arg-type]
    assert board.message_id not in (None, old) and board.stale == [] and board.content_hash == "v1"
    assert [r.save for r in reports] == [False, True, True]  # the new message, then the old one gone
    row = board.row()
    assert row is not None and row.message_id == board.message_id and row.posted_at == INTERVAL


def test_a_failed_delete_of_the_old_message_is_retried_later() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    old = board.message_id
    board.mark_dirty()
    discord.script.extend([OldMessageQuota(), Posted(555), RateLimited(1.0)])
    step(board, discord, INTERVAL, "v1")
    assert board.stale == [(CHANNEL, old)] and board.next_due() == 2 * INTERVAL
    step(board, discord, 2 * INTERVAL, "v1")
    assert board.stale == [] and discord.calls[-1][1] == Delete(CHANNEL, old)  # type: ignore[arg-type]


def test_404_on_edit_posts_a_new_board() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    board.mark_dirty()
    discord.script.append(MessageMissing())
    step(board, discord, INTERVAL, "v1")
    assert [type(a) for _, a, _ in discord.calls] == [Post, Scan, Edit, Post]  # post, look later
    assert board.phase is Phase.POSTED_UNSCANNED
    assert board.message_id == discord.calls[-1][2].message_id  # type: ignore[attr-defined]
    step(board, discord, INTERVAL + READ_AFTER_POST, "v1")
    assert [type(a) for _, a, _ in discord.calls[4:]] == [Scan] and board.phase is Phase.LIVE


def test_restart_checks_the_stored_message_and_edits_it_without_reposting() -> None:
    row = BoardRow(GUILD, BoardKind.VOICE, CHANNEL, 77, "v0", posted_at=0.0, edited_at=100.0)
    discord = FakeDiscord()
    board = Board.from_row(row)
    board.configure(CHANNEL, INTERVAL)
    step(board, discord, 130.0, "v0")  # the stored message exists, and has no copies
    assert [a for _, a, _ in discord.calls] == [Check(CHANNEL, 77), Scan(CHANNEL)]
    assert board.phase is Phase.LIVE
    assert board.next_due() == 160.0  # the interval counts from the last write before the restart
    step(board, discord, 160.0, "v0")  # rendered the same as before the restart: nothing to write
    assert len(discord.calls) == 2 and not board.dirty
    board.mark_dirty()
    step(board, discord, 161.0, "v1")
    assert discord.calls[-1][1] == Edit(CHANNEL, 77, "v1")
    assert discord.of(Post) == []


def test_restart_after_the_board_was_deleted_reposts_once_its_interval_allows() -> None:
    row = BoardRow(GUILD, BoardKind.MESSAGES, CHANNEL, 77, "v0", posted_at=0.0, edited_at=100.0)
    discord = FakeDiscord(MessageMissing())
    board = Board.from_row(row)
    board.configure(CHANNEL, INTERVAL)
    step(board, discord, 130.0)
    assert board.phase is Phase.UNPOSTED and discord.of(Post) == [] and discord.of(Scan) == []
    step(board, discord, 160.0)
    assert len(discord.of(Post)) == 1 and board.phase is Phase.POSTED_UNSCANNED


def test_a_stored_board_of_an_unseen_guild_stays_quiet() -> None:
    board = Board.from_row(BoardRow(GUILD, BoardKind.MESSAGES, CHANNEL, 77, "v0", 0.0, 0.0))
    assert board.needs(1e9) is None and board.next_due() is None


@pytest.mark.parametrize("code", [10003, 50001, 50013])
def test_missing_channel_or_permission_warns_once_and_stops_until_config_or_snapshot(code: int) -> None:
    discord = FakeDiscord(NoAccess(code, "missing"))
    board = Board(GUILD, BoardKind.MESSAGES)
    board.configure(CHANNEL, INTERVAL)
    reports = step(board, discord, 0.0)
    assert board.phase is Phase.BLOCKED
    assert [r.warning is not None for r in reports] == [True]
    assert f"channel {CHANNEL}" in reports[0].warning and str(code) in reports[0].warning
    for t in range(0, 86_400, 60):
        board.mark_dirty()
        board.configure(CHANNEL, INTERVAL)  # the same config, read again every round
        assert step(board, discord, float(t)) == []
    assert board.next_due() is None and len(discord.calls) == 1
    board.unblock()  # the guild was seen again
    step(board, discord, 86_400.0)
    assert board.phase is Phase.POSTED_UNSCANNED and [type(a) for _, a, _ in discord.calls[1:]] == [Post]


def test_a_new_channel_unblocks_and_moves_the_board() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    old = board.message_id
    board.configure(OTHER_CHANNEL, INTERVAL)
    assert board.needs(1.0) is None  # a move is a write too: once the interval allows
    step(board, discord, INTERVAL)
    post, delete = (a for _, a, _ in discord.calls[2:])
    assert isinstance(post, Post) and (post.channel_id, post.content_hash) == (OTHER_CHANNEL, "v1")
    assert delete == Delete(CHANNEL, old)
    assert board.channel_id == OTHER_CHANNEL
    step(board, discord, INTERVAL + READ_AFTER_POST)  # then the new channel is read for copies
    assert [a for _, a, _ in discord.calls[4:]] == [Scan(OTHER_CHANNEL)] and board.phase is Phase.LIVE


def test_an_unconfigured_board_is_left_alone() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    board.configure(None, INTERVAL)
    board.mark_dirty()
    assert board.needs(1e9) is None and board.next_due() is None
    board.configure(CHANNEL, INTERVAL)  # back: the same message is edited again
    step(board, discord, INTERVAL, "v1")
    assert discord.calls[-1][1] == Edit(CHANNEL, board.message_id, "v1")  # type: ignore[arg-type]


# --- pure helpers -----------------------------------------------------------------------------------


def test_board_channels_only_accepts_the_guilds_text_channels() -> None:
    channels, problems = board_channels(
        {BoardKind.MESSAGES: CHANNEL, BoardKind.VOICE: 999}, frozenset({CHANNEL})
    )
    assert channels == {BoardKind.MESSAGES: CHANNEL, BoardKind.VOICE: None}
    assert problems == ("voice board channel 999 is not a text channel of this server",)
    assert board_channels({BoardKind.MESSAGES: None}, frozenset()) == ({BoardKind.MESSAGES: None}, ())


def test_content_hash_ignores_the_update_time_but_not_the_standings() -> None:
    view = BoardView(BoardKind.MESSAGES, (BoardEntry(1, "Ada", 5),), "G", None, 1_000.0, 2_000_000.0)
    assert content_hash(view) == content_hash(evolve(view, updated_at=9_999.0))
    assert content_hash(view) != content_hash(evolve(view, entries=(BoardEntry(1, "Ada", 6),)))
    assert content_hash(view) != content_hash(evolve(view, next_reset_at=3_000_000.0))


def test_a_post_retried_after_a_lost_answer_reuses_its_nonce_and_the_next_post_does_not() -> None:
    """Discord dedupes posts by nonce (enforce_nonce), so a retry must send the same one."""
    board = Board(GUILD, BoardKind.MESSAGES)
    board.configure(CHANNEL, INTERVAL)
    first = board.action(Need.CONTENT, "v1", 0.0)
    board.handle(first, Failed("no answer within 60s"), 0.0)  # type: ignore[arg-type]
    later = board.retry_at
    # The post may have been made: it is made again with its nonce (Discord answers with the first
    # within its window), and the read after the post deletes a copy made past the window.
    assert board.needs(later) is Need.CONTENT
    retry = board.action(board.needs(later), "v2", later)  # type: ignore[arg-type]
    assert isinstance(first, Post) and isinstance(retry, Post)
    assert retry.nonce == first.nonce and len(first.nonce) <= 25
    board.handle(retry, Posted(7), later)
    assert board.phase is Phase.POSTED_UNSCANNED and board.needs(later + READ_AFTER_POST) is Need.SCAN
    board.handle(Edit(CHANNEL, 7, "v2"), MessageMissing(), later + 1)  # a moderator deleted it
    again = board.action(Need.CONTENT, "v3", later + 1)
    assert isinstance(again, Post) and again.nonce != first.nonce


def test_a_board_restored_mid_replacement_posts_with_its_nonce_then_deletes_the_old_message() -> None:
    """Killed after a 30046 while the fresh post was in flight: the database holds the old row,
    the old message as stale and the post's nonce; the restart finishes the job with that nonce."""
    board = live_board(FakeDiscord())
    old_row = board.row()
    board.mark_dirty()
    board.handle(Edit(CHANNEL, board.message_id, "v1"), OldMessageQuota(), INTERVAL)  # type: ignore[arg-type]
    post = board.action(Need.CONTENT, "v1", INTERVAL)
    checkpoint = board.checkpoint()  # what the publisher stores before posting; the old row stays
    assert isinstance(post, Post) and checkpoint.pending_post == (CHANNEL, post.nonce)
    assert (
        checkpoint.row is None
        and old_row is not None
        and checkpoint.stale == ((CHANNEL, old_row.message_id),)
    )
    restored = Board.restore(evolve(checkpoint, row=old_row))
    restored.configure(CHANNEL, INTERVAL)
    assert restored.phase is Phase.UNPOSTED
    again = restored.action(restored.needs(2 * INTERVAL), "v2", 2 * INTERVAL)  # type: ignore[arg-type]
    assert isinstance(again, Post) and again.nonce == post.nonce
    restored.handle(again, Posted(5_000), 2 * INTERVAL)
    assert restored.needs(2 * INTERVAL) is Need.DELETE and restored.checkpoint().pending_post is None
    # Were the read after the post made first, it would not adopt the old one (being deleted).
    scanned(restored, 2 * INTERVAL + READ_AFTER_POST, Found((5_000, old_row.message_id)))
    assert restored.message_id == 5_000 and restored.phase is Phase.LIVE
    assert restored.stale == [(CHANNEL, old_row.message_id)]


def test_a_first_post_in_flight_at_a_kill_is_made_again_with_its_nonce() -> None:
    board = Board(GUILD, BoardKind.VOICE)
    board.configure(CHANNEL, INTERVAL)
    post = board.action(Need.CONTENT, "v0", 0.0)
    restored = Board.restore(board.checkpoint())
    restored.configure(CHANNEL, INTERVAL)
    again = restored.action(restored.needs(1.0), "v0", 1.0)  # type: ignore[arg-type]
    assert isinstance(post, Post) and isinstance(again, Post) and again.nonce == post.nonce


# --- the transition table ----------------------------------------------------------------------------

ACTIONS = {
    Check: Check(CHANNEL, 77),
    Scan: Scan(CHANNEL),
    Post: Post(CHANNEL, "v1", "nonce"),
    Edit: Edit(CHANNEL, 77, "v1"),
    Delete: Delete(OTHER_CHANNEL, 5),
    Local: LOCAL,  # the inputs from this side: config, guild, database
}
ANSWERED = {
    Posted: Posted(99),
    Done: Done(),
    MessageMissing: MessageMissing(),
    RateLimited: RateLimited(1.0),
    OldMessageQuota: OldMessageQuota(),
    NoAccess: NoAccess(50001, "missing access"),
    Failed: Failed("502"),
    Found: Found((99,)),
    NoneFound: NoneFound(),
    Stored: Stored(77),
    Moved: Moved(OTHER_CHANNEL),
    Unblocked: Unblocked(),
    UnblockedWithMessage: UnblockedWithMessage(),
}


def board_in(phase: Phase) -> Board:
    has_message = phase is not Phase.UNPOSTED
    board = Board(GUILD, BoardKind.MESSAGES, phase, CHANNEL, 77 if has_message else None, "v0", 0.0, 0.0)
    board.enabled, board.interval, board.stale = True, INTERVAL, [(OTHER_CHANNEL, 5)]
    return board


def test_the_table_answers_every_call_a_phase_makes_with_every_answer_it_can_get() -> None:
    asked = {(p, a, o) for p, actions in ASKS.items() for a in actions for o in ANSWERS[a]}
    assert asked == set(TRANSITIONS)  # complete, and nothing a phase never asks for
    assert set(ASKS) == set(Phase) and set(ANSWERS) == set(ACTIONS)


@pytest.mark.parametrize("phase", list(Phase))
def test_every_phase_action_answer_triple_moves_as_the_table_says_or_is_refused(phase: Phase) -> None:
    for (action_type, action), (outcome_type, outcome) in itertools.product(
        ACTIONS.items(), ANSWERED.items()
    ):
        board = board_in(phase)
        report = board.handle(action, outcome, 100.0)  # type: ignore[arg-type]
        expected = TRANSITIONS.get((phase, action_type, outcome_type))
        if expected is None:  # a missing pair is a poster bug: refused, the board backs off
            assert board.phase is phase and board.retry_at > 100.0, (action, outcome)
            assert report.warning is not None and "unexpected answer" in report.warning
        else:
            assert board.phase is expected, (phase, action, outcome)
            assert (report.warning is not None) == (outcome_type is NoAccess), (action, outcome)


def test_a_board_asks_only_for_what_its_phase_may_ask() -> None:
    """A random hour of answers: every call the board makes is one its phase lists in ASKS."""
    rng = random.Random(16)
    board = Board(GUILD, BoardKind.MESSAGES)
    board.configure(CHANNEL, INTERVAL)
    for tick in range(3_600):
        now = float(tick)
        if rng.random() < 0.3:
            board.mark_dirty()
        if rng.random() < 0.01:
            board.configure(rng.choice([CHANNEL, OTHER_CHANNEL]), INTERVAL)
        need = board.needs(now)
        if need is None:
            continue
        action = board.action(need, f"v{tick // 120}", now)
        if action is None:
            continue
        assert type(action) in ASKS[board.phase], (board.phase, action)
        answers = [ANSWERED[o] for o in ANSWERS[type(action)] if o is not NoAccess]
        board.handle(action, rng.choice(answers), now)  # type: ignore[arg-type]


# --- issue 15: a second board after a late restart; a deleted board in a quiet server --------------


def test_a_post_cut_by_a_kill_is_adopted_after_a_restart_later_than_the_nonce_window() -> None:
    """Discord made the post, the kill lost the answer, and the restart comes after the nonce
    window: the scan finds the board, which is adopted and edited instead of posted twice."""
    board = Board(GUILD, BoardKind.MESSAGES)
    board.configure(CHANNEL, INTERVAL)
    post = board.action(Need.CONTENT, "v0", 0.0)  # Discord creates message 500
    assert isinstance(post, Post)
    restored = Board.restore(board.checkpoint())
    restored.configure(CHANNEL, INTERVAL)
    discord = FakeDiscord(Posted(600))  # past the nonce window: a second message
    step(restored, discord, 3_600.0, "v1")
    assert [a for _, a, _ in discord.calls] == [Post(CHANNEL, "v1", post.nonce)]
    assert restored.checkpoint().pending_post is None
    discord.script.append(Found((600, 500)))
    step(restored, discord, 3_600.0 + READ_AFTER_POST, "v1")
    assert [a for _, a, _ in discord.calls[1:]] == [Scan(CHANNEL), Delete(CHANNEL, 500)]
    assert restored.phase is Phase.LIVE and restored.stale == []
    row = restored.row()
    assert row is not None and row.message_id == 600


def test_adopting_a_stored_board_keeps_the_newest_copy_and_deletes_the_others() -> None:
    row = BoardRow(GUILD, BoardKind.MESSAGES, CHANNEL, 77, "v0", posted_at=0.0, edited_at=100.0)
    board = Board.from_row(row)
    board.configure(CHANNEL, INTERVAL)
    discord = FakeDiscord(Done(), Found((90, 80)))  # the stored 77 exists; 80 and 90 are copies
    step(board, discord, 130.0, "v0")
    assert [a for _, a, _ in discord.calls] == [
        Check(CHANNEL, 77),
        Scan(CHANNEL),
        Delete(CHANNEL, 77),
        Delete(CHANNEL, 80),
    ]
    assert board.message_id == 90 and board.stale == [] and board.phase is Phase.LIVE
    assert board.dirty and board.next_due() == 160.0  # what 90 shows is unknown: edited in turn
    step(board, discord, 160.0, "v0")
    assert discord.calls[-1][1] == Edit(CHANNEL, 90, "v0")


def test_a_quiet_board_is_read_back_every_ten_intervals_and_reposted_once_deleted() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    for now in range(0, 1_800, 10):
        step(board, discord, float(now))
    assert [(t, type(a)) for t, a, _ in discord.calls[2:]] == [(600.0, Check), (1_200.0, Check)]
    discord.script.append(MessageMissing())  # a moderator deleted it; nobody is talking
    step(board, discord, 1_800.0)
    assert [type(a) for _, a, _ in discord.calls[4:]] == [Check, Post]
    assert board.phase is Phase.POSTED_UNSCANNED and board.next_due() == 1_800.0 + READ_AFTER_POST
    step(board, discord, 1_800.0 + READ_AFTER_POST)
    assert [type(a) for _, a, _ in discord.calls[6:]] == [Scan]
    assert board.phase is Phase.LIVE and board.next_due() == 1_800.0 + 600.0  # (the read saw none)


def test_a_write_counts_as_the_read_back() -> None:
    discord = FakeDiscord()
    board = live_board(discord)
    board.mark_dirty()
    step(board, discord, 500.0, "v1")  # an edit at 500 s: the board was there then
    assert board.needs(600.0) is None and board.next_due() == 500.0 + 600.0


# --- issue 16: the table is the only source of phase changes ----------------------------------------


def test_the_inputs_from_this_side_move_as_the_table_says() -> None:
    assert TRANSITIONS[(Phase.BLOCKED, Local, Unblocked)] is Phase.UNPOSTED
    assert TRANSITIONS[(Phase.BLOCKED, Local, UnblockedWithMessage)] is Phase.UNCHECKED
    assert all(TRANSITIONS[(p, Local, Moved)] is Phase.UNPOSTED for p in Phase)
    assert TRANSITIONS[(Phase.UNPOSTED, Local, Stored)] is Phase.UNCHECKED
    assert all(TRANSITIONS[(p, Local, Unblocked)] is p for p in Phase if p is not Phase.BLOCKED)


class Recorded(Board):
    """A board that records every phase change with the call it happened in, and whether it came
    through ``handle`` (and so from the table)."""

    changes: list[tuple[str, Phase, Phase, bool]]
    handling: bool

    def __setattr__(self, name: str, value: object) -> None:
        if name == "phase" and hasattr(self, "phase") and value is not self.phase:
            self.changes.append((self.calling, self.phase, value, self.handling))  # type: ignore[arg-type]
        object.__setattr__(self, name, value)

    def handle(self, action, outcome, now):  # type: ignore[no-untyped-def]
        before, self.handling = self.phase, True
        answer = self._unstale(outcome) if isinstance(outcome, Found) else outcome  # as handle reads it
        try:
            report = super().handle(action, outcome, now)
        finally:
            self.handling = False
        key = (before, type(action), type(answer))
        assert self.phase is TRANSITIONS.get(key, before), (key, self.phase)
        return report


def recorded(board: Board | None = None) -> Recorded:
    """A Recorded copy of ``board`` (a fresh one if None), recording from now on."""
    object.__setattr__(copy := Recorded.__new__(Recorded), "changes", [])
    object.__setattr__(copy, "handling", False)
    object.__setattr__(copy, "calling", "")
    base = board or Board(GUILD, BoardKind.MESSAGES)
    for name in attrs.fields_dict(Board):
        object.__setattr__(copy, name, getattr(base, name))
    return copy


def test_every_public_method_changes_the_phase_only_through_the_table() -> None:
    """Random hours driving every public method of boards fresh, restored, blocked and moved: each
    phase change happens inside ``handle`` and is the table's row for the input. ``configure`` to
    another channel, ``unblock`` and ``restore`` used to set the phase themselves."""
    rng = random.Random(16)
    row = BoardRow(GUILD, BoardKind.MESSAGES, CHANNEL, 77, "v0", 0.0, 0.0)
    answers = [ANSWERED[o] for o in (Done, MessageMissing, NoAccess, RateLimited, Failed, OldMessageQuota)]
    total = 0
    for seed in range(20):
        rng.seed(seed)
        board = recorded(
            rng.choice(
                [
                    lambda: None,
                    lambda: Board.from_row(row),
                    lambda: Board.restore(BoardCheckpoint(GUILD, BoardKind.MESSAGES, row, (CHANNEL, "n"))),
                ]
            )()
        )
        board.calling = "configure"
        board.configure(CHANNEL, INTERVAL)
        for tick in range(600):
            now = float(tick)
            roll = rng.random()
            if roll < 0.05:
                board.calling = "configure"
                board.configure(rng.choice([CHANNEL, OTHER_CHANNEL, None]), INTERVAL)
            elif roll < 0.15:
                board.calling = "unblock"
                board.unblock()
            elif roll < 0.4:
                board.calling = "mark_dirty"
                board.mark_dirty()
            if rng.random() < 0.02:  # a restart: the checkpoint restored, the same config read
                board.calling = "restore"
                board = recorded(Board.restore(board.checkpoint()))
                board.configure(CHANNEL, INTERVAL)
            board.calling = "needs"
            need = board.needs(now)
            board.next_due()
            if need is None:
                continue
            board.calling = "action"
            action = board.action(need, f"v{tick // 50}", now)
            if action is None:
                continue
            board.calling = "handle"
            pool = [ANSWERED[o] for o in ANSWERS[type(action)]] + answers
            board.handle(action, rng.choice(pool), now)  # type: ignore[arg-type]
            board.row(), board.checkpoint()
            total += len(board.changes)
            assert all(through_handle for *_, through_handle in board.changes), board.changes
            board.changes.clear()
    assert total > 100


def test_restore_starts_unposted_and_the_table_moves_a_stored_message_to_unchecked() -> None:
    row = BoardRow(GUILD, BoardKind.MESSAGES, CHANNEL, 77, "v0", 0.0, 0.0)
    assert Board.from_row(row).phase is Phase.UNCHECKED
    replaced = Board.restore(BoardCheckpoint(GUILD, BoardKind.MESSAGES, row, None, ((CHANNEL, 77),)))
    assert replaced.phase is Phase.UNPOSTED and replaced.message_id is None
    assert (replaced.channel_id, replaced.content_hash, replaced.last_write_at) == (CHANNEL, "v0", 0.0)
    pending = Board.restore(BoardCheckpoint(GUILD, BoardKind.MESSAGES, None, (OTHER_CHANNEL, "n")))
    assert (pending.phase, pending.channel_id, pending.post_nonce) == (Phase.UNPOSTED, OTHER_CHANNEL, "n")


# --- how long a change has waited ------------------------------------------------------------------


def test_a_change_waits_from_its_first_mark_until_it_is_written() -> None:
    """``waiting_since`` is when the change not yet on Discord began waiting: later marks keep the
    older time, a write clears it, a change during the write starts a new wait, and the board's
    priority is that time (the publisher and the REST budget serve the oldest first)."""
    board = live_board(FakeDiscord())
    assert board.waiting_since is None and board.priority(99.0) == 99.0  # nothing waits: when due
    board.mark_dirty(10.0)
    board.mark_dirty(20.0)
    assert board.waiting_since == 10.0 and board.priority(INTERVAL) == 10.0
    edit = board.action(board.needs(INTERVAL), "v1", INTERVAL)  # type: ignore[arg-type]
    assert board.writing_since == 10.0 and board.waiting_since is None
    board.mark_dirty(61.0)  # totals changed while the edit was in flight
    board.handle(edit, Done(), INTERVAL + 1)  # type: ignore[arg-type]
    assert board.waiting_since == 61.0 and board.writing_since is None


@pytest.mark.parametrize(
    "answer", [RateLimited(5.0), Failed("HTTP 503"), MessageMissing(), NoAccess(50013, "missing permissions")]
)
def test_a_write_that_did_not_land_waits_again_since_its_change_first_did(answer: object) -> None:
    board = live_board(FakeDiscord())
    board.mark_dirty(10.0)
    edit = board.action(board.needs(INTERVAL), "v1", INTERVAL)  # type: ignore[arg-type]
    board.mark_dirty(61.0)
    board.handle(edit, answer, INTERVAL + 1)  # type: ignore[arg-type]
    assert board.dirty and board.waiting_since == 10.0


def test_a_write_cut_short_waits_again_since_its_change_first_did() -> None:
    board = live_board(FakeDiscord())
    board.mark_dirty(10.0)
    board.action(board.needs(INTERVAL), "v1", INTERVAL)  # type: ignore[arg-type]
    board.not_written()  # the publisher: the call was cancelled at shutdown
    assert board.dirty and board.waiting_since == 10.0


def test_the_recheck_floor_spaces_the_read_backs_of_a_quiet_board() -> None:
    board = live_board(FakeDiscord())
    assert board.recheck_at() == RECHECK_INTERVALS * INTERVAL
    board.recheck_floor = 5_000.0  # the publisher: many boards share the re-checks
    assert board.next_due() == board.recheck_at() == 5_000.0
    assert board.needs(4_999.0) is None and board.needs(5_000.0) is Need.CHECK


# --- issue 17, round 2: post first, then look for older copies -------------------------------------


def test_a_board_with_an_older_copy_in_its_channel_posts_then_deletes_the_copy() -> None:
    """A restore from an older backup, or a config moved back: the channel holds an old board of
    ours (message 40) that the store does not know. The board posts at once (no read before), and
    the read after the post keeps the new message and deletes the old copy: one board in the end."""
    discord = FakeDiscord()
    board = Board(GUILD, BoardKind.MESSAGES)
    board.configure(CHANNEL, INTERVAL)
    step(board, discord, 0.0, "v0")
    assert [type(a) for _, a, _ in discord.calls] == [Post]
    new = board.message_id
    assert board.phase is Phase.POSTED_UNSCANNED and board.next_due() == READ_AFTER_POST
    assert board.needs(READ_AFTER_POST - 1) is None  # lower urgency: not before its time
    discord.script.append(Found((new, 40)))  # type: ignore[arg-type]
    step(board, discord, READ_AFTER_POST, "v0")
    assert [a for _, a, _ in discord.calls[1:]] == [Scan(CHANNEL), Delete(CHANNEL, 40)]
    assert board.message_id == new and board.stale == [] and board.phase is Phase.LIVE
    assert board.content_hash == "v0" and not board.dirty  # the new one is kept as it is


def test_the_read_after_a_post_ranks_from_its_due_time_and_the_board_is_edited_meanwhile() -> None:
    discord = FakeDiscord()
    board = Board(GUILD, BoardKind.MESSAGES)
    board.configure(CHANNEL, INTERVAL)
    step(board, discord, 0.0, "v0")
    scan = Scan(CHANNEL)
    assert board.call_since(scan) == READ_AFTER_POST == board.priority(board.next_due())  # type: ignore[arg-type]
    board.mark_dirty(30.0)  # a change before the read: edited at its interval, as a live board
    assert board.needs(INTERVAL) is Need.CONTENT and board.priority(INTERVAL) == 30.0
    step(board, discord, INTERVAL, "v1")
    assert [type(a) for _, a, _ in discord.calls] == [Post, Edit]
    assert board.phase is Phase.POSTED_UNSCANNED and board.next_due() == READ_AFTER_POST
    assert board.last_work_due() is None  # at a stop the read is not waited for


def test_a_kill_between_the_post_and_the_read_ends_with_one_board_after_the_restart() -> None:
    """Posted (row saved), killed before the read after the post; the channel also holds an old
    copy (message 40). The restart confirms the stored message, reads the page, keeps the newest
    and deletes the copy: one board."""
    discord = FakeDiscord()
    board = Board(GUILD, BoardKind.VOICE)
    board.configure(CHANNEL, INTERVAL)
    step(board, discord, 0.0, "v0")
    assert board.phase is Phase.POSTED_UNSCANNED
    restored = Board.restore(board.checkpoint())  # the kill: what the store holds
    restored.configure(CHANNEL, INTERVAL)
    assert restored.phase is Phase.UNCHECKED and restored.message_id == board.message_id
    discord.script.extend([Done(), Found((board.message_id, 40))])  # type: ignore[arg-type]
    step(restored, discord, 5.0, "v0")
    assert [a for _, a, _ in discord.calls[1:]] == [
        Check(CHANNEL, board.message_id),  # type: ignore[arg-type]
        Scan(CHANNEL),
        Delete(CHANNEL, 40),
    ]
    assert restored.phase is Phase.LIVE and restored.message_id == board.message_id and not restored.stale
