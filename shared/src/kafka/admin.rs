//! Creates the topics a service needs if they do not exist yet (idempotent, safe to race).
use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::configuration::KafkaSettings;
use crate::events::topics;

/// Ensures each logical topic in `names` exists with `settings.partitions` partitions, and its
/// dead-letter topic with one partition, replicated `settings.replication_factor` times.
pub async fn ensure_topics(settings: &KafkaSettings, names: &[&str]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = super::base_config(settings)
        .create()
        .context("Failed to create the Kafka admin client")?;
    let mut wanted = Vec::new();
    for name in names {
        wanted.push((settings.topic(name), settings.partitions));
        wanted.push((settings.topic(&topics::dead_letter(name)), 1));
    }
    let new_topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(
                name,
                *partitions,
                TopicReplication::Fixed(settings.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .context("Failed to create Kafka topics")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("Failed to create Kafka topic {topic}: {code}"),
        }
    }
    Ok(())
}
