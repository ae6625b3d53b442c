"""The null sink both shippers deliver to: it counts events and throws them
away. On one port it speaks raw TCP (rsyslog's omfwd: one message per line);
on another the agent's ingest API (zstd or gzip JSON; answers that all were stored).
It writes the running count to a file, so the runner knows when all arrived."""

import asyncio
import sys
import zlib

import zstandard  # bench/run installs it in bench/.venv

counts = {"tcp": 0, "http": 0}


async def tcp(reader, writer):
    while True:
        chunk = await reader.read(1 << 20)
        if not chunk:
            break
        counts["tcp"] += chunk.count(b"\n")


async def http(reader, writer):
    try:
        await serve_http(reader, writer)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


async def serve_http(reader, writer):
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        encoding = b""
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            if name.lower() == b"content-encoding":
                encoding = value.strip().lower()
        body = await reader.readexactly(length)
        if encoding == b"gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == b"zstd":
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        counts["http"] += body.count(b'"kind":"log"')
        answer = b'{"accepted":0,"duplicates":0,"rejected":[]}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(answer)).encode() + b"\r\n\r\n" + answer)
        await writer.drain()


async def report(path):
    while True:
        with open(path, "w") as f:
            f.write(f"{counts['tcp']} {counts['http']}\n")
        await asyncio.sleep(0.2)


async def main():
    tcp_port, http_port, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    await asyncio.start_server(tcp, "127.0.0.1", tcp_port)
    await asyncio.start_server(lambda r, w: http(r, w), "127.0.0.1", http_port)
    await report(count_file)


asyncio.run(main())
