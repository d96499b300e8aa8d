//! Ratings CSVs in the MovieLens layout (`userId,movieId,rating,timestamp`, with a header).
use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::model::Item;

/// One interaction; `row` is its position in the file (the split's tie-breaker).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    pub user: u32,
    /// Dense index; ordered like the external ids, so ties broken by index are broken by id.
    pub item: Item,
    /// Seconds since the epoch.
    pub time: i64,
    pub row: usize,
}

/// Ratings with the dense item index ↔ external id mapping.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub ratings: Vec<Rating>,
    /// External id of each dense item index.
    pub item_ids: Vec<i64>,
}

#[derive(Deserialize)]
struct Row {
    #[serde(rename = "userId")]
    user: u32,
    #[serde(rename = "movieId")]
    item: i64,
    #[allow(dead_code)]
    rating: f64,
    timestamp: i64,
}

fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("Failed to open {}", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<Vec<Row>, _>>()
        .with_context(|| {
            format!(
                "{} is not in the userId,movieId,rating,timestamp layout",
                path.display()
            )
        })
}

/// Loads one or more files with one shared item index (rows numbered per file, in order).
pub fn load(paths: &[&Path]) -> anyhow::Result<Vec<Dataset>> {
    let files: Vec<Vec<Row>> = paths
        .iter()
        .map(|p| read_rows(p))
        .collect::<anyhow::Result<_>>()?;
    let mut ids: Vec<i64> = files.iter().flatten().map(|r| r.item).collect();
    ids.sort_unstable();
    ids.dedup();
    let index: HashMap<i64, Item> = ids.iter().enumerate().map(|(i, &id)| (id, i as Item)).collect();
    Ok(files
        .into_iter()
        .map(|rows| Dataset {
            ratings: rows
                .iter()
                .enumerate()
                .map(|(row, r)| Rating {
                    user: r.user,
                    item: index[&r.item],
                    time: r.timestamp,
                    row,
                })
                .collect(),
            item_ids: ids.clone(),
        })
        .collect())
}

/// `movieId,title,genres` (genres `|`-separated) → the genres of each dense item.
pub fn load_genres(path: &Path, item_ids: &[i64]) -> anyhow::Result<HashMap<Item, Vec<String>>> {
    #[derive(Deserialize)]
    struct Movie {
        #[serde(rename = "movieId")]
        id: i64,
        genres: String,
    }
    let index: HashMap<i64, Item> = item_ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i as Item))
        .collect();
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("Failed to open {}", path.display()))?;
    let mut genres = HashMap::new();
    for movie in reader.deserialize::<Movie>() {
        let movie =
            movie.with_context(|| format!("{} is not in the movieId,title,genres layout", path.display()))?;
        if let Some(&item) = index.get(&movie.id) {
            let list = movie
                .genres
                .split('|')
                .filter(|g| *g != "(no genres listed)")
                .map(str::to_owned)
                .collect();
            genres.insert(item, list);
        }
    }
    Ok(genres)
}
