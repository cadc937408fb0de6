//! Hello, Portico: a Socket.IO server for a page on another origin (the README's "Try it").

use portico::{Ack, ClientBundle, ConnectError, OriginPolicy, Server, Socket};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let io = Server::builder()
        // The page's origin (python3 -m http.server serves it); every other origin is refused.
        .origins(OriginPolicy::allow(["http://127.0.0.1:8080"])?)
        // socket.io.min.js for the page, from the npm package (npm install socket.io-client).
        .serve_client(ClientBundle::from_package_dir(
            "node_modules/socket.io-client",
        )?)
        .build()?;

    io.of("/")
        .use_connect(|socket: Socket| async move {
            match socket.handshake().auth_value()["token"].as_str() {
                Some("let-me-in") => Ok(()),
                _ => Err(ConnectError::new("invalid token")),
            }
        })
        .on_connection(|socket: Socket| async move {
            socket.emit("hello", &format!("welcome, {}", socket.id()))?;
            socket.on("shout", |_socket: Socket, text: String, ack: Ack| async move {
                ack.send(&text.to_uppercase())
            });
            Ok::<_, portico::EmitError>(())
        });

    portico::serve(("127.0.0.1", 3000), io).await?;
    Ok(())
}
