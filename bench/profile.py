#!/usr/bin/env python3
"""Instructions per operation, and per part of the request path, from a callgrind file.

Used by bench/profile (which runs the server and the load); on its own:
    bench/profile.py --case polling --unit "HTTP request" --ops 4000 callgrind.out

The parts are functions' inclusive counts (what they and everything they call executed), so a
part includes the parts named under it (indented); the parts do not add up to the total (the
rest is tokio, the kernel interface, and functions not named). A part whose function a build
does not have (another server, a refactor) reads 0.
"""
import argparse
import json
import re
import subprocess
import sys

# (label, [function regexes]): the sum of the largest inclusive count of each function. An
# entry that is a tuple is one function under the names it may have: the first found counts
# (a function the compiler inlined into its caller in one build is read as that caller).
# Portico's read of a request (`portico::serve` answers Engine.IO's requests with its own
# HTTP/1, crates/portico/src/h1.rs; hyper only serves the others).
H1_TAKE = r"portico::h1::take"

PARTS = {
    "polling": [
        ("HTTP/1: read the request (h1::take: httparse, URL, headers)", [H1_TAKE]),
        # Since b9769bc `h1::take` reads the query of a request it may keep as read (a
        # session's polling requests: every request of this load but the handshakes).
        ("  query: parse and lookups", [r"portico::http::Query::parse"]),
        ("HTTP/1: write the answer's head (h1::encode)", [r"portico::h1::encode"]),
        # The handling as `h1` polls it (kept out of line for this reading), or as hyper's
        # path calls it.
        ("Portico: the request (service::handle)", [(r"<portico::h1::OutOfLine<F> as core::future::future::Future>::poll", r"portico::service::handle(_from|_raw)?::\{\{closure\}\}")]),
        ("  session id check", [r"portico::sid::Sid::parse"]),
        # evaluate_into since 2026-12-06 (evaluate calls it; a session's request calls it
        # directly).
        ("  origin guard: evaluate and headers", [(r"portico_cors::evaluate::<impl portico_cors::policy::OriginPolicy>::evaluate_into",
                                                   r"portico_cors::evaluate::<impl portico_cors::policy::OriginPolicy>::evaluate"),
                                                  r"portico_cors::decision::Decision::apply_to"]),
        ("  GET: session lock, payload encoding", [r"portico::engine::polling::begin_get",
                                                   r"portico::engine::polling::take_get"]),
        ("  POST: decode, Socket.IO handler and ack", [r"portico::engine::conn::Conn::deliver"]),
        ("wake-ups: tokio park (epoll) and timers", [r"tokio::runtime::scheduler::current_thread::Context::park"]),
    ],
    "handshake": [
        ("HTTP/1: read the request (h1::take: httparse, URL, headers)", [H1_TAKE]),
        ("Portico: the requests (service::handle)", [(r"<portico::h1::OutOfLine<F> as core::future::future::Future>::poll", r"portico::service::handle(_from|_raw)?::\{\{closure\}\}")]),
        ("  session id generation", [r"portico::sid::Sid::new"]),
        # open_frame, or where fat LTO inlined it, the open packet's JSON that it calls.
        ("  open packet (JSON)", [(r"portico::engine::polling::open_frame",
                                   r"portico_proto::engine::handshake::Handshake::to_open_frame")]),
        ("  WebSocket accept (key, 101, task)", [r"portico::engine::ws::upgrade::accept"]),
        ("  the handshake's request info kept", [r"portico::handshake::detach_headers", r"portico::handshake::ConnInfo::new",
                                                 r"portico::service::conn_info", r"portico::packed_head::PackedHead::of_pairs"]),
        ("Socket.IO connect (namespace, socket, reply)", [r"portico::sio::conn::connect"]),
        ("task spawns", [r"tokio::task::spawn::spawn"]),
        ("wake-ups: tokio park (epoll) and timers", [r"tokio::runtime::scheduler::current_thread::Context::park"]),
    ],
    "echo": [
        ("WebSocket read and frame decoding", [r"portico::engine::ws::stream::WsConn::poll_next"]),
        ("Socket.IO: decode the event", [r"portico_proto::sio::connection::Connection::handle_text"]),
        # run_event, or where fat LTO inlined it (the release profile), its caller: the
        # handler's lookup and its run.
        ("handler: dispatch and run", [(r"portico::handler::run_event", r"portico::socket::Socket::dispatch_event")]),
        ("  ack: encode and queue", [r"portico::ack::Ack::send"]),
        ("WebSocket write", [r"portico::engine::driver::write_all::\{\{closure\}\}",
                             r"portico::engine::driver::look_and_write",
                             r"portico::engine::driver::write_slow::\{\{closure\}\}"]),
        ("wake-ups: tokio park (epoll) and timers", [r"tokio::runtime::scheduler::current_thread::Context::park"]),
    ],
    "broadcast": [
        ("emit to the room (encode once, queue per socket)", [r"portico::broadcast::BroadcastOperator::emit"]),
        ("  queue one frame on a socket (session lock, wake)", [r"portico::engine::conn::Conn::send"]),
        ("WebSocket write", [r"portico::engine::driver::write_all::\{\{closure\}\}",
                             r"portico::engine::driver::look_and_write",
                             r"portico::engine::driver::write_slow::\{\{closure\}\}"]),
        ("  drain the session queue", [r"portico_proto::engine::session::Session::drain_transmit"]),
        ("wake-ups: tokio park (epoll) and timers", [r"tokio::runtime::scheduler::current_thread::Context::park"]),
    ],
}
PARTS["connect-websocket"] = PARTS["connect-upgrade"] = PARTS["handshake"]

ALLOC_GLIBC = [r"malloc", r"free", r"realloc", r"posix_memalign"]
# Rust's allocator entry points, or, where fat LTO inlined them into their callers (the release
# profile), mimalloc's own (what the `mimalloc` crate's GlobalAlloc calls).
ALLOC_RUST = [(r"__rustc::__rust_alloc", r"mi_malloc_aligned"), (r"__rustc::__rust_dealloc", r"mi_free"),
              (r"__rustc::__rust_realloc", r"mi_realloc_aligned"), (r"__rustc::__rust_alloc_zeroed", r"mi_zalloc_aligned")]


def rows_of(path):
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", "--show=Ir",
         path],
        capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$", line)
        if m:
            name = m.group(2)
            func = name.split(":", 1)[1] if ":" in name else name
            func = re.sub(r" \[[^\]]*\]$", "", func).strip()
            rows.append((int(m.group(1).replace(",", "")), name, func))
    return rows


def cache_misses(path):
    """The simulated cache misses of the whole dump, by event name, or None when callgrind ran
    without --cache-sim (its file then counts instructions only)."""
    events, totals = None, None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith(("summary:", "totals:")) and totals is None:
                totals = [int(x) for x in line.split()[1:]]
    if not events or not totals or "I1mr" not in events:
        return None
    return dict(zip(events, totals + [0] * (len(events) - len(totals))))


# A line of code counts in the footprint when it ran at least this many times per operation:
# the path every operation takes (a polling request is a GET or a POST: each half runs in half
# of them), not a rare path that ran a few times in the whole load. The figure hardly moves
# with it (polling, 2026-12-06: 1,106 lines at 0.05, 1,098 at 0.2, 1,075 at 0.4).
FOOTPRINT_SHARE = 0.2
LINE = 64


def footprint(path, ops):
    """The code an operation runs through: the distinct 64-byte lines of code (the unit of the
    instruction cache) holding an instruction that ran at least FOOTPRINT_SHARE times per
    operation, and those lines by function ({name: lines}; a line that holds hot
    instructions of two functions counts for each), or None when callgrind did not dump
    instruction addresses (--dump-instr=yes)."""
    counts, owner, names = {}, {}, {}
    positions, address, after_call, function = None, 0, False, None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if positions is None:
                    return None
                field = line.split(None, 1)[0]
                # Addresses are absolute (0x...), relative to the last one (+n, -n, decimal),
                # or the same (*).
                if field.startswith("0x"):
                    address = int(field, 16)
                elif c in "+-":
                    address += int(field)
                elif c != "*":
                    address = int(field)
                # The cost line after `calls=` is the callee's, at the call's address: the
                # call instruction itself is counted on its own line too.
                if after_call:
                    after_call = False
                    continue
                counts[address] = counts.get(address, 0) + int(line.split()[-1])
                owner[address] = function
            elif line.startswith("calls="):
                after_call = True
            elif line.startswith(("fn=", "cfn=")):
                # Compressed names: "(id) name" the first time, as a function or as a
                # callee, and "(id)" after.
                key, _, rest = line.rstrip("\n").partition("=")
                m = re.match(r"\((\d+)\)(?: (.*))?$", rest)
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
                if key == "fn":
                    function = names.get(m.group(1), "?") if m else rest.strip()
            elif line.startswith("positions:"):
                if "instr" not in line.split()[1:]:
                    return None
                positions = line
    if positions is None:
        return None
    least = ops * FOOTPRINT_SHARE
    hot = [a for a, n in counts.items() if n >= least]
    by_function = {}
    for a in hot:
        by_function.setdefault(owner[a], set()).add(a // LINE)
    return len({a // LINE for a in hot}), {f: len(ls) for f, ls in by_function.items()}


# The function tokio runs for every poll of a task (its vtable's `poll`): one call is one
# wake-up that ran a task (or a task's first poll).
TASK_POLL = "tokio::runtime::task::raw::poll"


def task_polls(path):
    """Calls of TASK_POLL in a callgrind file (its `calls=` lines), or None when it has none
    (a server not on tokio)."""
    names, callee, total, found = {}, None, 0, False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("cfn="):
                # Compressed names: "(id) name" the first time, "(id)" after.
                m = re.match(r"cfn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    callee = names.get(m.group(1))
                else:
                    callee = line[4:].strip()
            elif line.startswith("fn="):
                m = re.match(r"fn=\((\d+)\) (.*)$", line.rstrip("\n"))
                if m:
                    names[m.group(1)] = m.group(2)
            elif line.startswith("calls=") and callee == TASK_POLL:
                total += int(line[6:].split()[0])
                found = True
    return total if found else None


def largest(rows, pattern):
    if isinstance(pattern, tuple):
        return next((n for n in (largest(rows, p) for p in pattern) if n > 0), 0)
    exact = re.compile(r"^" + pattern + r"$")
    return max((n for n, _, f in rows if exact.match(f)), default=0)


def ops_of(run, case):
    """Operations in the measured load, from the client's JSON report."""
    with open(run, encoding="utf-8") as f:
        report = json.load(f)
    phase = report["phases"][0]
    metrics = {m["name"]: m["value"] for m in phase["metrics"]}
    if case == "polling":
        return int(metrics["HTTP requests"])
    if case.startswith("connect"):
        return int(metrics["handshakes"])
    return int(phase["received"])


def syscalls(path):
    """The system calls of a `strace -c` summary: [(name, calls, errors)], most calls first."""
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            # "% time, seconds, usecs/call, calls, [errors,] syscall"; the header, the rules
            # and the total are not calls.
            if len(fields) not in (5, 6) or not fields[3].isdigit() or fields[-1] == "total":
                continue
            errors = int(fields[4]) if len(fields) == 6 else 0
            rows.append((fields[-1], int(fields[3]), errors))
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--case", required=True, choices=sorted(PARTS))
    p.add_argument("--unit", required=True)
    p.add_argument("--ops", type=int)
    p.add_argument("--run", help="the load client's --json report (gives --ops)")
    p.add_argument("--top", type=int, default=0,
                   help="list the functions with the largest code footprints, this many")
    p.add_argument("--syscalls", action="store_true",
                   help="the file is a `strace -c` summary: print the system calls per operation")
    a = p.parse_args()
    ops = a.ops if a.ops else ops_of(a.run, a.case)
    if ops <= 0:
        sys.exit("bench/profile.py: no operation in the measured load")
    units = a.unit[:-1] + "ies" if a.unit.endswith("y") else a.unit + "s"
    if a.syscalls:
        rows = syscalls(a.file)
        if not rows:
            sys.exit("bench/profile.py: no system call in the strace summary")
        total = sum(n for _, n, _ in rows)
        print(f"{a.case}: {total / ops:,.2f} system calls per {a.unit} ({ops:,} {units}, "
              f"{total:,} calls in all)")
        width = max(len(name) for name, _, _ in rows)
        for name, n, errors in rows:
            failed = f"  ({errors / ops:,.3f} failed)" if errors else ""
            print(f"  {name:<{width}}  {n / ops:>9,.3f}{failed}")
        return
    rows = rows_of(a.file)
    total = next(n for n, name, _ in rows if "PROGRAM TOTALS" in name)
    mimalloc = any("mimalloc" in name for _, name, _ in rows)
    alloc = ALLOC_RUST if mimalloc else ALLOC_GLIBC
    parts = PARTS[a.case] + [
        ("allocator (" + ("mimalloc" if mimalloc else "the system's malloc") + ")", alloc)]
    print(f"{a.case}: {total / ops:,.0f} instructions per {a.unit} ({ops:,} {units}, {total:,} in all)")
    misses = cache_misses(a.file)
    if misses:
        last = misses.get("ILmr", 0) + misses.get("DLmr", 0) + misses.get("DLmw", 0)
        print(f"cache misses per {a.unit} (simulated): first-level instruction "
              f"{misses['I1mr'] / ops:,.1f}, data read {misses.get('D1mr', 0) / ops:,.1f}, "
              f"data write {misses.get('D1mw', 0) / ops:,.1f}; last-level {last / ops:,.1f}")
    foot = footprint(a.file, ops)
    if foot is not None:
        lines = foot[0]
        print(f"code footprint per {a.unit}: {lines:,} lines of {LINE} bytes ({lines * LINE / 1024:,.1f} KiB) "
              f"of code run in at least {FOOTPRINT_SHARE:.0%} of the {units}")
    polls = task_polls(a.file)
    if polls is not None:
        print(f"task polls per {a.unit}: {polls / ops:,.2f} (tokio's: each wake-up that ran a task)")
    width = max(len(label) for label, _ in parts)
    for label, patterns in parts:
        n = sum(largest(rows, pat) for pat in patterns)
        print(f"  {label:<{width}}  {n / ops:>9,.0f}")
    if a.top and foot is not None:
        print(f"largest code footprints per {a.unit}, by function (lines of {LINE} bytes):")
        for name, n in sorted(foot[1].items(), key=lambda kv: (-kv[1], kv[0]))[:a.top]:
            print(f"  {n:>5,}  {name}")


if __name__ == "__main__":
    main()
