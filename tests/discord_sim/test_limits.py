"""Discord's message limits, as pure checks (no network): each boundary passes, one more fails."""

from __future__ import annotations

from typing import Any

import pytest

from discord_sim.errors import ApiError
from discord_sim.limits import check_message


def refused(body: dict[str, Any], **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as error:
        check_message(body, **kwargs)
    return error.value


def field(n: int) -> dict[str, Any]:
    return {"name": f"n{n}", "value": "v"}


@pytest.mark.parametrize(
    ("key", "limit", "path"),
    [
        ("title", 256, ("embeds", "0", "title")),
        ("description", 4096, ("embeds", "0", "description")),
    ],
)
def test_embed_text_limits(key: str, limit: int, path: tuple[str, ...]) -> None:
    check_message({"embeds": [{key: "x" * limit}]})
    error = refused({"embeds": [{key: "x" * (limit + 1)}]})
    node = error.errors
    for step in path:
        node = node[step]
    assert (error.status, error.code, error.message) == (400, 50035, "Invalid Form Body")
    assert node == {
        "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]
    }


def test_field_footer_and_author_limits() -> None:
    ok = {
        "fields": [{"name": "n" * 256, "value": "v" * 1024}],
        "footer": {"text": "f" * 2048},
        "author": {"name": "a" * 256},
    }
    check_message({"embeds": [ok]})
    error = refused(
        {
            "embeds": [
                {
                    "fields": [{"name": "n" * 257, "value": "v" * 1025}, {"name": "", "value": "v"}],
                    "footer": {"text": "f" * 2049},
                    "author": {"name": "a" * 257},
                }
            ]
        }
    )
    embed = error.errors["embeds"]["0"]
    assert set(embed["fields"]["0"]) == {"name", "value"}
    assert embed["fields"]["1"]["name"]["_errors"][0]["code"] == "BASE_TYPE_REQUIRED"
    assert set(embed) == {"fields", "footer", "author"}


def test_counts_of_fields_embeds_and_content() -> None:
    check_message({"embeds": [{"fields": [field(i) for i in range(25)]}]})
    assert "fields" in refused({"embeds": [{"fields": [field(i) for i in range(26)]}]}).errors["embeds"]["0"]
    check_message({"embeds": [{"title": "t"}] * 10})
    assert refused({"embeds": [{"title": "t"}] * 11}).errors["embeds"]["_errors"][0]["message"] == (
        "Must be 10 or fewer in length."
    )
    check_message({"content": "c" * 2000})
    assert "content" in refused({"content": "c" * 2001}).errors


def test_6000_characters_across_all_embeds_of_a_message() -> None:
    check_message({"embeds": [{"description": "d" * 3000}, {"description": "d" * 2990, "title": "t" * 10}]})
    error = refused({"embeds": [{"description": "d" * 3000}, {"description": "d" * 2991, "title": "t" * 10}]})
    assert error.errors["embeds"]["1"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"


def test_empty_messages_bad_urls_and_colors() -> None:
    assert (refused({"content": ""}).code, refused({}).code) == (50006, 50006)
    check_message({"content": ""}, existing={"embeds": [{"title": "kept"}]})  # edit keeps the embed
    check_message({}, files=1)
    error = refused({"embeds": [{"url": "not a url", "color": 0x1000000, "image": {"url": "ftp://x"}}]})
    assert set(error.errors["embeds"]["0"]) == {"url", "color", "image"}


def test_component_limits() -> None:
    button = {"type": 2, "style": 1, "label": "Refresh", "custom_id": "refresh"}
    check_message({"components": [{"type": 1, "components": [button] * 5}] * 5})
    error = refused(
        {
            "components": [
                {"type": 1, "components": [button] * 6},
                {"type": 1, "components": [{"type": 2, "style": 1, "label": "l" * 81}]},
            ]
        }
    )
    assert "components" in error.errors["components"]["0"]
    assert set(error.errors["components"]["1"]["components"]["0"]) == {"custom_id", "label"}
