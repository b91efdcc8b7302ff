//! Paging of lists.

/// The largest page a list returns; a larger request is refused, not clamped.
pub const MAX_LIMIT: u64 = 100;
pub const DEFAULT_LIMIT: u64 = 50;
/// The largest offset a list takes: an offset and a limit together fit the databases' and the
/// engine's signed 64-bit counts.
pub const MAX_OFFSET: u64 = i64::MAX as u64 - MAX_LIMIT;

/// The largest page a keyset (cursor) list returns.
pub const MAX_KEYSET_LIMIT: u64 = 1000;

/// A page of a list: `limit` rows from `offset`, or (keyset paging, for `/v2` cursors) the first
/// `limit` rows whose id comes after `after`, which stays right while rows are inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: u64,
    offset: u64,
    after: Option<i64>,
    /// Newest (highest id) first; `after` then means "below".
    descending: bool,
}

impl Page {
    /// # Errors
    /// `Invalid` pointing at `limit` when it is 0 or above [`MAX_LIMIT`], at `offset` when it is
    /// above [`MAX_OFFSET`].
    pub fn new(limit: Option<u64>, offset: Option<u64>) -> crate::Result<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(crate::Error::invalid(
                crate::FieldPath::new("limit"),
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(crate::Error::invalid(
                crate::FieldPath::new("offset"),
                format!("must be between 0 and {MAX_OFFSET}"),
            ));
        }
        Ok(Self {
            limit,
            offset,
            after: None,
            descending: false,
        })
    }

    /// `limit` (1 to [`MAX_KEYSET_LIMIT`], default [`DEFAULT_LIMIT`]) rows from `offset`: the
    /// pages `/v2` cursors walk through the metadata, which has no row ids to key on.
    ///
    /// # Errors
    /// `Invalid` pointing at `limit` or `offset` when either is out of range.
    pub fn wide(limit: Option<u64>, offset: u64) -> crate::Result<Self> {
        let limit = Self::keyset(limit, None)?.limit;
        // The offset and the largest limit together stay within signed 64 bits.
        let most = i64::MAX as u64 - MAX_KEYSET_LIMIT;
        if offset > most {
            return Err(crate::Error::invalid(
                crate::FieldPath::new("offset"),
                format!("must be between 0 and {most}"),
            ));
        }
        Ok(Self {
            limit,
            offset,
            after: None,
            descending: false,
        })
    }

    /// The first `limit` (1 to [`MAX_KEYSET_LIMIT`], default [`DEFAULT_LIMIT`]) rows after the
    /// row with id `after` (from the start when `None`).
    ///
    /// # Errors
    /// `Invalid` pointing at `limit` when it is out of range.
    pub fn keyset(limit: Option<u64>, after: Option<i64>) -> crate::Result<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_KEYSET_LIMIT {
            return Err(crate::Error::invalid(
                crate::FieldPath::new("limit"),
                format!("must be between 1 and {MAX_KEYSET_LIMIT}"),
            ));
        }
        Ok(Self {
            limit,
            offset: 0,
            after,
            descending: false,
        })
    }

    /// This page with one row more: whether it comes back says whether another page follows,
    /// without counting.
    #[must_use]
    pub fn one_more(self) -> Self {
        Self {
            limit: self.limit + 1,
            ..self
        }
    }

    /// This page in id order from the highest: the rows below `after`, newest first.
    #[must_use]
    pub fn newest_first(self, descending: bool) -> Self {
        Self { descending, ..self }
    }

    /// Whether the rows are in id order from the highest.
    pub fn descending(&self) -> bool {
        self.descending
    }

    /// Whether a row with this id comes after the page's start, in its direction.
    pub fn admits_id(&self, id: i64) -> bool {
        match (self.after, self.descending) {
            (None, _) => true,
            (Some(after), false) => id > after,
            (Some(after), true) => id < after,
        }
    }

    /// The id the rows of a keyset page come after.
    pub fn after(&self) -> Option<i64> {
        self.after
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The offset and limit as in-memory positions (an offset past the addressable is past the
    /// end anyway).
    pub fn window(&self) -> (usize, usize) {
        (
            usize::try_from(self.offset).unwrap_or(usize::MAX),
            usize::try_from(self.limit).unwrap_or(usize::MAX),
        )
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
            after: None,
            descending: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_past_signed_64_bits_is_refused() {
        assert!(Page::new(None, Some(MAX_OFFSET)).is_ok());
        assert!(Page::new(None, Some(u64::MAX)).is_err());
        assert!(Page::new(None, Some(i64::MAX as u64)).is_err());
        assert!(Page::new(Some(0), None).is_err());
    }
}
