//! Open many connections with a bound on handshakes in flight.

use std::sync::Arc;
use std::time::Instant;

use portico_client::{Client, Events, Transport};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::measure::Latencies;
use super::progress::Progress;
use super::Target;

/// One handshake: its result and how long it took.
type Attempt = (
    Result<(Client, Events), portico_client::ClientError>,
    std::time::Duration,
);

/// Connections opened by [`connect_many`].
#[derive(Debug, Default)]
pub(crate) struct Pool {
    pub clients: Vec<(Client, Events)>,
    pub failures: u64,
    /// The first error, to show.
    pub first_error: Option<String>,
    pub latencies: Latencies,
}

/// Open `n` connections, at most `target.in_flight` handshakes at once, each one a task.
pub(crate) async fn connect_many(
    target: &Target,
    n: usize,
    transport: Transport,
    progress: &Progress,
) -> Pool {
    let permits = Arc::new(Semaphore::new(target.in_flight));
    let mut set = JoinSet::new();
    let mut pool = Pool::default();
    pool.clients.reserve(n);
    for _ in 0..n {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let config = target.config(transport);
        set.spawn(async move {
            let start = Instant::now();
            let result = Client::connect(config).await;
            drop(permit);
            (result, start.elapsed())
        });
        while let Some(done) = set.try_join_next() {
            pool.add(done, progress);
        }
    }
    while let Some(done) = set.join_next().await {
        pool.add(done, progress);
    }
    pool
}

impl Pool {
    fn add(&mut self, done: Result<Attempt, tokio::task::JoinError>, progress: &Progress) {
        match done {
            Ok((Ok(pair), took)) => {
                self.latencies.record(took);
                self.clients.push(pair);
                progress.add(1);
            }
            Ok((Err(e), _)) => {
                self.fail(e.to_string());
                progress.fail();
            }
            Err(e) => {
                self.fail(e.to_string());
                progress.fail();
            }
        }
    }

    fn fail(&mut self, error: String) {
        self.failures += 1;
        if self.first_error.is_none() {
            eprintln!("connection failed: {error}");
            self.first_error = Some(error);
        }
    }
}
