//! Following a topic on every instance: no consumer group (partitions are assigned, nothing is
//! committed), starting a given time back, on a thread of its own. For state each instance
//! keeps whole, such as revoked sessions or which cached products changed.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::configuration::KafkaSettings;

/// What a feed does with each message's payload; an error is logged and the feed goes on.
type Apply = Box<dyn Fn(&[u8]) -> anyhow::Result<()> + Send>;

/// A running feed; dropping it stops the thread.
pub struct TopicFeed {
    caught_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl TopicFeed {
    /// Follows the logical `topic` from `since` before this call (zero: from now, even if the
    /// partitions are assigned later), calling `apply` for each message. `name` names the thread, the (never joined) group id and the log lines.
    pub fn start(
        settings: &KafkaSettings,
        topic: &str,
        name: &'static str,
        since: Duration,
        apply: impl Fn(&[u8]) -> anyhow::Result<()> + Send + 'static,
    ) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = super::base_config(settings)
            // Required by librdkafka; never joined (assign) and never committed.
            .set("group.id", format!("{}-{name}", settings.consumer_group))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .create()
            .with_context(|| format!("Failed to create the {name} consumer"))?;
        let caught_up = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let feed = Feed {
            consumer,
            topic: settings.topic(topic),
            name,
            apply: Box::new(apply),
            start_ms: (Utc::now() - since).timestamp_millis(),
            caught_up: caught_up.clone(),
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || feed.run())
            .with_context(|| format!("Failed to start the {name} feed"))?;
        Ok(Self { caught_up, stop })
    }

    /// A `/ready` check: up once the messages that existed at start are applied; `waiting`
    /// says what is missing until then.
    pub fn check(&self, waiting: &'static str) -> crate::http::health::OwnCheck {
        let caught_up = self.caught_up.clone();
        Arc::new(move || {
            if caught_up.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(waiting.into())
            }
        })
    }
}

impl Drop for TopicFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Feed {
    consumer: BaseConsumer,
    topic: String,
    name: &'static str,
    apply: Apply,
    /// Where the feed starts (unix milliseconds).
    start_ms: i64,
    caught_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Feed {
    fn run(self) {
        let name = self.name;
        // Until assigned (Kafka may be starting too), retry.
        let mut ends = loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            match self.assign() {
                Ok(ends) => break ends,
                Err(e) => {
                    tracing::warn!(feed = name, error.cause_chain = ?e, "feed not assigned yet; retrying");
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        };
        self.caught_up.store(ends.is_empty(), Ordering::Relaxed);
        while !self.stop.load(Ordering::Relaxed) {
            let Some(message) = self.consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = match message {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(feed = name, error = %e, "feed error; continuing");
                    continue;
                }
            };
            if let Some(payload) = message.payload() {
                if let Err(e) = (self.apply)(payload) {
                    tracing::warn!(feed = name, error.cause_chain = ?e, offset = message.offset(), "event ignored");
                }
            }
            let partition = message.partition();
            if ends
                .get(&partition)
                .is_some_and(|end| message.offset() + 1 >= *end)
            {
                ends.remove(&partition);
                if ends.is_empty() {
                    self.caught_up.store(true, Ordering::Relaxed);
                    tracing::info!(feed = name, "feed caught up");
                }
            }
        }
    }

    /// Assigns every partition at the first offset since `start_ms`; returns each
    /// partition's end offset at that moment (where the feed counts as caught up).
    fn assign(&self) -> anyhow::Result<HashMap<i32, i64>> {
        let timeout = Duration::from_secs(5);
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), timeout)
            .context("no metadata")?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        anyhow::ensure!(
            !partitions.is_empty(),
            "topic {} has no partitions yet",
            self.topic
        );
        let start_ms = self.start_ms;
        let mut wanted = TopicPartitionList::new();
        for partition in &partitions {
            wanted.add_partition_offset(&self.topic, *partition, Offset::Offset(start_ms))?;
        }
        let starts = self
            .consumer
            .offsets_for_times(wanted, timeout)
            .context("offsets for the start time")?;
        let mut assignment = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for element in starts.elements() {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, element.partition(), timeout)
                .context("watermarks")?;
            // A partition with nothing since then has no offset for the time: start at its end.
            let start = match element.offset() {
                Offset::Offset(offset) if offset < high => offset,
                _ => high,
            };
            if start < high {
                ends.insert(element.partition(), high);
            }
            assignment.add_partition_offset(&self.topic, element.partition(), Offset::Offset(start))?;
        }
        self.consumer.assign(&assignment).context("assign")?;
        Ok(ends)
    }
}
