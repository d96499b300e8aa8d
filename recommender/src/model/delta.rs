//! A batch of increments to the global model state, and its compact binary form.
//!
//! A flush turns one partition's batch into a [`Delta`] (item counts `N`, popularity, pair
//! counts `C`), stores it in Postgres with the partition's offset, and every instance adds it to
//! its in-memory [`Replica`](super::replica::Replica). A snapshot of the replica is a list of
//! deltas too (its chunks: the totals of a range of items, added to an empty replica).
//!
//! Encoding: a format byte, then zstd over postcard. Item numbers are stored as gaps between
//! sorted values (small varints) and the weights apart from them, which compresses well. Bytes
//! from the database are untrusted like any input: decoding checks every length, order and
//! number, and bounds the decompressed size.
use std::io::Read;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::score::{pair_of, Counts};
use super::Item;

/// Increments, each list sorted by item without repeats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// `N_i` increments.
    pub items: Vec<(Item, f64)>,
    /// Decayed popularity increments, as logarithms (see [`super::popularity`]): applying one
    /// is a log-sum-exp, not an addition.
    pub popularity: Vec<(Item, f64)>,
    /// `C[from][to]` increments by row: `(from, [(to, weight)])`.
    pub rows: Vec<(Item, Vec<(Item, f64)>)>,
}

/// Why bytes are not a delta.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown delta format {0}")]
    Format(u8),
    #[error("empty delta record")]
    Empty,
    #[error("the record does not decompress: {0}")]
    Decompress(#[source] std::io::Error),
    #[error("the record decompresses to more than {MAX_DECODED_BYTES} bytes")]
    TooLarge,
    #[error("the record does not decode: {0}")]
    Decode(#[source] postcard::Error),
    #[error("the record is inconsistent: {0}")]
    Invalid(&'static str),
}

/// The current encoding: 2 stores popularity as logarithms; 1 stored plain sums (read and
/// converted, so records written before the change still apply).
const FORMAT: u8 = 2;

/// The encoding whose popularity values were plain sums.
const FORMAT_LINEAR_POPULARITY: u8 = 1;

/// Largest decompressed record accepted (a decompression bomb stops here).
pub const MAX_DECODED_BYTES: u64 = 1 << 30;

/// zstd level: fast (a flush encodes, every instance decodes), ~3x smaller than raw.
const LEVEL: i32 = 1;

/// The serialised shape: item numbers as gaps, weights separately.
#[derive(Serialize, Deserialize)]
struct Wire {
    items: Vec<u32>,
    n: Vec<f64>,
    popular: Vec<u32>,
    popularity: Vec<f64>,
    from: Vec<u32>,
    lengths: Vec<u32>,
    to: Vec<u32>,
    weights: Vec<f64>,
}

impl Delta {
    /// The delta of a flush: its count increments and popularity increments.
    pub fn new(counts: &Counts, popularity: &FxHashMap<Item, f64>) -> Self {
        let mut items: Vec<(Item, f64)> = counts.items.iter().map(|(&i, &n)| (i, n)).collect();
        items.sort_unstable_by_key(|(i, _)| *i);
        let mut popular: Vec<(Item, f64)> = popularity.iter().map(|(&i, &p)| (i, p)).collect();
        popular.sort_unstable_by_key(|(i, _)| *i);
        let mut pairs: Vec<(u64, f64)> = counts.pairs.iter().map(|(&k, &w)| (k, w)).collect();
        pairs.sort_unstable_by_key(|(k, _)| *k);
        let mut rows: Vec<(Item, Vec<(Item, f64)>)> = Vec::new();
        for (key, w) in pairs {
            let (from, to) = pair_of(key);
            match rows.last_mut() {
                Some((last, row)) if *last == from => row.push((to, w)),
                _ => rows.push((from, vec![(to, w)])),
            }
        }
        Self {
            items,
            popularity: popular,
            rows,
        }
    }

    /// True if it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.popularity.is_empty() && self.rows.is_empty()
    }

    /// Pair increments it holds.
    pub fn pairs(&self) -> usize {
        self.rows.iter().map(|(_, row)| row.len()).sum()
    }

    /// The binary record.
    pub fn encode(&self) -> std::io::Result<Vec<u8>> {
        let (items, n) = split_gaps(&self.items);
        let (popular, popularity) = split_gaps(&self.popularity);
        let from = gaps(self.rows.iter().map(|(f, _)| *f));
        let lengths = self.rows.iter().map(|(_, row)| row.len() as u32).collect();
        let mut to = Vec::with_capacity(self.pairs());
        let mut weights = Vec::with_capacity(self.pairs());
        for (_, row) in &self.rows {
            to.extend(gaps(row.iter().map(|(t, _)| *t)));
            weights.extend(row.iter().map(|(_, w)| *w));
        }
        let wire = Wire {
            items,
            n,
            popular,
            popularity,
            from,
            lengths,
            to,
            weights,
        };
        let raw = postcard::to_stdvec(&wire).map_err(std::io::Error::other)?;
        let mut out = vec![FORMAT];
        out.extend(zstd::bulk::compress(&raw, LEVEL)?);
        Ok(out)
    }

    /// Reads a record written by [`Delta::encode`], checking everything.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&format, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if format != FORMAT && format != FORMAT_LINEAR_POPULARITY {
            return Err(DecodeError::Format(format));
        }
        let mut raw = Vec::new();
        zstd::stream::read::Decoder::new(body)
            .map_err(DecodeError::Decompress)?
            .take(MAX_DECODED_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(DecodeError::Decompress)?;
        if raw.len() as u64 > MAX_DECODED_BYTES {
            return Err(DecodeError::TooLarge);
        }
        let wire: Wire = postcard::from_bytes(&raw).map_err(DecodeError::Decode)?;
        let items = join_gaps(&wire.items, &wire.n)?;
        let mut popularity = join_gaps(&wire.popular, &wire.popularity)?;
        if format == FORMAT_LINEAR_POPULARITY {
            for (_, p) in &mut popularity {
                *p = super::popularity::from_linear(*p);
            }
        }
        if wire.from.len() != wire.lengths.len() {
            return Err(DecodeError::Invalid("rows and row lengths differ"));
        }
        if wire.to.len() != wire.weights.len() {
            return Err(DecodeError::Invalid("pairs and weights differ"));
        }
        let from = ungap(&wire.from)?;
        let mut rows = Vec::with_capacity(from.len());
        let mut start = 0usize;
        for (item, &length) in from.into_iter().zip(&wire.lengths) {
            let end = start
                .checked_add(length as usize)
                .filter(|&end| end <= wire.to.len())
                .ok_or(DecodeError::Invalid("row lengths exceed the pairs"))?;
            if length == 0 {
                return Err(DecodeError::Invalid("empty row"));
            }
            rows.push((item, join_gaps(&wire.to[start..end], &wire.weights[start..end])?));
            start = end;
        }
        if start != wire.to.len() {
            return Err(DecodeError::Invalid("pairs outside every row"));
        }
        Ok(Self {
            items,
            popularity,
            rows,
        })
    }
}

/// Sorted items as gaps (the first as itself) and their values.
fn split_gaps(values: &[(Item, f64)]) -> (Vec<u32>, Vec<f64>) {
    (
        gaps(values.iter().map(|(i, _)| *i)),
        values.iter().map(|(_, v)| *v).collect(),
    )
}

fn gaps(sorted: impl Iterator<Item = Item>) -> Vec<u32> {
    let mut previous = None;
    sorted
        .map(|item| {
            let gap = previous.map_or(item, |p: Item| item - p);
            previous = Some(item);
            gap
        })
        .collect()
}

/// Items back from gaps; every gap after the first must be positive (strictly sorted).
fn ungap(gaps: &[u32]) -> Result<Vec<Item>, DecodeError> {
    let mut out = Vec::with_capacity(gaps.len());
    let mut previous: Option<Item> = None;
    for &gap in gaps {
        let item = match previous {
            None => gap,
            Some(_) if gap == 0 => return Err(DecodeError::Invalid("items not strictly sorted")),
            Some(p) => p
                .checked_add(gap)
                .ok_or(DecodeError::Invalid("item number overflows"))?,
        };
        out.push(item);
        previous = Some(item);
    }
    Ok(out)
}

fn join_gaps(gaps: &[u32], values: &[f64]) -> Result<Vec<(Item, f64)>, DecodeError> {
    if gaps.len() != values.len() {
        return Err(DecodeError::Invalid("items and values differ"));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(DecodeError::Invalid("a value is not a finite number"));
    }
    Ok(ungap(gaps)?.into_iter().zip(values.iter().copied()).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::sequence::PairIncrement;

    fn counts(pairs: &[(Item, Item, f64)], items: &[(Item, f64)]) -> Counts {
        let mut counts = Counts::default();
        for &(from, to, weight) in pairs {
            counts.add_pair(PairIncrement { from, to, weight });
        }
        for &(item, n) in items {
            counts.add_item(item, n);
        }
        counts
    }

    #[test]
    fn a_delta_groups_pairs_by_row_in_item_order() {
        let popularity = [(7, 2.5)].into_iter().collect();
        let delta = Delta::new(
            &counts(&[(3, 1, 0.5), (1, 9, 1.0), (1, 2, 0.25)], &[(9, 1.0), (1, 2.0)]),
            &popularity,
        );
        assert_eq!(delta.items, vec![(1, 2.0), (9, 1.0)]);
        assert_eq!(delta.popularity, vec![(7, 2.5)]);
        assert_eq!(
            delta.rows,
            vec![(1, vec![(2, 0.25), (9, 1.0)]), (3, vec![(1, 0.5)])]
        );
        assert_eq!(delta.pairs(), 3);
    }

    #[test]
    fn records_of_the_linear_popularity_format_decode_as_logarithms() {
        let popularity = [(2, 8.0), (5, 0.0)].into_iter().collect();
        let delta = Delta::new(&counts(&[(2, 5, 1.0)], &[(2, 1.0)]), &popularity);
        let mut bytes = delta.encode().unwrap();
        assert_eq!(Delta::decode(&bytes).unwrap(), delta);
        bytes[0] = FORMAT_LINEAR_POPULARITY;
        let old = Delta::decode(&bytes).unwrap();
        assert_eq!(
            old.popularity,
            vec![(2, 3.0), (5, crate::model::popularity::NONE)]
        );
        assert_eq!((old.items, old.rows), (delta.items, delta.rows));
    }

    #[test]
    fn garbage_and_tampered_records_are_errors_not_panics() {
        assert!(matches!(Delta::decode(&[]), Err(DecodeError::Empty)));
        assert!(matches!(Delta::decode(&[9, 1, 2]), Err(DecodeError::Format(9))));
        assert!(matches!(
            Delta::decode(&[FORMAT, 1, 2, 3]),
            Err(DecodeError::Decompress(_))
        ));
        let unsorted = Wire {
            items: vec![5, 0],
            n: vec![1.0, 1.0],
            popular: vec![],
            popularity: vec![],
            from: vec![],
            lengths: vec![],
            to: vec![],
            weights: vec![],
        };
        let mut bytes = vec![FORMAT];
        bytes.extend(zstd::bulk::compress(&postcard::to_stdvec(&unsorted).unwrap(), 1).unwrap());
        assert!(matches!(Delta::decode(&bytes), Err(DecodeError::Invalid(_))));
        let overlong = Wire {
            items: vec![],
            n: vec![],
            popular: vec![],
            popularity: vec![],
            from: vec![1],
            lengths: vec![3],
            to: vec![1, 1],
            weights: vec![1.0, 1.0],
        };
        let mut bytes = vec![FORMAT];
        bytes.extend(zstd::bulk::compress(&postcard::to_stdvec(&overlong).unwrap(), 1).unwrap());
        assert!(matches!(Delta::decode(&bytes), Err(DecodeError::Invalid(_))));
    }

    proptest! {
        #[test]
        fn every_delta_survives_encoding_exactly(
            pairs in prop::collection::vec((any::<u32>(), any::<u32>(), -1e6f64..1e6), 0..200),
            items in prop::collection::vec((any::<u32>(), 0f64..1e3), 0..50),
            popular in prop::collection::vec((any::<u32>(), -1e300f64..1e300), 0..50),
        ) {
            let popularity = popular.into_iter().collect();
            let delta = Delta::new(&counts(&pairs, &items), &popularity);
            prop_assert_eq!(Delta::decode(&delta.encode().unwrap()).unwrap(), delta);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut record = vec![FORMAT];
            record.extend(bytes);
            let _ = Delta::decode(&record);
        }
    }
}
