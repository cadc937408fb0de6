//! A request the client aborts right after sending it. hyper calls the service once it has read
//! the request head, but when the client's end of the connection came in the same read it drops
//! the returned future without ever polling it (`connection closed before message completed`).
//! A long-polling `GET` lost that way must still close its session, as Node's engine.io does
//! (and as Portico does for a `GET` aborted once it is waiting): the official Engine.IO suite's
//! "closes the session upon cancelled polling request" lost this race on a busy machine.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use common::Client;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use portico::{DisconnectReason, Server};
use tower_service::Service;

fn get(path: &str, sid: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri(format!("{path}?EIO=4&transport=polling&sid={sid}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_get_whose_future_is_dropped_unpolled_closes_its_session() {
    let io = Server::builder().build().unwrap();
    let mut disconnects = common::echo_server(&io);
    let client = Client::new(&io);
    let sid = client.join().await;

    // hyper's order when the request and the client's FIN come in one read: `call`, then drop.
    let mut svc = io.service();
    drop(svc.call(get("/socket.io/", &sid)));

    let (_, reason) = common::next_disconnect(&mut disconnects).await;
    assert_eq!(reason, DisconnectReason::TransportError);
    client
        .get(&sid)
        .await
        .assert_error(StatusCode::BAD_REQUEST, 1);
    assert_eq!(io.connection_count(), 0);
}

/// The application Portico is layered over: answers `app` to everything else.
#[derive(Clone)]
struct App;

impl Service<Request<Full<Bytes>>> for App {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"app")))))
    }
}

#[tokio::test(start_paused = true)]
async fn the_same_through_the_tower_layer() {
    let io = Server::builder().build().unwrap();
    let mut disconnects = common::echo_server(&io);
    let app = tower_layer::Layer::layer(&io.layer(), App);
    let client = Client::over(app.clone(), "/socket.io/");
    let sid = client.join().await;

    let mut svc = app;
    drop(svc.call(get("/socket.io/", &sid)));

    let (_, reason) = common::next_disconnect(&mut disconnects).await;
    assert_eq!(reason, DisconnectReason::TransportError);
    client
        .get(&sid)
        .await
        .assert_error(StatusCode::BAD_REQUEST, 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_answered_at_once_is_answered_from_call() {
    // Requests that need no waiting (here a handshake) are done by the time `call` returns:
    // their session exists even if the caller never polls the future.
    let io = Server::builder().build().unwrap();
    let mut svc = io.service();
    let fut = svc.call(
        Request::builder()
            .uri("/socket.io/?EIO=4&transport=polling")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    );
    assert_eq!(io.connection_count(), 1);
    let res = fut.await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
