"""The HTTP floor: a constant-response ASGI app served by the same stack as modelstage.

It reads the request body (as modelstage does) and answers a fixed JSON body of the same shape as a
1-row prediction, so the difference to modelstage is the app's own work per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
_BODY = b'{"price":312345.67}'
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())],
}
_END = {"type": "http.response.body", "body": _BODY}


Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def lifespan(receive: Receive, send: Send) -> None:
    """Start-up and shut-down with nothing to do (also used by `reference_apps`)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Message, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    more = True
    while more:  # consume the body, as a real app must
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    await send(_START)
    await send(_END)
