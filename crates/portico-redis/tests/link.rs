//! The Redis link against real redis-server processes (one private server per test, on its
//! own port, killed and restarted at will) and against a scripted fake server for faults.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{b, changed, collector, free_port, next, Fake, Redis, WAIT};
use portico_redis::link::{Kind, LinkOptions, LinkState, Publisher, RedisError, Subscriber};
use portico_redis::resp::{ProtocolError, Value};
use tokio::time::timeout;

fn opts() -> LinkOptions {
    LinkOptions::default()
}

#[tokio::test]
async fn publish_reaches_channel_pattern_and_shard_subscribers() {
    let redis = Redis::start(&[]).await;
    let (on_message, mut rx) = collector();
    let sub = Subscriber::connect(&redis.url(), on_message, opts())
        .await
        .unwrap();
    sub.subscribe(Kind::Channel, &["news"]).await.unwrap();
    sub.subscribe(Kind::Pattern, &["room:*"]).await.unwrap();
    sub.subscribe(Kind::Shard, &["shard-a"]).await.unwrap();
    let publisher = Publisher::connect(&redis.url(), opts()).await.unwrap();

    publisher.publish("news", b("1")).unwrap();
    publisher.publish(b"room:7", b("2")).unwrap();
    publisher
        .spublish("shard-a", Bytes::from_static(b"\x00\xff binary"))
        .unwrap();

    let m = next(&mut rx).await;
    assert_eq!(
        (m.kind, m.pattern, m.channel, m.payload),
        (Kind::Channel, None, b("news"), b("1"))
    );
    let m = next(&mut rx).await;
    assert_eq!(
        (m.kind, m.pattern, m.channel, m.payload),
        (Kind::Pattern, Some(b("room:*")), b("room:7"), b("2"))
    );
    let m = next(&mut rx).await;
    assert_eq!(
        (m.kind, m.channel, &m.payload[..]),
        (Kind::Shard, b("shard-a"), &b"\x00\xff binary"[..])
    );
}

#[tokio::test]
async fn numsub_and_shardnumsub_count_subscribers_and_commands_pipeline() {
    let redis = Redis::start(&[]).await;
    let publisher = Publisher::connect(&redis.url(), opts()).await.unwrap();
    let (cb1, _rx1) = collector();
    let (cb2, _rx2) = collector();
    let one = Subscriber::connect(&redis.url(), cb1, opts())
        .await
        .unwrap();
    let two = Subscriber::connect(&redis.url(), cb2, opts())
        .await
        .unwrap();
    one.subscribe(Kind::Channel, &["c"]).await.unwrap();
    two.subscribe(Kind::Channel, &["c"]).await.unwrap();
    two.subscribe(Kind::Shard, &["s"]).await.unwrap();

    assert_eq!(publisher.numsub("c").await.unwrap(), 2);
    assert_eq!(publisher.shardnumsub("s").await.unwrap(), 1);
    assert_eq!(publisher.numsub("nobody").await.unwrap(), 0);
    two.unsubscribe(Kind::Channel, &["c"]).await.unwrap();
    assert_eq!(publisher.numsub("c").await.unwrap(), 1);

    // Pipelined: many requests in flight at once, each caller gets its own answer.
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let publisher = publisher.clone();
            tokio::spawn(async move {
                let id = i.to_string();
                let reply = publisher.command(&[b"ECHO", id.as_bytes()]).await.unwrap();
                assert_eq!(reply, Value::Bulk(Some(Bytes::from(id))));
            })
        })
        .collect();
    for call in calls {
        timeout(WAIT, call).await.unwrap().unwrap();
    }
    let err = publisher.command(&[b"NOSUCHCOMMAND"]).await.unwrap_err();
    assert!(
        matches!(&err, RedisError::Reply { message } if message.starts_with("ERR")),
        "{err}"
    );
}

#[tokio::test]
async fn startup_fails_with_the_url_when_nothing_answers() {
    let port = free_port().await;
    let url =
        portico_redis::link::RedisUrl::parse(&format!("redis://:secret@127.0.0.1:{port}")).unwrap();
    let err = Publisher::connect(&url, opts()).await.unwrap_err();
    assert!(matches!(err, RedisError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("redis://:***@127.0.0.1:{port}")),
        "{text}"
    );
    assert!(
        text.contains("check that redis-server is running"),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
    let (cb, _rx) = collector();
    let err = Subscriber::connect(&url, cb, opts()).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    // Something listens but never answers: bounded by connect_timeout.
    let fake = Fake::bind().await;
    let mut short = opts();
    short.connect_timeout = Duration::from_millis(200);
    let (result, _silent) = tokio::join!(Publisher::connect(fake.url(), short), fake.accept());
    let err = result.unwrap_err();
    assert!(err.to_string().contains("no answer within 200ms"), "{err}");

    // Something answers, but not like Redis.
    let serve = async {
        let mut conn = fake.accept().await;
        conn.send(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        conn
    };
    let (result, _conn) = tokio::join!(Publisher::connect(fake.url(), opts()), serve);
    let err = result.unwrap_err();
    assert!(
        err.to_string().contains("does not answer like Redis"),
        "{err}"
    );

    let mut bad = opts();
    bad.reconnect_min = Duration::ZERO;
    assert!(matches!(
        Publisher::connect(fake.url(), bad).await,
        Err(RedisError::InvalidOptions { .. })
    ));
}

#[tokio::test]
async fn auth_and_select_on_connect_and_reconnect() {
    let mut redis = Redis::start(&["--requirepass", "s3cret"]).await;
    let (cb, mut rx) = collector();
    let sub = Subscriber::connect(&redis.url_with(":s3cret@", ""), cb, opts())
        .await
        .unwrap();
    sub.subscribe(Kind::Channel, &["c"]).await.unwrap();
    // With a user name (AUTH user password) and a database (SELECT).
    let publisher = Publisher::connect(&redis.url_with("default:s3cret@", "/3"), opts())
        .await
        .unwrap();
    publisher.publish("c", b("hello")).unwrap();
    assert_eq!(next(&mut rx).await.payload, b("hello"));
    publisher.command(&[b"SET", b"k", b"v"]).await.unwrap();
    let db0 = Publisher::connect(&redis.url_with(":s3cret@", ""), opts())
        .await
        .unwrap();
    assert_eq!(
        db0.command(&[b"EXISTS", b"k"]).await.unwrap(),
        Value::Int(0),
        "SET went to database 3"
    );

    let err = Publisher::connect(&redis.url_with(":wrong@", ""), opts())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RedisError::Handshake {
                command: "AUTH",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("check the user name and password"),
        "{err}"
    );
    let err = Publisher::connect(&redis.url(), opts()).await.unwrap_err();
    assert!(
        matches!(
            err,
            RedisError::Handshake {
                command: "PING",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("requires a password"), "{err}");
    let err = Publisher::connect(&redis.url_with(":s3cret@", "/99"), opts())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RedisError::Handshake {
                command: "SELECT",
                ..
            }
        ),
        "{err:?}"
    );

    // AUTH and SELECT again on the reconnect: the key is back in database 3 (no persistence,
    // so set it again) and the subscription is restored behind the password.
    let (mut pub_state, mut sub_state) = (publisher.state(), sub.state());
    redis.kill().await;
    assert!(!changed(&mut pub_state).await.is_up());
    assert!(!changed(&mut sub_state).await.is_up());
    redis.restart().await;
    assert_eq!(changed(&mut pub_state).await, LinkState::Up);
    assert_eq!(changed(&mut sub_state).await, LinkState::Up);
    publisher.command(&[b"SET", b"k2", b"v"]).await.unwrap();
    let db3 = Publisher::connect(&redis.url_with(":s3cret@", "/3"), opts())
        .await
        .unwrap();
    assert_eq!(
        db3.command(&[b"EXISTS", b"k2"]).await.unwrap(),
        Value::Int(1)
    );
    publisher.publish("c", b("again")).unwrap();
    assert_eq!(next(&mut rx).await.payload, b("again"));
}

#[tokio::test]
async fn redis_restart_fails_fast_then_restores_subscriptions() {
    let mut redis = Redis::start(&[]).await;
    let (cb, mut rx) = collector();
    let sub = Subscriber::connect(&redis.url(), cb, opts()).await.unwrap();
    sub.subscribe(Kind::Channel, &["c"]).await.unwrap();
    sub.subscribe(Kind::Pattern, &["p*"]).await.unwrap();
    sub.subscribe(Kind::Shard, &["s"]).await.unwrap();
    sub.subscribe(Kind::Channel, &["dropped"]).await.unwrap();
    sub.unsubscribe(Kind::Channel, &["dropped"]).await.unwrap();
    let publisher = Publisher::connect(&redis.url(), opts()).await.unwrap();
    publisher.publish("c", b("before")).unwrap();
    assert_eq!(next(&mut rx).await.payload, b("before"));
    let mut pub_state = publisher.state();
    let mut sub_state = sub.state();
    assert_eq!(*pub_state.borrow_and_update(), LinkState::Up);
    assert_eq!(*sub_state.borrow_and_update(), LinkState::Up);

    redis.kill().await;
    assert!(matches!(
        changed(&mut pub_state).await,
        LinkState::Down {
            error: RedisError::Lost { .. },
            ..
        }
    ));
    assert!(matches!(
        changed(&mut sub_state).await,
        LinkState::Down { .. }
    ));

    // Down: every call fails at once and nothing is queued.
    let err = publisher.publish("c", b("while-down")).unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains(&redis.url().to_string()), "{err}");
    assert!(publisher
        .spublish("s", b("while-down"))
        .unwrap_err()
        .is_unavailable());
    assert!(publisher.numsub("c").await.unwrap_err().is_unavailable());
    // A subscription asked for while down is refused now and made at the reconnect.
    assert!(sub
        .subscribe(Kind::Channel, &["late"])
        .await
        .unwrap_err()
        .is_unavailable());

    // Down exactly once: while reconnect attempts keep failing (50, 100, 200 ms apart) the
    // state does not change. This waits for the *absence* of a change, so it needs a window.
    assert!(
        timeout(Duration::from_millis(400), pub_state.changed())
            .await
            .is_err(),
        "state changed while Redis was away"
    );
    assert!(!sub_state.has_changed().unwrap());

    redis.restart().await;
    assert_eq!(changed(&mut pub_state).await, LinkState::Up);
    // The subscriber reports Up only once every subscription is restored.
    assert_eq!(changed(&mut sub_state).await, LinkState::Up);

    publisher.publish("c", b("after")).unwrap();
    publisher.publish("p1", b("after-p")).unwrap();
    publisher.spublish("s", b("after-s")).unwrap();
    publisher.publish("late", b("after-late")).unwrap();
    // The first message after the restart is the first one published after it: nothing from
    // the outage was queued and replayed.
    let got: Vec<_> = [
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ]
    .into_iter()
    .map(|m| (m.kind, m.channel, m.payload))
    .collect();
    assert_eq!(
        got,
        vec![
            (Kind::Channel, b("c"), b("after")),
            (Kind::Pattern, b("p1"), b("after-p")),
            (Kind::Shard, b("s"), b("after-s")),
            (Kind::Channel, b("late"), b("after-late")),
        ]
    );
    assert_eq!(publisher.numsub("c").await.unwrap(), 1);
    assert_eq!(
        publisher.numsub("dropped").await.unwrap(),
        0,
        "unsubscribed: not restored"
    );
    assert!(!pub_state.has_changed().unwrap() && !sub_state.has_changed().unwrap());
}

#[tokio::test]
async fn a_request_in_flight_fails_when_the_connection_drops() {
    let fake = Fake::bind().await;
    let mut patient = opts();
    patient.command_timeout = Duration::from_secs(60);
    let (publisher, mut conn) =
        tokio::join!(Publisher::connect(fake.url(), patient), fake.accept_redis());
    let publisher = publisher.unwrap();
    let call = publisher.numsub("c");
    let serve = async {
        assert_eq!(conn.command().await.unwrap()[1], b("NUMSUB"));
        drop(conn);
    };
    let (result, ()) = tokio::join!(timeout(WAIT, call), serve);
    assert!(result
        .expect("failed by the drop, not by the 60 s timeout")
        .unwrap_err()
        .is_unavailable());
}

#[tokio::test]
async fn garbage_from_the_server_drops_the_link_and_it_reconnects() {
    let fake = Fake::bind().await;
    let (publisher, mut conn) =
        tokio::join!(Publisher::connect(fake.url(), opts()), fake.accept_redis());
    let publisher = publisher.unwrap();
    let mut state = publisher.state();
    publisher.publish("c", b("x")).unwrap();
    assert_eq!(
        conn.command().await.unwrap(),
        vec![b("PUBLISH"), b("c"), b("x")]
    );
    conn.send(b"?what\r\n").await;
    match changed(&mut state).await {
        LinkState::Down {
            error: RedisError::Protocol { error, .. },
            ..
        } => assert_eq!(error, ProtocolError::InvalidType(b'?')),
        other => panic!("{other:?}"),
    }
    let _again = fake.accept_redis().await;
    assert_eq!(changed(&mut state).await, LinkState::Up);
    publisher.publish("c", b("y")).unwrap();
}

#[tokio::test]
async fn an_oversized_bulk_header_is_refused_before_its_body() {
    let fake = Fake::bind().await;
    let (cb, mut rx) = collector();
    let (sub, mut conn) = tokio::join!(
        Subscriber::connect(fake.url(), cb, opts()),
        fake.accept_redis()
    );
    let sub = sub.unwrap();
    let mut state = sub.state();
    // 600 MB announced, above Redis' own 512 MiB; only the header is ever sent.
    conn.send(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$600000000\r\n")
        .await;
    match changed(&mut state).await {
        LinkState::Down {
            error: RedisError::Protocol { error, .. },
            ..
        } => {
            assert!(
                matches!(
                    error,
                    ProtocolError::BulkTooLong {
                        len: 600_000_000,
                        ..
                    }
                ),
                "{error}"
            )
        }
        other => panic!("{other:?}"),
    }
    let _again = fake.accept_redis().await;
    assert_eq!(changed(&mut state).await, LinkState::Up);
    assert!(rx.try_recv().is_err(), "nothing was delivered");
}

#[tokio::test]
async fn a_silent_server_times_out_requests_and_fills_the_bounded_queue() {
    let fake = Fake::bind().await;
    let mut small = opts();
    small.max_queued_commands = 4;
    small.max_queued_bytes = 1024;
    let (publisher, _conn) =
        tokio::join!(Publisher::connect(fake.url(), small), fake.accept_redis());
    let publisher = publisher.unwrap();

    let err = publisher
        .command_with_timeout(&[b"PING"], Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RedisError::Timeout {
            after: Duration::from_millis(50)
        }
    );

    // Too big for the byte bound on its own.
    let err = publisher
        .publish("c", Bytes::from(vec![0u8; 2048]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            RedisError::QueueFull {
                max_bytes: 1024,
                max_commands: 4
            }
        ),
        "{err:?}"
    );
    // No replies: at most 4 in flight and 4 queued, then refusals.
    let first_refused = (0..20).position(|_| {
        matches!(
            publisher.publish("c", b("x")),
            Err(RedisError::QueueFull { .. })
        )
    });
    assert!(
        matches!(first_refused, Some(n) if n <= 8),
        "{first_refused:?}"
    );
}

#[tokio::test]
async fn dropping_the_last_handle_ends_the_task_up_or_down() {
    // Up: the connection closes.
    let fake = Fake::bind().await;
    let (publisher, mut conn) =
        tokio::join!(Publisher::connect(fake.url(), opts()), fake.accept_redis());
    let publisher = publisher.unwrap();
    let mut state = publisher.state();
    let clone = publisher.clone();
    drop(publisher);
    clone.publish("c", b("last words")).unwrap();
    drop(clone);
    assert_eq!(
        conn.command().await.unwrap()[2],
        b("last words"),
        "queued commands are flushed"
    );
    assert_eq!(conn.command().await, None, "then the connection closes");
    assert!(
        timeout(WAIT, state.changed()).await.unwrap().is_err(),
        "the task ended"
    );

    // Down, while reconnecting.
    let mut redis = Redis::start(&[]).await;
    let publisher = Publisher::connect(&redis.url(), opts()).await.unwrap();
    let (cb, _rx) = collector();
    let sub = Subscriber::connect(&redis.url(), cb, opts()).await.unwrap();
    let (mut pub_state, mut sub_state) = (publisher.state(), sub.state());
    redis.kill().await;
    assert!(!changed(&mut pub_state).await.is_up());
    assert!(!changed(&mut sub_state).await.is_up());
    drop((publisher, sub));
    assert!(timeout(WAIT, pub_state.changed()).await.unwrap().is_err());
    assert!(timeout(WAIT, sub_state.changed()).await.unwrap().is_err());
}
