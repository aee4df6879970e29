"""A placeholder FastAGI listener: reads the AGI environment, logs the call and ends the session.

It keeps the bridge's port and wire behaviour honest (Asterisk sees a clean end of the AGI
session and carries on with the dialplan) until the real bridge replaces it.
"""

import asyncio
import logging

logger = logging.getLogger(__name__)

MAX_ENV_BYTES = 64 * 1024
READ_TIMEOUT = 10.0


async def read_environment(reader: asyncio.StreamReader) -> dict[str, str]:
    """Read `agi_name: value` lines up to the blank line that ends the block."""
    env: dict[str, str] = {}
    total = 0
    while True:
        line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
        total += len(line)
        if not line or total > MAX_ENV_BYTES:
            raise ConnectionError("AGI environment ended early or is too large")
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if text == "":
            return env
        name, _sep, value = text.partition(": ")
        env[name] = value


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    try:
        env = await read_environment(reader)
        logger.info("AGI call %s from %s (stub bridge: no IVR yet)", env.get("agi_uniqueid"), env.get("agi_callerid"))
    except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
        logger.warning("AGI session from %s dropped: %s", peer, exc)
    finally:
        writer.close()


async def serve(host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(handle, host, port, limit=8 * 1024)
