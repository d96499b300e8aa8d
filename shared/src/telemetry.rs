//! Structured JSON logs (bunyan format) for every service.
use tracing::subscriber::set_global_default;
use tracing::Subscriber;
use tracing_bunyan_formatter::{BunyanFormattingLayer, JsonStorageLayer};
use tracing_log::LogTracer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{layer::SubscriberExt, EnvFilter, Registry};

/// Builds the subscriber: `RUST_LOG` if set, else `default_filter`; JSON lines to `sink`.
pub fn get_subscriber<Sink>(name: &str, default_filter: &str, sink: Sink) -> impl Subscriber + Send + Sync
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    Registry::default()
        .with(filter)
        .with(JsonStorageLayer)
        .with(BunyanFormattingLayer::new(name.into(), sink))
}

/// Installs `subscriber` for the whole process and routes `log` records (rdkafka, actix, sqlx)
/// into it. Call once, at start-up.
pub fn init_subscriber(subscriber: impl Subscriber + Send + Sync) -> anyhow::Result<()> {
    LogTracer::init()?;
    set_global_default(subscriber)?;
    Ok(())
}

/// Logs to stdout for a service binary.
pub fn init(name: &str) -> anyhow::Result<()> {
    init_subscriber(get_subscriber(name, "info", std::io::stdout))
}

/// Logs for tests: silent unless `TEST_LOG` is set; safe to call from every test.
pub fn init_for_tests() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // Errors here mean a subscriber is already installed, which is fine in tests.
        let _ = if std::env::var("TEST_LOG").is_ok() {
            init_subscriber(get_subscriber("test", "debug", std::io::stdout))
        } else {
            init_subscriber(get_subscriber("test", "debug", std::io::sink))
        };
    });
}
