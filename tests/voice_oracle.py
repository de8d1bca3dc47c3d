"""An independent statement of the voice-time rule, for checking the real machine against.

Deliberately does not import `actors.voice_machine`: it restates DESIGN.md's "Voice time" rule as
plainly as possible, with no states, no marks and no sequence numbers, only "which stretches of time
count". Presence dicts use the same keys as `Presence`; missing flags mean False.
"""

DEFAULT_POLICY = {"count_deafened": False, "count_muted": True, "count_alone": False}


def counts(presence: dict, policy: dict | None = None) -> bool:
    """Does time count while the user is in this situation?"""
    pol = {**DEFAULT_POLICY, **(policy or {})}
    p = presence
    in_voice = p.get("channel_id") is not None
    usable_channel = not p.get("bot") and not p.get("afk") and not p.get("excluded")
    deafened = bool(p.get("self_deaf") or p.get("deaf"))
    muted = bool(p.get("self_mute") or p.get("mute") or p.get("suppress"))
    alone = not p.get("has_company")
    return (
        in_voice
        and usable_channel
        and (pol["count_deafened"] or not deafened)
        and (pol["count_muted"] or not muted)
        and (pol["count_alone"] or not alone)
    )


def expected_seconds(script: list[tuple[float, dict]], end: float, policy: dict | None = None) -> float:
    """Seconds counted for one user: each presence holds from its time until the next (or `end`)."""
    total = 0.0
    for i, (t, presence) in enumerate(script):
        until = script[i + 1][0] if i + 1 < len(script) else end
        if counts(presence, policy) and until > t:
            total += until - t
    return total
