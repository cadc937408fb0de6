#!/usr/bin/env python3
"""Writes the seed corpus fuzz/seeds/<target>/ from the project's golden vectors.

    python3 fuzz/seeds/generate.py        (from anywhere; rewrites every seed directory)

Sources: the string literals of the golden tables in the crates' tests (Socket.IO and
Engine.IO packets and payloads, msgpack packets, origin entries), the Redis adapter vectors
recorded from Node (crates/portico-redis/tests/golden_data/mod.rs), plus a few hand-written
frames for the formats whose tables hold no raw bytes (WebSocket frames, RESP replies). Each
seed is written in the input layout its target reads (see the doc comment of each target),
named by the SHA-1 of its content as libFuzzer names corpus files. Keep the total small:
the seeds are committed and every CI run reads them.
"""

import hashlib
import json
import os
import re
import shutil
import struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
MAX_SEED = 4096  # scripts/fuzz's default -max_len


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


# --- Rust string literals ------------------------------------------------------------------------

LITERAL = re.compile(
    r'(?P<b>b?)(?:r(?P<hashes>#*)"(?P<raw>.*?)"(?P=hashes)|"(?P<text>(?:[^"\\]|\\.)*)")', re.S
)


def unescape(text, is_bytes):
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = text[i + 1]
        i += 2
        if e in "nrt0\\\"'":
            out += {"n": b"\n", "r": b"\r", "t": b"\t", "0": b"\0", "\\": b"\\", '"': b'"', "'": b"'"}[e]
        elif e == "x":
            v = int(text[i : i + 2], 16)
            out += bytes([v]) if is_bytes else chr(v).encode("utf-8")
            i += 2
        elif e == "u":
            end = text.index("}", i)
            out += chr(int(text[i + 1 : end], 16)).encode("utf-8")
            i = end + 1
        elif e == "\n":  # line continuation: skip the newline and the indentation
            while i < len(text) and text[i] in " \t\n":
                i += 1
        else:
            out += ("\\" + e).encode("utf-8")
    return bytes(out)


def literals(path):
    """Every string and byte-string literal of a Rust file, as bytes (comments skipped)."""
    source = re.sub(r"^\s*//.*$", "", read(path), flags=re.M)
    for m in LITERAL.finditer(source):
        is_bytes = m.group("b") == "b"
        if m.group("raw") is not None:
            yield m.group("raw").encode("utf-8")
        else:
            yield unescape(m.group("text"), is_bytes)


# --- a small msgpack encoder (the shapes socket.io-msgpack-parser writes) -------------------------


def mp(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack(">b", v)
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        if 0 <= v < 2**64:
            return b"\xcf" + struct.pack(">Q", v)
        if -(2**63) <= v < 0:
            return b"\xd3" + struct.pack(">q", v)
        return mp(float(v))
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, (bytes, bytearray)):
        return b"\xc4" + bytes([len(v)]) + bytes(v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return (b"\xd9" + bytes([len(b)]) if len(b) < 256 else b"\xda" + struct.pack(">H", len(b))) + b
    if isinstance(v, list):
        return (bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + struct.pack(">H", len(v))) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return (bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + struct.pack(">H", len(v))) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


# --- Socket.IO packet texts -> structures ---------------------------------------------------------

SIO = re.compile(rb"^(?P<type>[0-6])(?:(?P<att>\d+)-)?(?P<nsp>/[^,]*,?)?(?P<id>\d+)?(?P<json>.*)$", re.S)


def sio_parts(text):
    """(type, attachments, nsp, id, data) of a valid-looking packet text, else None."""
    m = SIO.match(text)
    if not m:
        return None
    data = None
    if m.group("json"):
        try:
            data = json.loads(m.group("json"))
        except ValueError:
            return None
    nsp = (m.group("nsp") or b"/").rstrip(b",").decode("utf-8", "replace")
    pid = int(m.group("id")) if m.group("id") else None
    return int(m.group("type")), int(m.group("att") or 0), nsp, pid, data


def with_binary(v, bins):
    """Placeholders replaced by the given attachments (for msgpack's inline binary)."""
    if isinstance(v, dict) and v.get("_placeholder") is True and isinstance(v.get("num"), int):
        n = v["num"]
        return bins[n] if 0 <= n < len(bins) else v
    if isinstance(v, list):
        return [with_binary(x, bins) for x in v]
    if isinstance(v, dict):
        return {k: with_binary(x, bins) for k, x in v.items()}
    return v


def sio_msgpack(text):
    parts = sio_parts(text)
    if parts is None:
        return None
    kind, att, nsp, pid, data = parts
    bins = [bytes([i, 0xFF, i]) for i in range(min(att, 16))]
    packet = {"type": {5: 2, 6: 3}.get(kind, kind), "nsp": nsp}
    if data is not None:
        packet["data"] = with_binary(data, bins)
    if pid is not None:
        packet["id"] = pid
    return mp(packet)


def record(binary, data):
    return bytes([1 if binary else 0]) + struct.pack(">H", len(data)) + data


# --- collect -------------------------------------------------------------------------------------

seeds = {}


def add(target, data):
    if 0 < len(data) <= MAX_SEED:
        seeds.setdefault(target, set()).add(bytes(data))


PROTO = "crates/portico-proto/src"
sio_texts = set()
for path in [f"{PROTO}/sio/packet_tests.rs", f"{PROTO}/sio/connection_tests.rs", f"{PROTO}/sio/binary.rs",
             f"{PROTO}/sio/packet.rs"]:
    for lit in literals(path):
        if re.match(rb"^[0-6]", lit) and len(lit) < 512:
            sio_texts.add(lit)

engine_texts = {b"0" + json.dumps({"sid": "lv_VI97HAXpY6yYWAAAC", "upgrades": ["websocket"], "pingInterval": 25000,
                                   "pingTimeout": 20000, "maxPayload": 1000000}, separators=(",", ":")).encode(),
                b"1", b"2", b"2probe", b"3", b"3probe", b"4hello", "4€".encode(), b"5", b"6"}
for path in [f"{PROTO}/engine/packet.rs", f"{PROTO}/engine/payload.rs", f"{PROTO}/engine/handshake.rs"]:
    for lit in literals(path):
        if re.match(rb"^[0-6b]", lit) and len(lit) < 512:
            engine_texts.add(lit)

# Engine.IO packets: engine texts, and Socket.IO texts inside a message.
for t in engine_texts:
    add("engine_packet", t)
for t in sio_texts:
    add("engine_packet", b"4" + t)
add("engine_packet", b"\x04\x01\x02\x03")

# Engine.IO v4 payloads: the table's payloads, and packets joined by \x1e.
for lit in literals(f"{PROTO}/engine/payload.rs"):
    if re.match(rb"^[0-6b]", lit):
        add("engine_payload_v4", lit)
texts = sorted(engine_texts)
for i in range(0, len(texts), 3):
    add("engine_payload_v4", b"\x1e".join(texts[i : i + 3]))
add("engine_payload_v4", b"4hello\x1ebAQIDBA==\x1e" + b"4" + sorted(sio_texts)[0])


# Engine.IO v3 payloads: the table's payloads, and both framings of a few packets.
def utf16_len(b):
    return len(b.decode("utf-8", "replace").encode("utf-16-le")) // 2


for lit in literals(f"{PROTO}/engine/payload_v3_tests.rs"):
    if re.match(rb"^(\d+:|[\x00\x01])", lit):
        add("engine_payload_v3", lit)
for group in [[b"4hello", "4€".encode()], [b"2probe", b"6"], [b"42[\"a\",1]", b"b4AQID"]]:
    add("engine_payload_v3", b"".join(str(utf16_len(p)).encode() + b":" + p for p in group))
    add("engine_payload_v3", b"".join(b"\x00" + bytes(int(d) for d in str(len(p))) + b"\xff" + p for p in group))
add("engine_payload_v3", b"\x01\x04\xff\x04\x01\x02\x03")

# Socket.IO packets: every text of the golden tables (valid and invalid).
for t in sio_texts:
    add("sio_packet", t)

# msgpack: the golden texts as socket.io-msgpack-parser writes them, and the byte literals of
# the msgpack tests.
for t in sio_texts:
    b = sio_msgpack(t)
    if b is not None:
        add("sio_msgpack", b)
for lit in literals(f"{PROTO}/sio/msgpack.rs"):
    if lit[:1] and lit[0] in (0x81, 0x82, 0x83, 0x84, 0x92, 0xC1, 0xDD):
        add("sio_msgpack", lit)

# The Connection: config byte (bit 0 client, bit 1 v4, bit 2 msgpack), then records. Each
# golden text for both roles and versions, binary packets followed by their attachments, and
# a few whole conversations.
for t in sio_texts:
    parts = sio_parts(t)
    att = min(parts[1], 16) if parts else 0
    recs = record(False, t) + b"".join(record(True, bytes([i, 0xFF, i])) for i in range(att))
    # v4 differs in CONNECT and its answers only.
    v4 = t[:1] in (b"0", b"4")
    for cfg in (0, 1, 2, 3) if v4 else (0, 1):
        add("sio_connection", bytes([cfg]) + recs)
    b = sio_msgpack(t)
    if b is not None:
        add("sio_connection", bytes([5 if v4 else 4]) + record(True, b))
conversation = [b"0", b'0/admin,{"token":"x"}', b'2["chat","hi",1]', b'52-["up",{"_placeholder":true,"num":0},'
                b'{"_placeholder":true,"num":1}]', None, None, b"31[true]", b"1/admin,"]
recs = b""
for i, t in enumerate(conversation):
    recs += record(t is None, t if t is not None else bytes([i]))
add("sio_connection", b"\x00" + recs)
add("sio_connection", b"\x02" + record(False, b"0/admin?token=abc&x=%20y+z,") + record(False, b'2["a"]'))
add("sio_connection", b"\x03" + record(False, b'4"Not authorized"') + record(False, b"40/admin,"))

# WebSocket frames: byte 0 (low 3 bits: how many cut points follow), the cut points, then the
# stream. Client frames are masked, server frames are not.
MASK = b"\x37\xfa\x21\x3d"


def ws_frame(opcode, payload, masked, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if masked:
        payload = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
        head += MASK
    return head + payload


for masked in (True, False):
    stream = (ws_frame(1, b"2probe", masked) + ws_frame(1, b'42["hello"]', masked) + ws_frame(2, b"\x01\x02\x03", masked)
              + ws_frame(9, b"ping", masked) + ws_frame(1, b"4frag", masked, fin=False) + ws_frame(0, b"mented", masked)
              + ws_frame(1, b"x" * 200, masked) + ws_frame(8, b"\x03\xe8bye", masked))
    add("ws_reader", b"\x00" + stream)
    add("ws_reader", b"\x03\x01\x05\x0c" + stream)
    add("ws_reader", b"\x00" + ws_frame(1, "4€".encode(), masked))

# RESP2 replies, as Redis sends them to the publisher and the subscriber.
golden = read("crates/portico-redis/tests/golden_data/mod.rs")
VECTOR = re.compile(r'\(\s*r#"(.*?)"#,\s*r#"(.*?)"#,\s*"(json|msgpack)",\s*r#"(.*?)"#,\s*\)', re.S)
redis_payloads = []
for _what, channel, fmt, payload in VECTOR.findall(golden):
    data = bytes.fromhex(payload) if fmt == "msgpack" else payload.encode("utf-8")
    redis_payloads.append((channel.encode(), data))
    add("redis_codec", data)
# Recorded Node traffic, when the captures are at hand (they are not part of the repository):
# PORTICO_CAPTURES, default /work/shared/captures. `hex:` lines are MessagePack payloads,
# `[json] {...}` the JSON ones.
CAPTURES = os.environ.get("PORTICO_CAPTURES", "/work/shared/captures")
for name in ["classic.txt", "sharded.txt", "emitter.txt"]:
    path = os.path.join(CAPTURES, "redis-adapter", name)
    if not os.path.exists(path):
        continue
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*hex: ([0-9a-f]+)\s*$", line)
            if m:
                add("redis_codec", bytes.fromhex(m.group(1)))
            m = re.search(r"\[json\] (\{.*\})\s*$", line)
            if m:
                add("redis_codec", m.group(1).encode("utf-8"))


def bulk(b):
    return b"$" + str(len(b)).encode() + b"\r\n" + b + b"\r\n"


def array(items):
    return b"*" + str(len(items)).encode() + b"\r\n" + b"".join(items)


for r in [b"+OK\r\n", b"-ERR unknown command\r\n", b":1\r\n", b":-1\r\n", b"$-1\r\n", b"*-1\r\n", b"*0\r\n",
          bulk(b"hello"), array([bulk(b"subscribe"), bulk(b"socket.io-request#/#"), b":1\r\n"]),
          array([bulk(b"psubscribe"), bulk(b"socket.io#/#*"), b":2\r\n"]),
          array([bulk(b"socket.io-request#/#"), b":2\r\n"]), array([array([b":1\r\n", bulk(b"x")]), b"+PONG\r\n"])]:
    add("redis_resp", r)
for channel, data in redis_payloads[:12]:
    if channel.startswith(b"socket.io#"):
        add("redis_resp", array([bulk(b"pmessage"), bulk(b"socket.io#/#*"), bulk(channel), bulk(data)]))
    else:
        add("redis_resp", array([bulk(b"message"), bulk(channel), bulk(data)]))
    add("redis_resp", array([bulk(b"smessage"), bulk(channel), bulk(data)]))

# Origins: `Origin \n Host \n entry \n namespace`. Entries from the config-error and policy
# tables; origins from the same tables and from Node's CORS captures.
CORS = "crates/portico-cors"
entries, origins = set(), set()
for path in [f"{CORS}/tests/config_errors.rs", f"{CORS}/tests/policy_table.rs", f"{CORS}/tests/deny_reasons.rs",
             f"{CORS}/src/entry.rs", f"{CORS}/src/origin.rs", f"{CORS}/src/pattern.rs"]:
    for lit in literals(path):
        if len(lit) > 100 or b" \"" in lit or b"\n" in lit:
            continue
        if re.search(rb"://|^null$|^\*|\.com|localhost|^\[", lit):
            entries.add(lit)
        if re.match(rb"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/ ]*$", lit) or lit == b"null":
            origins.add(lit)
path = os.path.join(CAPTURES, "node-cors", "cors-table.txt")
if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
        origins.update(m.encode() for m in re.findall(r"Origin=(\S+)", f.read()))
hosts = [b"localhost:3000", b"app.example.com", b"127.0.0.1:8080", b"[::1]:3000", b""]
entries, origins = sorted(entries), sorted(origins)
for i, e in enumerate(entries):
    o = origins[i % len(origins)]
    add("cors_origin", o + b"\n" + hosts[i % len(hosts)] + b"\n" + e + b"\n/admin")
for i, o in enumerate(origins):
    add("cors_origin", o + b"\n" + hosts[i % len(hosts)])

# --- write ---------------------------------------------------------------------------------------

total = 0
for target, items in sorted(seeds.items()):
    d = os.path.join(SEEDS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in items:
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    size = sum(len(x) for x in items)
    total += size
    print(f"{target:18} {len(items):4} seeds, {size:7} bytes")
print(f"{'total':18} {sum(len(x) for x in seeds.values()):4} seeds, {total:7} bytes")
