#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use super::*;
use http::{HeaderMap, HeaderName, Response, Version};

const PATH: &str = "/socket.io/";

/// `take` as a server without header hooks calls it (requests kept as read where they can be).
fn head(s: &str) -> Option<Taken<'static>> {
    let bytes: &'static Bytes = Box::leak(Box::new(Bytes::copy_from_slice(s.as_bytes())));
    take(bytes, PATH, true)
}

/// The head in `http`'s types, however `take` kept it.
fn parts(t: &Taken) -> http::request::Parts {
    match &t.head {
        Head::Parts(p) => {
            let mut req = http::Request::new(()).into_parts().0;
            req.method = p.method.clone();
            req.uri = p.uri.clone();
            req.version = p.version;
            req.headers = p.headers.clone();
            req
        }
        Head::Session(r) | Head::Raw(r) => r.to_parts().unwrap(),
    }
}

/// Kept as read, as a session's request or as another.
fn kept_as_read(t: &Taken) -> bool {
    matches!(t.head, Head::Session(_) | Head::Raw(_))
}

/// Kept as read as a session's request (handled by `service::handle_raw`).
fn of_session(t: &Taken) -> bool {
    matches!(t.head, Head::Session(_))
}

fn body_len(t: Taken) -> usize {
    t.body.len()
}

#[test]
fn takes_the_polling_requests_of_the_official_clients() {
    let get = "GET /socket.io/?EIO=4&transport=polling&t=abc HTTP/1.1\r\nHost: x\r\nOrigin: http://a.test\r\nAccept: */*\r\n\r\n";
    let t = head(get).unwrap();
    // A handshake: kept as read too, though not as a session's request.
    assert!(kept_as_read(&t) && !of_session(&t));
    assert_eq!(parts(&t).method, Method::GET);
    assert_eq!(parts(&t).uri, "/socket.io/?EIO=4&transport=polling&t=abc");
    assert_eq!(
        (t.len, parts(&t).headers.len(), t.close),
        (get.len(), 3, false)
    );
    assert_eq!(body_len(t), 0);
    let session = get.replace("&t=abc", "&sid=s1&t=abc");
    assert!(of_session(&head(&session).unwrap()));

    let post = "POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n42[\"a";
    let t = head(post).unwrap();
    assert!(of_session(&t));
    assert_eq!((&parts(&t).method, t.len), (&Method::POST, post.len()));
    assert_eq!(body_len(t), 5);

    let preflight = "OPTIONS /socket.io/?EIO=4 HTTP/1.1\r\nHost: x\r\nOrigin: http://a.test\r\nAccess-Control-Request-Method: GET\r\n\r\n";
    let t = head(preflight).unwrap();
    assert!(kept_as_read(&t) && !of_session(&t));
    assert_eq!(parts(&t).method, Method::OPTIONS);

    // A WebSocket upgrade, as browsers and the `ws` package send it; the bytes after it (its
    // first frames) are not the request's.
    let upgrade = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let t = head(&format!("{upgrade}\u{81}\u{1}")).unwrap();
    assert!(t.upgrade && !t.close && kept_as_read(&t) && !of_session(&t));
    assert_eq!(t.len, upgrade.len());
    assert!(!head(get).unwrap().upgrade);

    // Close tokens, in any case and among others.
    let close = "GET /socket.io/ HTTP/1.1\r\nConnection: TE, Close\r\n\r\n";
    assert!(head(close).unwrap().close);
}

#[test]
fn leaves_everything_else_to_hyper() {
    for req in [
        // Not whole yet: the head, then the body.
        "GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: x\r\n",
        "POST /socket.io/?sid=x HTTP/1.1\r\nContent-Length: 10\r\n\r\n42[",
        // Other versions and methods.
        "GET /socket.io/ HTTP/1.0\r\n\r\n",
        "HEAD /socket.io/socket.io.min.js HTTP/1.1\r\n\r\n",
        "PUT /socket.io/ HTTP/1.1\r\n\r\n",
        "CONNECT /socket.io/ HTTP/1.1\r\n\r\n",
        // Another path (hyper routes it to the application, or 404), or not origin-form.
        "GET /other HTTP/1.1\r\n\r\n",
        "GET /socket.io HTTP/1.1\r\n\r\n",
        "GET http://x/socket.io/ HTTP/1.1\r\n\r\n",
        // Framing hyper decides: chunked, 100-continue, an upgrade, odd or doubled lengths.
        "POST /socket.io/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /socket.io/ HTTP/1.1\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n",
        // Half an upgrade, another protocol, or one with a body or another method.
        "GET /socket.io/ HTTP/1.1\r\nConnection: upgrade\r\n\r\n",
        "GET /socket.io/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        "GET /socket.io/ HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        "GET /socket.io/ HTTP/1.1\r\nUpgrade: websocket\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "POST /socket.io/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "GET /socket.io/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 1\r\n\r\nx",
        "POST /socket.io/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        "POST /socket.io/ HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
        "POST /socket.io/ HTTP/1.1\r\nContent-Length: 1 1\r\n\r\nx",
        "POST /socket.io/ HTTP/1.1\r\nContent-Length: \r\n\r\n",
        "POST /socket.io/ HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        // Malformed: hyper answers 400.
        "GET /socket.io/ HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET /socket.io/ HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        "GET  /socket.io/ HTTP/1.1\r\n\r\n",
        "\r\n\r\n",
    ] {
        assert!(head(req).is_none(), "{req:?}");
    }
    // A body over MAX_BODY, even when it is all there.
    let big = format!(
        "POST /socket.io/ HTTP/1.1\r\nContent-Length: {}\r\n\r\n{}",
        MAX_BODY + 1,
        "x".repeat(MAX_BODY + 1)
    );
    assert!(head(&big).is_none());
    let fits = format!(
        "POST /socket.io/ HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n{}",
        "x".repeat(MAX_BODY)
    );
    assert_eq!(body_len(head(&fits).unwrap()), MAX_BODY);
    // Over hyper's 100 headers: hyper answers 431.
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    assert!(head(&format!("GET /socket.io/ HTTP/1.1\r\n{many}\r\n")).is_none());
    let hundred: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    assert!(head(&format!("GET /socket.io/ HTTP/1.1\r\n{hundred}\r\n")).is_some());
}

#[test]
fn builds_the_request_from_the_bytes_read_and_keeps_what_follows() {
    let first = "POST /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: x\r\nX-Twice: 1\r\nx-twice: 2\r\nContent-Length: 4\r\n\r\n4hey";
    let next = "GET /socket.io/?EIO=4 HTTP/1.1\r\n";
    let bytes = Bytes::from(format!("{first}{next}"));
    let t = take(&bytes, PATH, true).unwrap();
    assert_eq!(&bytes[t.len..], next.as_bytes());
    let Head::Session(raw) = &t.head else {
        panic!("a session's POST is kept as read");
    };
    // What the session's handling reads of it, off the list: any case, every value, in order.
    use portico_cors::RequestHeaders;
    let twice: Vec<_> = raw
        .headers
        .get_all(&HeaderName::from_static("x-twice"))
        .collect();
    assert_eq!(twice, ["1", "2"]);
    assert_eq!(raw.headers.get(&http::header::HOST).unwrap(), "x");
    assert!(!raw.headers.contains_key(&http::header::ORIGIN));
    assert_eq!(
        (raw.query.sid(), raw.query.transport()),
        (Some("abc"), Some("polling"))
    );
    let req = http::Request::from_parts(parts(&t), Full::new(t.body.clone()));
    assert_eq!(req.method(), Method::POST);
    assert_eq!(req.version(), Version::HTTP_11);
    assert_eq!(req.uri().path(), "/socket.io/");
    assert_eq!(req.uri().query(), Some("EIO=4&transport=polling&sid=abc"));
    assert_eq!(req.headers()["host"], "x");
    let twice: Vec<_> = req.headers().get_all("x-twice").iter().collect();
    assert_eq!(twice, ["1", "2"]);
    // The peer goes to the service beside the request, not as an extension (an allocation
    // per request): tests/plain_http1.rs checks that the hooks and the handshake still see it.
    assert!(req.extensions().is_empty());
    assert_eq!(body_bytes(req.into_body()), Bytes::from_static(b"4hey"));
}

#[test]
fn a_sessions_header_value_is_built_when_it_is_looked_up() {
    use portico_cors::RequestHeaders;
    let get = "GET /socket.io/?EIO=4&transport=polling&sid=s1 HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0\r\nOrigin: http://a.test\r\nCookie: a=1; b=2\r\n\r\n";
    let t = head(get).unwrap();
    let Head::Session(raw) = &t.head else {
        panic!("a session's GET is kept as read");
    };
    assert_eq!(raw.headers.built(), 0);
    assert_eq!(
        raw.headers.get(&http::header::ORIGIN).unwrap(),
        "http://a.test"
    );
    assert!(!raw.headers.contains_key(&http::header::CONTENT_TYPE));
    assert_eq!(raw.headers.built(), 1);
    // A look at the bytes, or whether there is one, builds nothing.
    assert!(raw.headers.contains_key(&http::header::COOKIE));
    let host = raw.headers.get_bytes(&http::header::HOST);
    assert_eq!(host, Some(&b"x"[..]));
    assert_eq!(raw.headers.get_bytes(&http::header::CONTENT_LENGTH), None);
    assert_eq!(raw.headers.built(), 1);
    // Each when it is looked up, once: a second look finds the same value.
    let agent = raw.headers.get(&http::header::USER_AGENT).unwrap();
    assert_eq!(agent, "Mozilla/5.0");
    assert_eq!(raw.headers.built(), 2);
    assert!(std::ptr::eq(
        agent,
        raw.headers.get(&http::header::USER_AGENT).unwrap()
    ));
    assert_eq!(raw.headers.built(), 2);
    let cookie: Vec<_> = raw.headers.get_all(&http::header::COOKIE).collect();
    assert_eq!(cookie, ["a=1; b=2"]);
    assert_eq!(raw.headers.built(), 3);
}

#[test]
fn every_header_value_byte_httparse_takes_is_one_http_takes() {
    // A session's header values become `http`'s only when looked up, and one `http` refused
    // would read as absent (`head::RawValues`): sound while httparse refuses what `http` does.
    let mut taken = 0;
    for b in 0..=u8::MAX {
        let mut req = b"GET / HTTP/1.1\r\nX: a".to_vec();
        req.extend_from_slice(&[b, b'a']);
        req.extend_from_slice(b"\r\n\r\n");
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let mut parsed = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(_)) = parsed.parse(&req) {
            let value = parsed.headers[0].value;
            assert!(
                HeaderValue::from_bytes(value).is_ok(),
                "httparse takes {value:?} (byte {b:#04x}), http does not"
            );
            taken += 1;
        }
    }
    // Tab, the visible ASCII and space, and 0x80 and up.
    assert_eq!(taken, 1 + 95 + 128);
}

fn encoded(res: Response<Body>, keep_alive: bool) -> (String, Option<Bytes>) {
    let mut out = BytesMut::new();
    let rest = encode(Answer::from(res), None, keep_alive, &mut out);
    (String::from_utf8(out.to_vec()).unwrap(), rest)
}

/// The head's lines, without the date's value (checked on its own).
fn lines(head: &str) -> Vec<String> {
    head.split("\r\n")
        .map(|l| {
            if l.starts_with("date: ") {
                "date: *".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect()
}

/// The decision of `policy` on a request from `origin`.
fn decision_of(policy: &portico_cors::OriginPolicy, origin: &str) -> portico_cors::Decision {
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_str(origin).unwrap());
    let info = portico_cors::RequestInfo::new(&Method::GET, &headers);
    policy.evaluate(&info)
}

#[test]
fn writes_cors_headers_kept_apart_as_apply_to_would_put_them_in() {
    let policy = portico_cors::OriginPolicy::allow(["http://a.test"])
        .unwrap()
        .credentials(true);
    let decision = decision_of(&policy, "http://a.test");
    // A response with its own `Vary` and `Access-Control-Allow-Origin`, which the decision
    // sends too.
    let response = || {
        let mut res = crate::http::payload(Bytes::from_static(b"ok"));
        res.headers_mut()
            .insert("vary", HeaderValue::from_static("Accept-Encoding"));
        res.headers_mut().insert(
            "access-control-allow-origin",
            HeaderValue::from_static("http://other.test"),
        );
        // One the decision does not send: kept.
        res.headers_mut().insert(
            "access-control-expose-headers",
            HeaderValue::from_static("x-own"),
        );
        res
    };
    let mut out = BytesMut::new();
    assert!(encode(
        Answer::from(response()),
        Some(&decision.headers),
        true,
        &mut out
    )
    .is_none());
    let apart = String::from_utf8(out.to_vec()).unwrap();
    // The same response with the headers put in by `apply_to`, as hyper's path does.
    let mut res = response();
    decision.apply_to(res.headers_mut());
    let (applied, _) = encoded(res, true);
    let sorted = |head: &str| {
        let mut l = lines(head);
        l.sort();
        l
    };
    assert_eq!(sorted(&apart), sorted(&applied));
    for line in [
        "vary: Accept-Encoding",
        "vary: Origin",
        "access-control-allow-origin: http://a.test",
        "access-control-allow-credentials: true",
        "content-type: text/plain; charset=UTF-8",
        "access-control-expose-headers: x-own",
    ] {
        assert!(lines(&apart).iter().any(|l| l == line), "{line} in {apart}");
    }
    assert!(!apart.contains("http://other.test"), "{apart}");
}

#[test]
fn a_small_answer_is_written_as_its_response_would_be() {
    let policy = portico_cors::OriginPolicy::allow(["http://a.test"])
        .unwrap()
        .credentials(true)
        .expose_headers(["x-own"]);
    let allowed = decision_of(&policy, "http://a.test");
    // Each small answer beside the `Response` it stands for.
    let cases = || {
        let open = Bytes::from_static(b"40{\"sid\":\"x\"}");
        let v3 = Bytes::from_static(b"\x00\x01\xff4");
        [
            (Answer::Payload(open.clone()), crate::http::payload(open)),
            (
                Answer::Payload(Bytes::new()),
                crate::http::payload(Bytes::new()),
            ),
            (Answer::PostOk, crate::http::post_ok()),
            (
                Answer::BinaryPayload(v3.clone()),
                crate::http::binary_payload(v3),
            ),
            (
                Answer::Switching(rfc_accept(), Leaves::Alone),
                switching_response(),
            ),
            (
                Answer::Switching(rfc_accept(), Leaves::WithOpenPacket),
                switching_response(),
            ),
        ]
    };
    for keep_alive in [true, false] {
        for cors in [None, Some(&allowed.headers)] {
            for (small, res) in cases() {
                let written = format!("{small:?}");
                let (mut out, mut as_response) = (BytesMut::new(), BytesMut::new());
                let rest = encode(small, cors, keep_alive, &mut out);
                let rest_too = encode(Answer::from(res), cors, keep_alive, &mut as_response);
                assert_eq!(rest, rest_too, "{written}");
                let text = |b: &BytesMut| lines(&String::from_utf8_lossy(b));
                assert_eq!(text(&out), text(&as_response), "{written}");
                if cors.is_some() {
                    assert!(text(&out).contains(&"access-control-expose-headers: x-own".into()));
                }
            }
        }
    }
}

/// The RFC's example key's accept value.
fn rfc_accept() -> portico_proto::ws::AcceptKey {
    portico_proto::ws::AcceptKey::of(b"dGhlIHNhbXBsZSBub25jZQ==")
}

/// That `101` as a `Response`, built header by header.
fn switching_response() -> Response<Body> {
    let mut res = Response::new(Body::default());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    h.insert(
        "sec-websocket-accept",
        HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    );
    res
}

#[test]
fn a_switching_answer_is_the_response_it_stands_for() {
    let (head, rest) = encoded(switching_response(), true);
    assert!(rest.is_none());
    assert_eq!(
        lines(&head),
        [
            "HTTP/1.1 101 Switching Protocols",
            "upgrade: websocket",
            "connection: Upgrade",
            "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "date: *",
            "",
            "",
        ]
    );
    let expected = switching_response();
    let sid = crate::sid::Sid::new();
    for handshake in [None, Some(sid)] {
        let answer = Answer::Switching(rfc_accept(), Leaves::WithOpenPacket).marked(handshake);
        // A marked handshake's is a `Response` (its cookie and hook change it anyway), which
        // still leaves with the open packet.
        assert_eq!(matches!(answer, Answer::Switching(..)), handshake.is_none());
        assert_eq!(answer.leaves(), Leaves::WithOpenPacket);
        let alone = Answer::Switching(rfc_accept(), Leaves::Alone).marked(handshake);
        assert_eq!(alone.leaves(), Leaves::Alone);
        assert!(answer.is_switching());
        assert_eq!(answer.handshake(), handshake);
        let res = answer.into_response();
        assert_eq!(res.status(), expected.status());
        assert_eq!(res.headers(), expected.headers());
        assert_eq!(
            res.extensions()
                .get::<crate::http::HandshakeResponse>()
                .map(|h| h.0),
            handshake,
        );
    }
    // A polling handshake's payload is marked the same way.
    let open = Bytes::from_static(b"0{\"sid\":\"x\"}");
    assert!(matches!(
        Answer::Payload(open.clone()).marked(None),
        Answer::Payload(_)
    ));
    let res = Answer::Payload(open.clone())
        .marked(Some(sid))
        .into_response();
    let expected = crate::http::payload(open);
    assert_eq!(res.headers(), expected.headers());
    assert_eq!(
        res.extensions()
            .get::<crate::http::HandshakeResponse>()
            .map(|h| h.0),
        Some(sid),
    );
    assert!(Answer::from(switching_response()).is_switching());
    assert!(!Answer::PostOk.is_switching());
}

#[test]
fn writes_the_answer_as_hyper_would() {
    let mut res = crate::http::payload(Bytes::from_static(b"40{\"sid\":\"x\"}"));
    res.headers_mut().insert(
        "access-control-allow-origin",
        HeaderValue::from_static("http://a.test"),
    );
    let (head, rest) = encoded(res, true);
    assert!(rest.is_none());
    assert_eq!(
        lines(&head),
        [
            "HTTP/1.1 200 OK",
            "content-type: text/plain; charset=UTF-8",
            "access-control-allow-origin: http://a.test",
            "content-length: 13",
            "date: *",
            "",
            "40{\"sid\":\"x\"}",
        ]
    );
    // IMF-fixdate, as hyper writes it.
    let date = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("date: "))
        .unwrap();
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");

    // A preflight's 204: no length, no body; a closing connection says so.
    let (head, _) = encoded(crate::http::status(StatusCode::NO_CONTENT), false);
    assert_eq!(
        lines(&head),
        [
            "HTTP/1.1 204 No Content",
            "connection: close",
            "date: *",
            "",
            ""
        ]
    );
    // An empty body has its length.
    let (head, _) = encoded(crate::http::status(StatusCode::NOT_FOUND), true);
    assert_eq!(
        lines(&head),
        [
            "HTTP/1.1 404 Not Found",
            "content-length: 0",
            "date: *",
            "",
            ""
        ]
    );
}

#[test]
fn headers_the_answer_has_are_not_added_again() {
    // A hook (or the client bundle) may set them itself: written once, as given.
    let mut res = crate::http::payload(Bytes::from_static(b"abc"));
    let h = res.headers_mut();
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("3"));
    h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        http::header::DATE,
        HeaderValue::from_static("Sat, 05 Dec 2026 12:00:00 GMT"),
    );
    let (head, _) = encoded(res, false);
    assert_eq!(
        head.split("\r\n").collect::<Vec<_>>(),
        [
            "HTTP/1.1 200 OK",
            "content-type: text/plain; charset=UTF-8",
            "content-length: 3",
            "connection: close",
            "date: Sat, 05 Dec 2026 12:00:00 GMT",
            "",
            "abc",
        ]
    );
}

#[test]
fn a_large_body_leaves_after_the_head_without_a_copy() {
    let body = Bytes::from(vec![b'x'; MERGE_BODY + 1]);
    let (head, rest) = encoded(crate::http::payload(body.clone()), true);
    assert!(head.ends_with(&format!(
        "content-length: {}\r\ndate: {}\r\n\r\n",
        MERGE_BODY + 1,
        &head[head.len() - 33..head.len() - 4]
    )));
    let rest = rest.unwrap();
    assert_eq!(rest, body);
    assert_eq!(rest.as_ptr(), body.as_ptr());
}

#[test]
fn content_lengths() {
    assert_eq!(content_length(b"0"), Some(0));
    assert_eq!(content_length(b"000123"), Some(123));
    assert_eq!(content_length(b"123456789"), Some(123_456_789));
    assert_eq!(content_length(b"1234567890"), None);
    assert_eq!(content_length(b"-1"), None);
}

#[test]
fn any_bytes_a_peer_sends_are_taken_or_left_never_a_panic() {
    let valid: [&[u8]; 3] = [
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://a.test\r\n\r\n",
        b"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nContent-Length: 4\r\nConnection: close\r\n\r\n4hey",
        b"GET /socket.io/?transport=websocket HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a\r\n\r\n\x81\x80",
    ];
    let odd = [
        0u8, b'\r', b'\n', b':', b' ', b',', b'0', b'9', b'a', 0x7f, 0x80, 0xff,
    ];
    let mut tried = 0;
    for req in valid {
        let mut check = |input: Vec<u8>| {
            tried += 1;
            let bytes = Bytes::from(input);
            let as_parts = take(&bytes, PATH, false);
            let t = take(&bytes, PATH, true);
            // A request kept as read is one that would be taken in `http`'s types, the same
            // head (a hook's server takes every request in `http`'s types).
            assert_eq!(t.is_some(), as_parts.is_some());
            if let (Some(t), Some(as_parts)) = (t, as_parts) {
                assert!(!kept_as_read(&as_parts));
                let (req, same) = (parts(&t), parts(&as_parts));
                assert_eq!(
                    (&req.method, &req.uri, &req.headers),
                    (&same.method, &same.uri, &same.headers)
                );
                assert_eq!(
                    (t.len, t.close, t.upgrade),
                    (as_parts.len, as_parts.close, as_parts.upgrade)
                );
                // What the engine is told of an upgrade (`route`'s `upgrade`) is what it
                // would find in the headers, and an upgrade taken here has no body.
                assert_eq!(t.upgrade, crate::http::is_websocket_upgrade(&req));
                assert!(!(t.upgrade && crate::http::has_body(&req)));
                assert!(t.len <= bytes.len());
                assert!(body_len(t) <= MAX_BODY);
            }
        };
        // Every prefix (a request cut anywhere), and every byte replaced by an odd one.
        for end in 0..=req.len() {
            check(req[..end].to_vec());
        }
        for at in 0..req.len() {
            for b in odd {
                let mut mutated = req.to_vec();
                mutated[at] = b;
                check(mutated);
            }
        }
    }
    assert!(tried > 2_000);
}

#[test]
fn an_upgrade_is_what_the_engine_would_find_in_the_headers() {
    // Elements of a token list are trimmed of ASCII whitespace only, and an element that is
    // not text (obs-text, which `HeaderValue::to_str` refuses) is just another element, here
    // and in the engine alike. Control bytes other than a tab never get this far: the parse
    // refuses the header (hyper's too), and the request is hyper's to answer 400.
    for (connection, taken) in [
        (&b"Upgrade"[..], Some(true)),
        (b"keep-alive\x80, Upgrade", Some(true)),
        (b"keep-alive ,\tUpgrade", Some(true)),
        // Not the token: half an upgrade (`Upgrade` without it), hyper's.
        (b"Upgrade\x80", None),
        (b"\x80Upgrade", None),
        // A control byte: not a header the parse takes.
        (b"\x0bUpgrade", None),
    ] {
        let mut req = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nUpgrade: websocket\r\nConnection: "
            .to_vec();
        req.extend_from_slice(connection);
        req.extend_from_slice(b"\r\n\r\n");
        let bytes = Bytes::from(req);
        let t = take(&bytes, PATH, true);
        assert_eq!(t.as_ref().map(|t| t.upgrade), taken, "{connection:?}");
        if let Some(t) = t {
            assert!(
                crate::http::is_websocket_upgrade(&parts(&t)),
                "{connection:?}"
            );
        }
    }
}

#[test]
fn a_target_is_kept_as_read_only_where_http_takes_it_as_it_is() {
    // Every byte in the path and in the query of a session's GET: kept as read, taken in
    // `http`'s types (the same URI), or left to hyper, as without hooks.
    let (mut kept, mut converted) = (0, 0);
    for b in 0..=255u8 {
        for at_path in [true, false] {
            let mut req = b"GET /socket.io/".to_vec();
            if at_path {
                req.push(b);
            }
            req.extend_from_slice(b"?EIO=4&transport=polling&sid=x");
            if !at_path {
                req.push(b);
            }
            req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
            let bytes = Bytes::from(req);
            let (t, as_parts) = (take(&bytes, PATH, true), take(&bytes, PATH, false));
            assert_eq!(t.is_some(), as_parts.is_some(), "{b:#x}");
            let Some(t) = t else { continue };
            if kept_as_read(&t) {
                kept += 1;
                // A byte under the path is a file's name (not kept), unless it starts the query.
                assert!(!at_path || b == b'?', "{b:#x}");
                assert_eq!(parts(&t).uri, parts(&as_parts.unwrap()).uri);
            } else {
                converted += 1;
            }
        }
    }
    // The visible ASCII bytes `http` takes in a query as they are (all but `#`, `"`, `<`, `>`
    // and `` ` ``, which go in `http`'s types, as 0x80 and up do), and a second `?`.
    assert_eq!(kept, 94 - 5 + 1);
    assert!(converted > 0);
    for odd in ["%60`", "#f", "é"] {
        let req = format!("GET /socket.io/?EIO=4&sid=x&q={odd} HTTP/1.1\r\n\r\n");
        let bytes = Bytes::from(req);
        let t = take(&bytes, PATH, true).unwrap();
        assert!(!kept_as_read(&t), "{odd}");
    }
    // No session (a handshake, a name like `sid` that is not it) or an OPTIONS: kept as read,
    // but not as a session's request.
    for req in [
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n",
        "GET /socket.io/?EIO=4&xsid=x HTTP/1.1\r\n\r\n",
        "OPTIONS /socket.io/?EIO=4&sid=x HTTP/1.1\r\n\r\n",
    ] {
        let bytes = Bytes::from(req);
        let t = take(&bytes, PATH, true).unwrap();
        assert!(kept_as_read(&t) && !of_session(&t), "{req}");
    }
    // No query, a file under the path, or a server with header hooks: `http`'s.
    for (req, raw) in [
        ("GET /socket.io/ HTTP/1.1\r\n\r\n", true),
        ("GET /socket.io/socket.io.js?sid=x HTTP/1.1\r\n\r\n", true),
        ("GET /socket.io/?EIO=4&sid=x HTTP/1.1\r\n\r\n", false),
    ] {
        let bytes = Bytes::from(req);
        assert!(!kept_as_read(&take(&bytes, PATH, raw).unwrap()), "{req}");
    }
}

#[test]
fn a_handshake_kept_as_read_packs_and_shows_the_hooks_its_http_parts() {
    use crate::http::RequestHead;
    use portico_cors::RequestHeaders;
    let upgrade = "GET /socket.io/?EIO=4&transport=websocket&q=%C3%A9 HTTP/1.1\r\nHost: x\r\nX-Twice: 1\r\nConnection: Upgrade\r\nUPGRADE: websocket\r\nx-twice: 2\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nUser-Agent: Mozilla/5.0 (X11)\r\n\r\n";
    let bytes = Bytes::from(upgrade);
    let t = take(&bytes, PATH, true).unwrap();
    let Head::Raw(raw) = &t.head else {
        panic!("a handshake is kept as read");
    };
    let as_parts = take(&bytes, PATH, false).unwrap();
    let Head::Parts(p) = &as_parts.head else {
        panic!("with hooks, in `http`'s types");
    };
    // What the handling reads: the same.
    assert_eq!(raw.url(), p.url());
    assert_eq!(raw.url(), "/socket.io/?EIO=4&transport=websocket&q=%C3%A9");
    assert_eq!(raw.query().transport(), Some("websocket"));
    assert_eq!(raw.query().eio(), p.query().eio());
    assert_eq!((raw.is_https(), raw.authority()), (false, None));
    let key = &http::header::SEC_WEBSOCKET_KEY;
    assert_eq!(raw.headers().get_bytes(key), p.headers().get_bytes(key));
    // The session's kept head: every header, names lowercase, built from the list alone.
    let packed = raw.packed();
    assert_eq!(raw.headers.built(), 0);
    assert_eq!(packed.url(), p.packed().url());
    assert_eq!(packed.header_map(), p.headers);
    assert_eq!(packed.get("x-twice"), Some(&b"1"[..]));
    assert_eq!(packed.get_all("x-twice").collect::<Vec<_>>(), [b"1", b"2"]);
    assert_eq!(packed.get("upgrade"), Some(&b"websocket"[..]));
    // What the `allow_request` hook sees.
    let peer = Some("127.0.0.1:9".parse().unwrap());
    let (hook, same) = (raw.hook_parts(peer), p.hook_parts(peer));
    assert_eq!(
        (&hook.method, &hook.uri, &hook.headers, hook.peer),
        (&same.method, &same.uri, &same.headers, same.peer)
    );
}

#[test]
fn tokens() {
    assert!(has_token(b"websocket", b"websocket"));
    assert!(has_token(b"Upgrade", b"upgrade"));
    assert!(has_token(b"keep-alive, Upgrade", b"upgrade"));
    assert!(has_token(b"keep-alive,upgrade ", b"upgrade"));
    assert!(!has_token(b"keep-alive", b"upgrade"));
    assert!(!has_token(b"upgrades", b"upgrade"));
    assert!(!has_token(b"", b"upgrade"));
    // One token with spaces around it (httparse trims the value's ends; not tabs inside).
    assert!(has_token(b" Upgrade\t", b"upgrade"));
    assert!(!has_token(b"Upgrade", b"close"));
    assert!(!has_token(b",", b"upgrade"));
    assert!(has_token(b",close", b"close"));
}
