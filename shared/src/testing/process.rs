//! Apps on background threads (property tests) and service binaries as processes.
use std::time::Duration;

use sea_orm::ConnectionTrait;

use super::eventually;
use crate::configuration::CommonSettings;

/// For property tests (plain `#[test]` functions): runs `start` on an actix system in a thread
/// of its own that lives as long as the test process, and returns what it produced together
/// with a tokio runtime for driving requests from the test thread.
pub fn start_in_background<T, F, Fut>(start: F) -> (T, tokio::runtime::Runtime)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            tx.send(start().await).expect("the test thread waits");
            std::future::pending::<()>().await;
        })
    });
    let value = rx.recv().expect("the background app starts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    (value, runtime)
}

/// A service binary started with a test's isolated settings (database, topics, group, Redis
/// prefix, a free port); killed with SIGKILL when dropped.
pub struct ServiceProcess {
    child: std::process::Child,
    port: u16,
}

impl ServiceProcess {
    /// Starts `binary` (e.g. `env!("CARGO_BIN_EXE_recommender")`) with `settings` and extra
    /// `APP_*` variables.
    pub fn start(binary: &str, settings: &CommonSettings, extra: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = std::process::Command::new(binary);
        command
            .env("APP_APPLICATION__PORT", port.to_string())
            .env("APP_DATABASE__DATABASE_NAME", &settings.database.database_name)
            .env("APP_REDIS__KEY_PREFIX", &settings.redis.key_prefix)
            .env("APP_KAFKA__TOPIC_PREFIX", &settings.kafka.topic_prefix)
            .env("APP_KAFKA__CONSUMER_GROUP", &settings.kafka.consumer_group)
            .env("APP_KAFKA__PARTITIONS", settings.kafka.partitions.to_string())
            .env("APP_KAFKA__SESSION_TIMEOUT_MS", "6000")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (key, value) in extra {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} does not start: {e}"));
        Self { child, port }
    }

    /// The HTTP port the service listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until `/ready` answers 200.
    pub async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}/ready", self.port);
        eventually("the service binary is ready", Duration::from_secs(60), || async {
            reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// SIGKILL: no flush, no commit, no goodbye to the consumer group.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of the stored next offsets of every partition (how many messages flushes covered).
pub async fn flushed_offsets(db: &sea_orm::DatabaseConnection) -> i64 {
    let sql = "SELECT COALESCE(SUM(next_offset), 0)::bigint AS total FROM partition_offsets";
    let row = db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql.to_owned(),
        ))
        .await;
    row.ok()
        .flatten()
        .and_then(|r| r.try_get::<i64>("", "total").ok())
        .unwrap_or(0)
}
