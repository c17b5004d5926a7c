"""Runs the mongoeco emulator as a MongoDB wire-protocol server on 127.0.0.1:PORT.

Started by the test fixtures with the Python 3.13 of ``.venv-mongoeco`` (mongoeco needs
3.13); mongoeco has no command of its own, so this is its ``main``. Prints ``ready URI``
once listening and serves until killed. Usage: ``python mongoeco_server.py PORT``; the data
lives in memory (the default engine) for the life of the process.
"""

import asyncio
import signal
import sys


async def main(port: int) -> None:
    from mongoeco.wire import AsyncMongoEcoProxyServer

    server = AsyncMongoEcoProxyServer(host="127.0.0.1", port=port)
    address = await server.start()
    print("ready", address.uri, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
