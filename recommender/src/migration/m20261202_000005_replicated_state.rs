//! The model's counts move out of per-pair rows into memory: each flush stores one compact
//! delta record (`model_deltas`), a checkpointer folds them into chunked snapshots
//! (`model_snapshots`, `model_snapshot_chunks`), and sequences are stored in binary.
//!
//! Upgrade: the totals held in `item_counts` / `co_counts` become the first snapshot, tagged
//! with the stored partition offsets they reflect (they were written in the same transactions),
//! then the two tables are dropped. JSON sequences stay readable until their user's next flush
//! rewrites them in binary.
use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::prelude::*;
use shared::events::topics;

use crate::model::delta::Delta;
use crate::model::score::Counts;
use crate::model::sequence::PairIncrement;
use crate::model::Item;
use crate::repository::snapshots::{self, CHUNK_PAIRS};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            r#"
            -- One record per committed flush of a user_actions partition: the increments of its
            -- batch, covering offsets [base_offset, next_offset) (base NULL: the partition's
            -- first). Written with the fenced offset, so a partition's chain has no gap.
            CREATE TABLE model_deltas (
                partition   INTEGER     NOT NULL,
                base_offset BIGINT,
                next_offset BIGINT      NOT NULL,
                pairs       INTEGER     NOT NULL,
                bytes       INTEGER     NOT NULL,
                created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                data        BYTEA       NOT NULL,
                PRIMARY KEY (partition, next_offset)
            );
            -- Snapshots of the folded state; readers see a snapshot with all its chunks or none.
            CREATE TABLE model_snapshots (
                id          BIGSERIAL   PRIMARY KEY,
                created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                partitions  INTEGER[]   NOT NULL,
                offsets     BIGINT[]    NOT NULL,
                chunks      INTEGER     NOT NULL,
                pairs       BIGINT      NOT NULL,
                bytes       BIGINT      NOT NULL
            );
            CREATE TABLE model_snapshot_chunks (
                snapshot_id BIGINT  NOT NULL REFERENCES model_snapshots (id) ON DELETE CASCADE,
                chunk       INTEGER NOT NULL,
                data        BYTEA   NOT NULL,
                PRIMARY KEY (snapshot_id, chunk)
            );
            -- The records are compressed already: no second compression attempt by TOAST.
            ALTER TABLE model_deltas ALTER COLUMN data SET STORAGE EXTERNAL;
            ALTER TABLE model_snapshot_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
            ALTER TABLE user_sequences ADD COLUMN data BYTEA, ALTER COLUMN state DROP NOT NULL;
            "#,
        )
        .await?;
        fold_count_tables(db).await?;
        db.execute_unprepared("DROP TABLE co_counts, item_counts").await?;
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the per-pair count tables cannot be restored from snapshots".to_owned(),
        ))
    }
}

fn statement(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql.to_owned())
}

/// Writes the totals of the count tables as the first snapshot (nothing if they are empty).
async fn fold_count_tables(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let mut counts = Counts::default();
    let mut popularity = rustc_hash::FxHashMap::default();
    for row in db
        .query_all(statement("SELECT item, users, popularity FROM item_counts"))
        .await?
    {
        let item = row.try_get::<i32>("", "item")? as Item;
        counts.add_item(item, row.try_get("", "users")?);
        // The tables held plain sums; the state holds their logarithms.
        let sum = crate::model::popularity::from_linear(row.try_get::<f64>("", "popularity")?);
        if sum != crate::model::popularity::NONE {
            popularity.insert(item, sum);
        }
    }
    for row in db
        .query_all(statement("SELECT from_item, to_item, weight FROM co_counts"))
        .await?
    {
        counts.add_pair(PairIncrement {
            from: row.try_get::<i32>("", "from_item")? as Item,
            to: row.try_get::<i32>("", "to_item")? as Item,
            weight: row.try_get("", "weight")?,
        });
    }
    if counts.items.is_empty() && counts.pairs.is_empty() {
        return Ok(());
    }
    let mut watermarks = BTreeMap::new();
    let sql = format!(
        "SELECT partition, next_offset FROM partition_offsets WHERE topic = '{}'",
        topics::USER_ACTIONS
    );
    for row in db.query_all(statement(&sql)).await? {
        watermarks.insert(row.try_get("", "partition")?, row.try_get("", "next_offset")?);
    }
    let totals = Delta::new(&counts, &popularity);
    let replica = crate::model::replica::Replica::from_chunks(
        &crate::model::ModelParams::default(),
        [&totals],
        watermarks,
    )
    .map_err(|e| DbErr::Migration(format!("the stored counts do not fold: {e}")))?;
    snapshots::save(db, &replica, CHUNK_PAIRS)
        .await
        .map_err(|e| DbErr::Migration(format!("{e:#}")))?;
    Ok(())
}
