//! Portico as a layer of an axum `Router`: the router's own routes answer as before, and the
//! Socket.IO path is Portico's, sessions included.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use common::Client;
use http::{Method, StatusCode};
use portico::Server;

fn app(io: &Server) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .layer(io.layer())
}

#[tokio::test(start_paused = true)]
async fn routes_and_socket_io_side_by_side() {
    let io = Server::builder().build().unwrap();
    let _disconnects = common::echo_server(&io);
    let client = Client::over(app(&io), "/socket.io/");

    let health = client
        .request(Method::GET, "/health", &[], Bytes::new())
        .await;
    assert_eq!((health.status, health.text()), (StatusCode::OK, "ok"));

    // Any other path is the router's (404), not Portico's.
    let missing = client
        .request(Method::GET, "/nope", &[], Bytes::new())
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // The Socket.IO path: a handshake, then a whole session through the router.
    let (sid, open) = client.handshake().await;
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(io.connection_count(), 1);
    client.post_ok(&sid, "40").await;
    client.poll_until(&sid, |p| p.starts_with("40{")).await;
    client.assert_alive(&sid, 1).await;
    assert_eq!(io.of("/").sockets().len(), 1);

    // Engine.IO errors come from Portico, with its JSON body.
    client
        .request(
            Method::GET,
            "/socket.io/?EIO=4&transport=polling&sid=nope",
            &[],
            Bytes::new(),
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, 1);

    // The router still answers after all that.
    let health = client
        .request(Method::GET, "/health", &[], Bytes::new())
        .await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_custom_path_is_honoured_and_the_default_is_left_to_the_router() {
    let io = Server::builder().path("/rt/").build().unwrap();
    let client = Client::over(app(&io), "/rt/");
    let (sid, _) = client.handshake().await;
    assert!(!sid.is_empty());
    let default_path = client
        .request(
            Method::GET,
            "/socket.io/?EIO=4&transport=polling",
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(default_path.status, StatusCode::NOT_FOUND);
    assert_eq!(io.connection_count(), 1);
}
