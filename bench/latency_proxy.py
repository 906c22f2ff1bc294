#!/usr/bin/env python3
"""A unix-socket proxy that adds latency, for benchmarks (not part of ctest).

    bench/latency_proxy.py LISTEN_PATH TARGET_PATH [DELAY_MS]

Every connection to LISTEN_PATH is forwarded to TARGET_PATH; each piece of
data is passed on DELAY_MS (default 1) milliseconds after it arrived, in
both directions, in order, without holding up the pieces behind it (a delay
line, not a throttle). A gRPC call thus takes at least 2 * DELAY_MS longer:
one delay for the request, one for the answer. Runs until killed.
"""
import asyncio
import os
import sys


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            queue.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait((0, None))
    try:
        await sender
    except ConnectionError:
        pass


async def main():
    listen, target = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3] if len(sys.argv) > 3 else 1) / 1000

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_unix_connection(target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer, delay),
                             pipe(server_reader, client_writer, delay))

    if os.path.exists(listen):
        os.unlink(listen)
    server = await asyncio.start_unix_server(handle, path=listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
