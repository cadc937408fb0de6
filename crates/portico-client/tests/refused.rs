//! Refusals come back as errors that say what the server said.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use portico_client::{Client, ClientConfig, ClientError, Transport};
use serde_json::json;

use common::{bounded, start, GOOD_ORIGIN};

#[tokio::test]
async fn refused_origin_is_an_http_error_with_the_body() {
    let server = start().await;
    for transport in [Transport::WebSocket, Transport::Polling, Transport::Upgrade] {
        let config = ClientConfig::new(&server.url)
            .transport(transport)
            .origin("http://evil.example");
        let err = bounded(Client::connect(config)).await.unwrap_err();
        assert_eq!(err.http_status(), Some(403), "{transport}: {err}");
        assert!(err.to_string().contains("403"), "{err}");
        // The body the server wrote comes back whole (what `doctor` shows).
        assert!(err.to_string().contains("Forbidden"), "{transport}: {err}");
        assert!(err.is_refused());
        // The allowed origin connects.
        let config = ClientConfig::new(&server.url)
            .transport(transport)
            .origin(GOOD_ORIGIN);
        let (client, _events) = bounded(Client::connect(config)).await.unwrap();
        client.close().await;
    }
}

#[tokio::test]
async fn middleware_refusal_is_a_connect_error() {
    let server = start().await;
    for transport in [Transport::WebSocket, Transport::Polling, Transport::Upgrade] {
        let config = ClientConfig::new(&server.url)
            .transport(transport)
            .namespace("/admin");
        match bounded(Client::connect(config)).await.unwrap_err() {
            ClientError::ConnectError { message, data } => {
                assert_eq!(message, "not authorized");
                assert_eq!(data, Some(json!({"code": 401})));
            }
            other => panic!("{transport}: {other}"),
        }
        let config = ClientConfig::new(&server.url)
            .transport(transport)
            .namespace("/admin")
            .auth(json!({"token": "secret"}));
        let (client, _events) = bounded(Client::connect(config)).await.unwrap();
        assert_eq!(client.namespace(), "/admin");
        client.close().await;
    }
}

#[tokio::test]
async fn nothing_listening_is_an_io_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = ClientConfig::new(format!("http://127.0.0.1:{port}"));
    let err = bounded(Client::connect(config)).await.unwrap_err();
    assert!(matches!(err, ClientError::Io(_)), "{err}");
}
