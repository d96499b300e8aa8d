//! Structured JSON logs (bunyan format) for every service.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::set_global_default;
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_bunyan_formatter::{BunyanFormattingLayer, JsonStorage, JsonStorageLayer};
use tracing_log::LogTracer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use tracing_subscriber::{layer::SubscriberExt, EnvFilter, Registry};

/// Builds the subscriber: `RUST_LOG` if set, else `default_filter`; JSON lines to `sink`, every
/// request logged.
pub fn get_subscriber<Sink>(name: &str, default_filter: &str, sink: Sink) -> impl Subscriber + Send + Sync
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    get_sampled_subscriber(name, default_filter, sink, Sampling::default())
}

/// As [`get_subscriber`], with successful requests' lines sampled (see [`Sampling`]).
pub fn get_sampled_subscriber<Sink>(
    name: &str,
    default_filter: &str,
    sink: Sink,
    sampling: Sampling,
) -> impl Subscriber + Send + Sync
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    Registry::default()
        .with(filter)
        .with(SampledStorage)
        .with(Sampled {
            inner: SpansOnClose(BunyanFormattingLayer::new(name.into(), sink)),
            sampling,
            requests: AtomicU64::new(0),
        })
}

/// Which requests' log lines are written. One request in `every` is chosen when it starts and
/// logged whole (its line, its inner spans and events). Of the others, a request that fails
/// (status 400 or more, or an exception) or is slow still gets its line, with its warnings and
/// errors; a fast successful one only its warnings and errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// One successful request in this many is logged (1: all).
    pub every: u64,
    /// A request at least this slow is always logged.
    pub slow: Duration,
}

impl Default for Sampling {
    /// Every request.
    fn default() -> Self {
        Self {
            every: 1,
            slow: Duration::from_millis(500),
        }
    }
}

impl Sampling {
    /// From `LOG_SAMPLE_EVERY` and `LOG_SLOW_MS` (unset or invalid: every request; 500 ms).
    pub fn from_env() -> Self {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let default = Self::default();
        Self {
            every: read("LOG_SAMPLE_EVERY").unwrap_or(default.every).max(1),
            slow: read("LOG_SLOW_MS").map_or(default.slow, Duration::from_millis),
        }
    }
}

/// The name of the root span of every HTTP request (`shared::http::middleware::RootSpan`).
pub const REQUEST_SPAN: &str = "HTTP request";

/// Marks a request span: whether it is logged whatever its outcome, and when it started.
struct RequestMark {
    keep: bool,
    started: Instant,
}

/// Drops the lines of requests that are neither sampled, failed nor slow.
struct Sampled<L> {
    inner: L,
    sampling: Sampling,
    requests: AtomicU64,
}

/// Whether the request `span` belongs to is sampled, if it is inside one.
fn mark_of<S>(span: Option<SpanRef<'_, S>>) -> Option<bool>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span?
        .scope()
        .find_map(|s| s.extensions().get::<RequestMark>().map(|m| m.keep))
}

/// Whether the span's fields are stored (so it may be written).
fn stored<S>(id: &Id, ctx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(id)
        .is_some_and(|span| span.extensions().get::<JsonStorage>().is_some())
}

/// Gives a span without stored fields those of its nearest stored ancestor (the request's id,
/// route...), so that a warning inside it is written with them.
fn adopt_fields<S>(span: &SpanRef<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if span.extensions().get::<JsonStorage>().is_some() {
        return;
    }
    let inherited = span
        .scope()
        .skip(1)
        .find_map(|s| s.extensions().get::<JsonStorage>().cloned());
    if let Some(fields) = inherited {
        span.extensions_mut().insert(fields);
    }
}

/// [`JsonStorageLayer`] for the spans that may be written: spans outside requests, each
/// request's own span (written when it fails or is slow) and the inner spans of sampled
/// requests. Copying a request's fields into every inner span of a request that is never
/// written was most of what logging cost a cached read (issue 15).
struct SampledStorage;

impl<S> Layer<S> for SampledStorage
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let unsampled_inner = attrs.metadata().name() != REQUEST_SPAN
            && mark_of(ctx.span(id).and_then(|span| span.parent())) == Some(false);
        if !unsampled_inner {
            JsonStorageLayer.on_new_span(attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if stored(id, &ctx) {
            JsonStorageLayer.on_record(id, values, ctx);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if stored(id, &ctx) {
            JsonStorageLayer.on_enter(id, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if stored(&id, &ctx) {
            JsonStorageLayer.on_close(id, ctx);
        }
    }
}

impl<L> Sampled<L> {
    /// A closing request span is logged when sampled, failed or slow.
    fn request_is_logged(
        &self,
        mark: &RequestMark,
        extensions: &tracing_subscriber::registry::Extensions<'_>,
    ) -> bool {
        if mark.keep || mark.started.elapsed() >= self.sampling.slow {
            return true;
        }
        let Some(storage) = extensions.get::<JsonStorage>() else {
            return true;
        };
        let values = storage.values();
        let failed_status = values
            .get("http.status_code")
            .and_then(serde_json::Value::as_u64)
            .is_none_or(|status| status >= 400);
        failed_status || values.contains_key("exception.message")
    }
}

impl<S, L> Layer<S> for Sampled<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() == REQUEST_SPAN {
            let every = self.sampling.every.max(1);
            let keep = every == 1 || self.requests.fetch_add(1, Ordering::Relaxed) % every == 0;
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(RequestMark {
                    keep,
                    started: Instant::now(),
                });
            }
        }
        self.inner.on_new_span(attrs, id, ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Warnings and errors always; the rest unless inside a request that is not sampled.
        let written = if *event.metadata().level() <= Level::WARN {
            if let Some(span) = ctx.event_span(event) {
                adopt_fields(&span);
            }
            true
        } else {
            mark_of(ctx.event_span(event)) != Some(false)
        };
        if written {
            self.inner.on_event(event, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let logged = match ctx.span(&id) {
            Some(span) => {
                let extensions = span.extensions();
                match extensions.get::<RequestMark>() {
                    Some(mark) => self.request_is_logged(mark, &extensions),
                    // An inner span: with its request (decided before the request ends).
                    None => {
                        drop(extensions);
                        mark_of(Some(span)) != Some(false)
                    }
                }
            }
            None => true,
        };
        if logged {
            self.inner.on_close(id, ctx);
        }
    }
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
    init_subscriber(get_sampled_subscriber(name, "info", writer, Sampling::from_env()))?;
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines captured in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_or(Ok(0), |mut lines| {
                lines.extend_from_slice(buf);
                Ok(buf.len())
            })
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn messages(&self) -> Vec<String> {
            let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|v| format!("{} {}", v["msg"].as_str().unwrap_or(""), v["http.status_code"]))
                .collect()
        }
    }

    fn request(status: u16, inner: bool) {
        let span = tracing::info_span!(
            REQUEST_SPAN,
            http.status_code = tracing::field::Empty,
            request_id = status
        );
        let _entered = span.enter();
        if inner {
            tracing::info_span!("handler").in_scope(|| tracing::info!("accepted"));
            tracing::warn!("suspicious");
            tracing::info_span!("handler").in_scope(|| tracing::warn!("odd"));
        }
        span.record("http.status_code", status);
    }

    #[test]
    fn one_successful_request_in_n_is_logged_and_every_failed_or_slow_one() {
        let lines = Lines::default();
        let sink = lines.clone();
        let sampling = Sampling {
            every: 3,
            slow: Duration::from_secs(3600),
        };
        let subscriber = get_sampled_subscriber("test", "info", move || sink.clone(), sampling);
        tracing::subscriber::with_default(subscriber, || {
            // Requests 0, 3, 6 and 9 are sampled.
            for _ in 0..6 {
                request(200, false);
            }
            request(200, true); // 6: sampled, whole
            request(201, true); // 7: not sampled, only its warning
            request(404, false); // 8: failed
            request(500, false); // 9
            tracing::info!("outside any request");
        });
        let messages = lines.messages();
        let count = |m: &str| messages.iter().filter(|l| l.starts_with(m)).count();
        assert_eq!(count("[HTTP REQUEST - END] 200"), 3, "{messages:?}");
        assert_eq!(count("[HTTP REQUEST - END] 404"), 1);
        assert_eq!(count("[HTTP REQUEST - END] 500"), 1);
        assert_eq!(count("[HTTP REQUEST - END] 201"), 0);
        assert_eq!(count("[HANDLER - END]"), 2, "both of the sampled request");
        assert_eq!(count("[HANDLER - EVENT] accepted"), 1);
        assert_eq!(count("[HTTP REQUEST - EVENT] suspicious"), 2);
        assert_eq!(count("outside any request"), 1);
        // A warning inside an unsampled request's inner span still names its request.
        let bytes = lines.0.lock().map(|b| b.clone()).unwrap_or_default();
        let odd: Vec<serde_json::Value> = String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["msg"] == "[HANDLER - EVENT] odd")
            .collect();
        let ids: Vec<_> = odd.iter().map(|v| v["request_id"].clone()).collect();
        assert_eq!(
            ids,
            vec![serde_json::json!(200), serde_json::json!(201)],
            "{odd:?}"
        );
    }

    #[test]
    fn slow_requests_are_logged_and_sampling_reads_the_environment_safely() {
        let lines = Lines::default();
        let sink = lines.clone();
        let sampling = Sampling {
            every: 1_000,
            slow: Duration::ZERO,
        };
        let subscriber = get_sampled_subscriber("test", "info", move || sink.clone(), sampling);
        tracing::subscriber::with_default(subscriber, || {
            request(200, false);
            request(200, false);
        });
        assert_eq!(lines.messages().len(), 2);
        assert!(Sampling::from_env().every >= 1);
    }
}
