//! Cursor pagination over UUIDv7 ids (time-ordered, so new items land on later pages).
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

use super::ApiError;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// The page size asked for, checked: 1 to 200, default 50.
pub fn limit(requested: Option<u64>) -> Result<u64, ApiError> {
    let limit = requested.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}."
        )))
    }
}

/// The opaque cursor that continues after `last`.
pub fn encode_cursor(last: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

/// The id a cursor continues after; 400 for anything this API did not hand out.
pub fn decode_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::bad_request("cursor is not a cursor this API returned."))
}

/// Given up to `limit + 1` rows fetched, keeps `limit` and returns the next cursor if there
/// was one more.
pub fn paginate<T>(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(|row| encode_cursor(id(row)));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_400() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        assert_eq!(decode_cursor("!!").unwrap_err().problem().status, 400);
        assert_eq!(decode_cursor("AAAA").unwrap_err().problem().status, 400);
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).unwrap(), 50);
        assert!(limit(Some(0)).is_err() && limit(Some(201)).is_err());
    }

    #[test]
    fn paginate_keeps_limit_rows_and_points_after_the_last() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (page, next) = paginate(ids.clone(), 2, |id| *id);
        assert_eq!(page, ids[..2]);
        assert_eq!(next, Some(encode_cursor(ids[1])));
        assert_eq!(paginate(ids.clone(), 3, |id| *id).1, None);
    }
}
