"""kube-proxy's part: a Service port that differs from its target port (KServe's 80 -> 8080).

Service names resolve to the pod's IP (``network``), so a Service port other than the container's
needs a listener on ``<pod IP>:<service port>`` inside the pod's namespace that relays to
``<pod IP>:<target port>`` (what kube-proxy's userspace mode did). The listening socket is made
in the pod's namespace by a thread that enters it with ``setns(2)`` and leaves again; the relay
itself runs on this process's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_CHUNK = 65536


def listen_in_namespace(netns: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket bound to ``host:port`` inside network namespace ``netns``."""

    def make() -> socket.socket:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {netns} failed")
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(128)
                sock.setblocking(False)
                return sock
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the host namespace failed")
        finally:
            os.close(own)
            os.close(target)

    # A fresh thread each time: a thread left in another namespace must never serve anything else.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(make).result()


class ServiceProxy:
    """Relays for every (pod IP, service port) -> (pod IP, target port) pair, on one loop thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="service-proxy", daemon=True)
        self._servers: list[asyncio.base_events.Server] = []
        self._thread.start()

    def add(self, netns: str, pod_ip: str, port: int, target: int) -> None:
        sock = listen_in_namespace(netns, pod_ip, port)

        async def start() -> None:
            async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await _relay(reader, writer, pod_ip, target)

            self._servers.append(await asyncio.start_server(relay, sock=sock))

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=10)

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
    except OSError:
        writer.close()  # like kube-proxy with no ready endpoint: the connection is refused/reset
        return

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(_CHUNK):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()

    await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
