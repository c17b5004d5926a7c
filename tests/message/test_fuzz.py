"""parse_message never raises: random bytes, truncations and mutations of real messages."""

from __future__ import annotations

import json
import random

from jmap.message import MessageReader, parse_message
from tests.corpus import require_corpus


def _check(raw: bytes) -> None:
    model = parse_message(raw)
    json.dumps(model)
    assert model["size"] == len(raw)
    assert len(model["preview"]) <= 256
    reader = MessageReader(raw)
    for pid in model["textBody"][:3]:
        reader.body_value(pid, max_bytes=50)


def test_random_bytes():
    rng = random.Random(8621)
    alphabet = b'\r\n:;=?"<>()-_ \tabcBQ=@,\x00\xff\xc3\xa9' + bytes(range(256))
    for _ in range(300):
        n = rng.randrange(0, 600)
        raw = bytes(rng.choice(alphabet) for _ in range(n))
        _check(raw)


def test_structured_garbage():
    samples = [
        b"",
        b"\r\n",
        b"\n\n\n",
        b":",
        b"From \r\n",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--",
        b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\n--a\r\n--a--',
        b"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a--\r\n",
        b'Content-Type: text/plain; charset="\r\nContent-Transfer-Encoding: base64\r\n\r\n====',
        b"Content-Type: text/plain; charset*=''%ZZ\r\n\r\nx",
        b"Content-Disposition: attachment; filename*0*=utf-8''%E2; filename*1*=%82\r\n\r\n",
        b"Subject: =?utf-8?B?====?= =?utf-8?Q?=ZZ?= =??=\r\n\r\n",
        b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n\r\n",
        b'From: <<<<@@@>>>"""(((\r\nTo: ,,,;;;:::\r\n\r\n',
        b"Content-Type: text/plain; charset=utf-7\r\n\r\n+2D3-+AAA-+///",
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n",
        b"Received: ; \r\nReceived: from x; garbage\r\n\r\n",
        b"X" * 10000 + b": y\r\n\r\n",
        b"Subject: " + b"=?utf-8?q?a?= " * 2000 + b"\r\n\r\n",
    ]
    for raw in samples:
        _check(raw)


def test_truncated_and_mutated_corpus_messages():
    rng = random.Random(5322)
    for seed in [p.read_bytes() for p in require_corpus()[::7]]:
        for cut in (1, len(seed) // 3, len(seed) // 2, len(seed) - 1):
            _check(seed[:cut])
        for _ in range(4):
            data = bytearray(seed)
            for _ in range(rng.randrange(1, 20)):
                pos = rng.randrange(len(data)) if data else 0
                op = rng.randrange(3)
                if op == 0 and data:
                    data[pos] = rng.randrange(256)
                elif op == 1:
                    data[pos:pos] = rng.choice([b"\r\n", b"--", b"=?", b"\x00", b"\r\n\r\n"])
                elif data:
                    del data[pos : pos + rng.randrange(1, 50)]
            _check(bytes(data))


def test_many_parts_are_capped():
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(5000))
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + body + b"--b--\r\n"
    model = parse_message(raw)
    assert len(model["bodyStructure"]["subParts"]) < 5000
