//! Taking a dependency away from one app under test, and giving it back.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A TCP proxy on 127.0.0.1 that a test can cut and restore, to take one dependency away from
/// one app under test (e.g. its Postgres) while other tests keep using the real server.
pub struct TcpProxy {
    port: u16,
    target: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    /// Starts forwarding a fresh local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Arc<Self> {
        Self::start_on(0, target).await
    }

    /// Like [`TcpProxy::start`] on a fixed local port (0: any free one).
    pub async fn start_on(port: u16, target: &str) -> Arc<Self> {
        let target: SocketAddr = tokio::net::lookup_host(target)
            .await
            .expect("resolvable proxy target")
            .next()
            .expect("an address for the proxy target");
        // The previous test's proxy on this port may still be closing (its task is aborted
        // asynchronously): give it a moment before calling the port taken.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => break listener,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, port, "proxy port busy; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("proxy port {port} is taken ({e})"),
            }
        };
        let port = listener.local_addr().expect("proxy address").port();
        let proxy = Arc::new(Self {
            port,
            target,
            task: Mutex::new(None),
        });
        proxy.serve(listener);
        proxy
    }

    /// The local port clients should use instead of the target's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes the port and every open connection: the dependency looks down.
    pub fn cut(&self) {
        if let Some(task) = self.task.lock().expect("proxy lock").take() {
            task.abort();
        }
    }

    /// Listens again on the same port: the dependency is back.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind proxy port");
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.task.lock().expect("proxy lock") = Some(task);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The broker's FLAKY listener (see `scripts/infra`): bound on 19092, advertised on 19093.
const FLAKY_KAFKA_LISTENER: &str = "127.0.0.1:19092";
const FLAKY_KAFKA_ADVERTISED_PORT: u16 = 19093;

/// Kafka that one test can cut and restore for its own app only. Point the app's
/// `kafka.brokers` at the returned address. Tests using it run one at a time (the advertised
/// port is fixed), so hold the guard for the whole test.
pub async fn flaky_kafka() -> (Arc<TcpProxy>, String, tokio::sync::MutexGuard<'static, ()>) {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let guard = SERIAL.lock().await;
    let proxy = TcpProxy::start_on(FLAKY_KAFKA_ADVERTISED_PORT, FLAKY_KAFKA_LISTENER).await;
    let brokers = format!("127.0.0.1:{FLAKY_KAFKA_ADVERTISED_PORT}");
    (proxy, brokers, guard)
}
