//! Users' sequences (`user_sequences`), one binary record per user, written by the flush of the
//! user's partition. Records from before the binary format (JSON in `state`) are still read.
use std::collections::HashMap;

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use super::statement;
use crate::model::sequence::UserSequence;

/// Format byte of the binary record (postcard, then zstd). 2: `seen` holds the action kinds
/// counted in popularity; 1 (and the JSON rows before it) had a plain set.
const FORMAT: u8 = 2;
const LEGACY_FORMAT: u8 = 1;

/// A sequence as formats before 2 stored it.
#[derive(serde::Deserialize)]
struct Legacy {
    position: u32,
    last_time: i64,
    recent: std::collections::VecDeque<(crate::model::Item, u32, f64)>,
    seen: rustc_hash::FxHashSet<crate::model::Item>,
    excluded: rustc_hash::FxHashSet<crate::model::Item>,
}

impl From<Legacy> for UserSequence {
    /// No kind counted yet: a repeat after the upgrade counts once more, at most.
    fn from(legacy: Legacy) -> Self {
        Self {
            position: legacy.position,
            last_time: legacy.last_time,
            recent: legacy.recent,
            seen: legacy.seen.into_iter().map(|item| (item, 0)).collect(),
            excluded: legacy.excluded,
        }
    }
}

/// Largest decompressed sequence accepted.
const MAX_DECODED_BYTES: usize = 64 << 20;

/// The binary record of a sequence.
pub fn encode(sequence: &UserSequence) -> anyhow::Result<Vec<u8>> {
    let raw = postcard::to_stdvec(sequence).context("Failed to serialise a sequence")?;
    let mut out = vec![FORMAT];
    out.extend(zstd::bulk::compress(&raw, 1).context("Failed to compress a sequence")?);
    Ok(out)
}

/// A sequence from its binary record.
pub fn decode(bytes: &[u8]) -> anyhow::Result<UserSequence> {
    let (&format, body) = bytes.split_first().context("empty sequence record")?;
    anyhow::ensure!(
        format == FORMAT || format == LEGACY_FORMAT,
        "unknown sequence format {format}"
    );
    let raw = zstd::bulk::decompress(body, MAX_DECODED_BYTES).context("a sequence does not decompress")?;
    if format == LEGACY_FORMAT {
        let legacy: Legacy = postcard::from_bytes(&raw).context("a sequence does not decode")?;
        return Ok(legacy.into());
    }
    postcard::from_bytes(&raw).context("a sequence does not decode")
}

/// The stored sequences of these users.
pub async fn load(db: &impl ConnectionTrait, users: &[Uuid]) -> anyhow::Result<HashMap<Uuid, UserSequence>> {
    let sql = "SELECT user_id, data, state FROM user_sequences WHERE user_id = ANY($1)";
    let rows = db
        .query_all(statement(sql, vec![users.to_vec().into()]))
        .await
        .context("Failed to load sequences")?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let user: Uuid = row.try_get("", "user_id")?;
        let data: Option<Vec<u8>> = row.try_get("", "data")?;
        let sequence = match data {
            Some(bytes) => decode(&bytes).with_context(|| format!("the sequence of {user}"))?,
            None => {
                let state: Option<serde_json::Value> = row.try_get("", "state")?;
                serde_json::from_value::<Legacy>(state.context("a sequence row without data")?)
                    .with_context(|| format!("the JSON sequence of {user} does not decode"))?
                    .into()
            }
        };
        out.insert(user, sequence);
    }
    Ok(out)
}

/// Writes these users' sequences (sorted: concurrent writers lock rows in one order).
pub async fn save(txn: &DatabaseTransaction, sequences: &[(Uuid, &UserSequence)]) -> anyhow::Result<()> {
    if sequences.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&(Uuid, &UserSequence)> = sequences.iter().collect();
    sorted.sort_by_key(|(id, _)| *id);
    let ids: Vec<Uuid> = sorted.iter().map(|(id, _)| *id).collect();
    let data: Vec<Vec<u8>> = sorted
        .iter()
        .map(|(_, s)| encode(s))
        .collect::<anyhow::Result<_>>()?;
    let sql = "INSERT INTO user_sequences (user_id, data) SELECT * FROM UNNEST($1::uuid[], $2::bytea[]) \
               ON CONFLICT (user_id) DO UPDATE SET data = EXCLUDED.data, state = NULL";
    txn.execute(statement(sql, vec![ids.into(), data.into()]))
        .await
        .context("Failed to save sequences")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sequence::{Interaction, PairWeights};
    use crate::model::ModelParams;

    #[test]
    fn a_sequence_survives_its_binary_record() {
        let weights = PairWeights::new(&ModelParams::default());
        let mut sequence = UserSequence::default();
        for (item, time) in [(3, 10), (7, 20), (3, 30), (9, 30)] {
            sequence.observe(Interaction::implicit(item, time), &weights, &mut Vec::new());
        }
        assert_eq!(decode(&encode(&sequence).unwrap()).unwrap(), sequence);
        assert!(decode(&[FORMAT, 1, 2]).is_err());
        assert!(decode(&[]).is_err());
    }
}
