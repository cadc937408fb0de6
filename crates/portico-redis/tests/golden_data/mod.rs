//! Golden vectors: messages that Node's @socket.io/redis-adapter 8.3.0 and
//! @socket.io/redis-emitter 5.1.0 published (recorded on loopback with redis-server 7.0.15).
//! Each is decoded by Portico and, where Portico would send the same message, encoded again:
//! the channel and the bytes must be Node's exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// (what Node called, channel, format, payload: the JSON text, or the MessagePack bytes as hex)
type Vector = (&'static str, &'static str, &'static str, &'static str);

pub const CLASSIC: &[Vector] = &[
    (
        r#"io.emit('hello', 1, 'two', {three:3}) [A]"#,
        r#"socket.io#/#"#,
        "msgpack",
        r#"93a64f645a72673283a47479706502a46461746194a568656c6c6f01a374776f81a5746872656503a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"#,
    ),
    (
        r#"io.to('room1').emit('to-room', 'x') [A]"#,
        r#"socket.io#/#room1#"#,
        "msgpack",
        r#"93a64f645a72673283a47479706502a46461746192a7746f2d726f6f6da178a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380"#,
    ),
    (
        r#"io.to(['room1','room2']).except('room3').emit('multi') [A]"#,
        r#"socket.io#/#"#,
        "msgpack",
        r#"93a64f645a72673283a47479706502a46461746191a56d756c7469a36e7370a12f83a5726f6f6d7392a5726f6f6d31a5726f6f6d32a665786365707491a5726f6f6d33a5666c61677380"#,
    ),
    (
        r#"io.to(<socket id on B>).emit('private') [A]"#,
        r#"socket.io#/#l5YBi8hC-aVL93qIAAAA#"#,
        "msgpack",
        r#"93a64f645a72673283a47479706502a46461746191a770726976617465a36e7370a12f83a5726f6f6d7391b46c355942693868432d61564c3933714941414141a665786365707490a5666c61677380"#,
    ),
    (
        r#"io.emit('bin', Buffer[1,2,3], {nested: Buffer[4]}) [A]"#,
        r#"socket.io#/#"#,
        "msgpack",
        r#"93a64f645a72673283a47479706502a46461746193a362696ec40301020381a66e6573746564c40104a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"#,
    ),
    (
        r#"io.volatile.compress(false).emit('flags') [A]"#,
        r#"socket.io#/#"#,
        "msgpack",
        r#"93a64f645a72673283a47479706502a46461746191a5666c616773a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2"#,
    ),
    (
        r#"io.of('/custom').emit('in-custom', 42) [A]"#,
        r#"socket.io#/custom#"#,
        "msgpack",
        r#"93a66b305a76773483a47479706502a46461746192a9696e2d637573746f6d2aa36e7370a72f637573746f6d83a5726f6f6d7390a665786365707490a5666c61677380"#,
    ),
    (
        r#"io.timeout(1000).emit('need-ack', 7, cb)  (broadcast with ack) [A]"#,
        r#"socket.io-request#/#"#,
        "msgpack",
        r#"85a3756964a64f645a726732a9726571756573744964a673455679774fa47479706507a67061636b657483a47479706502a46461746192a86e6565642d61636b07a36e7370a12fa46f70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd03e8"#,
    ),
    (
        r#"io.timeout(1000).emit('need-ack', 7, cb)  (broadcast with ack) [B]"#,
        r#"socket.io-response#/#"#,
        "json",
        r#"{"type":8,"requestId":"sEVywO","clientCount":1}"#,
    ),
    (
        r#"io.timeout(1000).emit('need-ack', 7, cb)  (broadcast with ack) [B]"#,
        r#"socket.io-response#/#"#,
        "msgpack",
        r#"83a47479706509a9726571756573744964a673455679774fa67061636b6574b861636b2d66726f6d2d636c69656e742d6e6565642d61636b"#,
    ),
    (
        r#"await io.fetchSockets() [A]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"uid":"OdZrg2","requestId":"tGOLl-","type":5,"opts":{"rooms":[],"except":[]}}"#,
    ),
    (
        r#"await io.fetchSockets() [B]"#,
        r#"socket.io-response#/#"#,
        "json",
        r#"{"requestId":"tGOLl-","sockets":[{"id":"l5YBi8hC-aVL93qIAAAA","handshake":{"headers":{"sec-websocket-version":"13","sec-websocket-key":"yJVb9/I13jg1BHY7PZspfg==","connection":"Upgrade","upgrade":"websocket","sec-websocket-extensions":"permessage-deflate; client_max_window_bits","host":"127.0.0.1:42683"},"time":"Wed Nov 25 2026 05:04:55 GMT+0000 (Coordinated Universal Time)","address":"127.0.0.1","xdomain":false,"secure":false,"issued":1795583095502,"url":"/socket.io/?EIO=4&transport=websocket","query":{"EIO":"4","transport":"websocket"},"auth":{}},"rooms":["l5YBi8hC-aVL93qIAAAA","room1"],"data":{"user":"B-user"}}]}"#,
    ),
    (
        r#"io.in('room1').socketsJoin('room9') [A]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"uid":"OdZrg2","type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room9"]}"#,
    ),
    (
        r#"io.in('room9').socketsLeave('room9') [A]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"uid":"OdZrg2","type":3,"opts":{"rooms":["room9"],"except":[]},"rooms":["room9"]}"#,
    ),
    (
        r#"io.serverSideEmit('ping-srv', 1) [A]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"uid":"OdZrg2","type":6,"data":["ping-srv",1]}"#,
    ),
    (
        r#"io.serverSideEmit('ping-srv', 2, cb) (with ack) [A]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"uid":"OdZrg2","requestId":"B5Misj","type":6,"data":["ping-srv",2]}"#,
    ),
    (
        r#"io.serverSideEmit('ping-srv', 2, cb) (with ack) [B]"#,
        r#"socket.io-response#/#"#,
        "json",
        r#"{"type":6,"requestId":"B5Misj","data":"B-reply"}"#,
    ),
    (
        r#"adapter.allRooms() [A]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"uid":"OdZrg2","requestId":"tyT1zX","type":1}"#,
    ),
    (
        r#"adapter.allRooms() [B]"#,
        r#"socket.io-response#/#"#,
        "json",
        r#"{"requestId":"tyT1zX","rooms":["l5YBi8hC-aVL93qIAAAA","room1"]}"#,
    ),
    (
        r#"io.in(<socket id on B>).disconnectSockets(true) [A]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"uid":"OdZrg2","type":4,"opts":{"rooms":["l5YBi8hC-aVL93qIAAAA"],"except":[]},"close":true}"#,
    ),
];

pub const SHARDED: &[Vector] = &[
    (
        r#"io.emit('hello', 1, 'two', {three:3}) [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":3,"data":{"packet":{"type":2,"data":["hello",1,"two",{"three":3}]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.to('room1').emit('to-room', 'x') [A]"#,
        r#"socket.io#/#room1#"#,
        "json",
        r#"{"type":3,"data":{"packet":{"type":2,"data":["to-room","x"]},"opts":{"rooms":["room1"],"except":[],"flags":{}}},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.to(['room1','room2']).except('room3').emit('multi') [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":3,"data":{"packet":{"type":2,"data":["multi"]},"opts":{"rooms":["room1","room2"],"except":["room3"],"flags":{}}},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.to(<socket id on B>).emit('private') [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":3,"data":{"packet":{"type":2,"data":["private"]},"opts":{"rooms":["THvj2oKHi888ycyRAAAA"],"except":[],"flags":{}}},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.emit('bin', Buffer[1,2,3], {nested: Buffer[4]}) [A]"#,
        r#"socket.io#/#"#,
        "msgpack",
        r#"84a47479706503a46461746182a67061636b657482a47479706502a46461746193a362696ec40301020381a66e6573746564c40104a46f70747383a5726f6f6d7390a665786365707490a5666c61677380a3756964b036333538346537303166623563613934a36e7370a12f"#,
    ),
    (
        r#"io.volatile.compress(false).emit('flags') [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":3,"data":{"packet":{"type":2,"data":["flags"]},"opts":{"rooms":[],"except":[],"flags":{"volatile":true,"compress":false}}},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.of('/custom').emit('in-custom', 42) [A]"#,
        r#"socket.io#/custom#"#,
        "json",
        r#"{"type":3,"data":{"packet":{"type":2,"data":["in-custom",42]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"db768b8aa42bc339","nsp":"/custom"}"#,
    ),
    (
        r#"io.timeout(1000).emit('need-ack', 7, cb)  (broadcast with ack) [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":3,"data":{"packet":{"type":2,"data":["need-ack",7]},"requestId":"0d82344ff557a916","opts":{"rooms":[],"except":[],"flags":{"timeout":1000}}},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.timeout(1000).emit('need-ack', 7, cb)  (broadcast with ack) [B]"#,
        r#"socket.io#/#63584e701fb5ca94#"#,
        "json",
        r#"{"type":11,"data":{"requestId":"0d82344ff557a916","clientCount":1},"uid":"c8815c1cfee2763b","nsp":"/"}"#,
    ),
    (
        r#"io.timeout(1000).emit('need-ack', 7, cb)  (broadcast with ack) [B]"#,
        r#"socket.io#/#63584e701fb5ca94#"#,
        "json",
        r#"{"type":12,"data":{"requestId":"0d82344ff557a916","packet":"ack-from-client-need-ack"},"uid":"c8815c1cfee2763b","nsp":"/"}"#,
    ),
    (
        r#"await io.fetchSockets() [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":7,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"requestId":"d3b59bd1d5445d63"},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"await io.fetchSockets() [B]"#,
        r#"socket.io#/#63584e701fb5ca94#"#,
        "json",
        r#"{"type":8,"data":{"requestId":"d3b59bd1d5445d63","sockets":[{"id":"THvj2oKHi888ycyRAAAA","handshake":{"headers":{"sec-websocket-version":"13","sec-websocket-key":"elHWR8X5km6uVKAGkse/eg==","connection":"Upgrade","upgrade":"websocket","sec-websocket-extensions":"permessage-deflate; client_max_window_bits","host":"127.0.0.1:34337"},"time":"Wed Nov 25 2026 05:05:07 GMT+0000 (Coordinated Universal Time)","address":"127.0.0.1","xdomain":false,"secure":false,"issued":1795583107387,"url":"/socket.io/?EIO=4&transport=websocket","query":{"EIO":"4","transport":"websocket"},"auth":{}},"rooms":["THvj2oKHi888ycyRAAAA","room1"],"data":{"user":"B-user"}}]},"uid":"c8815c1cfee2763b","nsp":"/"}"#,
    ),
    (
        r#"io.in('room1').socketsJoin('room9') [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":4,"data":{"opts":{"rooms":["room1"],"except":[],"flags":{}},"rooms":["room9"]},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.in('room9').socketsLeave('room9') [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":5,"data":{"opts":{"rooms":["room9"],"except":[],"flags":{}},"rooms":["room9"]},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.serverSideEmit('ping-srv', 1) [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":9,"data":{"packet":["ping-srv",1]},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.serverSideEmit('ping-srv', 2, cb) (with ack) [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":9,"data":{"requestId":"a3568463f101a825","packet":["ping-srv",2]},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
    (
        r#"io.serverSideEmit('ping-srv', 2, cb) (with ack) [B]"#,
        r#"socket.io#/#63584e701fb5ca94#"#,
        "json",
        r#"{"type":10,"data":{"requestId":"a3568463f101a825","packet":"B-reply"},"uid":"c8815c1cfee2763b","nsp":"/"}"#,
    ),
    (
        r#"io.in(<socket id on B>).disconnectSockets(true) [A]"#,
        r#"socket.io#/#"#,
        "json",
        r#"{"type":6,"data":{"opts":{"rooms":["THvj2oKHi888ycyRAAAA"],"except":[],"flags":{}},"close":true},"uid":"63584e701fb5ca94","nsp":"/"}"#,
    ),
];

pub const EMITTER: &[Vector] = &[
    (
        r#"socket.broadcast.emit (from c2's socket) [server]"#,
        r#"socket.io#/#"#,
        "msgpack",
        r#"93a666344d426c5683a47479706502a46461746192b566726f6d2d736f636b65742d62726f61646361737401a36e7370a12f83a5726f6f6d7390a665786365707491b43052443058416c557a6c4f4e6873473241414142a5666c61677380"#,
    ),
    (
        r#"socket.to('room1').emit (from c2's socket) [server]"#,
        r#"socket.io#/#room1#"#,
        "msgpack",
        r#"93a666344d426c5683a47479706502a46461746192b366726f6d2d736f636b65742d746f2d726f6f6d02a36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707491b43052443058416c557a6c4f4e6873473241414142a5666c61677380"#,
    ),
    (
        r#"emitter.emit('e1', 1, {a:'b'}) [emitter]"#,
        r#"socket.io#/#"#,
        "msgpack",
        r#"93a7656d697474657283a47479706502a46461746193a265310181a161a162a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490"#,
    ),
    (
        r#"emitter.to('room1').emit('e2') [emitter]"#,
        r#"socket.io#/#room1#"#,
        "msgpack",
        r#"93a7656d697474657283a47479706502a46461746191a26532a36e7370a12f83a5726f6f6d7391a5726f6f6d31a5666c61677380a665786365707490"#,
    ),
    (
        r#"emitter.to(['room1','room2']).except('room3').volatile.compress(true).emit('e3', Buffer[9]) [emitter]"#,
        r#"socket.io#/#"#,
        "msgpack",
        r#"93a7656d697474657283a47479706502a46461746192a26533c40109a36e7370a12f83a5726f6f6d7392a5726f6f6d31a5726f6f6d32a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c3a665786365707491a5726f6f6d33"#,
    ),
    (
        r#"emitter.of('/custom').emit('e4') [emitter]"#,
        r#"socket.io#/custom#"#,
        "msgpack",
        r#"93a7656d697474657283a47479706502a46461746191a26534a36e7370a72f637573746f6d83a5726f6f6d7390a5666c61677380a665786365707490"#,
    ),
    (
        r#"emitter.in('room1').socketsJoin('room5') [emitter]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room5"]}"#,
    ),
    (
        r#"emitter.socketsLeave('room5') [emitter]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"type":3,"opts":{"rooms":[],"except":[]},"rooms":["room5"]}"#,
    ),
    (
        r#"emitter.serverSideEmit('srv-evt', 'x') [emitter]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"uid":"emitter","type":6,"data":["srv-evt","x"]}"#,
    ),
    (
        r#"emitter.in('room1').disconnectSockets(true) [emitter]"#,
        r#"socket.io-request#/#"#,
        "json",
        r#"{"type":4,"opts":{"rooms":["room1"],"except":[]},"close":true}"#,
    ),
];
