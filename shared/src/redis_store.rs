//! Redis as a cache: a lazily (re)connecting connection with a per-deployment key prefix.
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::configuration::RedisSettings;

/// Cheap to clone; every clone shares one multiplexed connection.
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    /// Does not connect: the first command does, and a lost connection is re-established on
    /// use, so Redis being down never stops a service from starting or serving from Postgres.
    pub fn connect_lazy(settings: &RedisSettings) -> anyhow::Result<Self> {
        let client =
            redis::Client::open(settings.url.expose_secret()).context("Failed to parse the Redis URL")?;
        let timeout = Duration::from_millis(settings.response_timeout_ms);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("Failed to create the Redis connection manager")?;
        Ok(Self {
            client,
            connection,
            prefix: settings.key_prefix.clone(),
        })
    }

    /// The full key for `name` in this deployment's namespace.
    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// A connection handle for commands (clones share the underlying connection).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The client, for connections of their own (e.g. a pub/sub subscription).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Round-trips a PING.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.connection();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("Redis PING failed")?;
        Ok(())
    }
}
