"""The streams the portal socket serves (docs/realtime-protocol.md).

Each app registers its streams from ``AppConfig.ready()`` with ``stream_register``: each gives a
snapshot for a user and, when it needs more than the user's own group, the groups to join.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stream:
    """A stream the portal socket serves.

    ``snapshot(user)`` returns the stream's current state, always with ``"version"``.
    ``groups(user)`` names extra groups to join (the user's own group is always joined).
    """

    name: str
    snapshot: Callable[..., dict[str, Any]]
    groups: Callable[..., list[str]] | None = None
    # A keyed stream is one stream per thing (``calendar.<location public id>``): a page follows
    # it by asking for its snapshot; ``snapshot(user, key)`` and ``groups(user, key)`` raise
    # ``NotFound`` for a key the user may not follow. It is not part of the connect snapshot.
    keyed: bool = False


_STREAMS: dict[str, Stream] = {}


def stream_register(
    name: str,
    *,
    snapshot: Callable[..., dict[str, Any]],
    groups: Callable[..., list[str]] | None = None,
    keyed: bool = False,
) -> None:
    """Register a stream once, from an app's ready() (e.g. via its handlers module)."""
    if "." in name:
        raise ValueError("stream names have no dot; keyed streams add '.<key>' on the wire")
    if keyed and groups is None:
        raise ValueError("a keyed stream decides who may follow it in groups(user, key)")
    _STREAMS[name] = Stream(name=name, snapshot=snapshot, groups=groups, keyed=keyed)


def stream_resolve(name: str) -> tuple[Stream, str | None] | None:
    """The registered stream a client's stream name refers to, with its key if keyed."""
    registered = _STREAMS.get(name)
    if registered is not None:
        return None if registered.keyed else (registered, None)
    base, _, key = name.partition(".")
    keyed = _STREAMS.get(base)
    if keyed is None or not keyed.keyed or not key or len(key) > 64:
        return None
    return keyed, key


def streams() -> dict[str, Stream]:
    return dict(_STREAMS)
