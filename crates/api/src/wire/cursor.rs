//! `/v2` list pages: opaque keyset cursors, `limit` 1 to 1000, the next page's cursor in the body
//! and in an RFC 8288 `Link: <…>; rel="next"` header.
//!
//! A cursor holds the id of the last row a page gave; the next page is the rows after it, so a
//! walk neither skips nor repeats rows however many are added meanwhile (an offset would).
//!
//! The pipeline metadata has no row ids: its cursors hold the position of the next row in the
//! result's one documented order. The archive changes only when pipelines publish, so positions
//! hold between publications; a keyset on the sort columns instead would cost a sort per page.

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sluice_domain::page::Page;

use crate::ApiError;

const PREFIX: &str = "after:";
const OFFSET_PREFIX: &str = "from:";

/// The page a request asks for: `limit` rows after its `cursor`.
pub fn page(limit: Option<u64>, cursor: Option<&str>) -> Result<Page, ApiError> {
    let after = cursor.map(decode).transpose()?;
    // One more than asked, to know whether a next page exists without counting.
    Ok(Page::keyset(limit, after)?.one_more())
}

/// The page a request for metadata asks for: `limit` rows from its `cursor`'s position.
pub fn offset_page(limit: Option<u64>, cursor: Option<&str>) -> Result<Page, ApiError> {
    let offset = cursor.map(decode_offset).transpose()?.unwrap_or(0);
    Ok(Page::wide(limit, offset)?)
}

fn decode<T: std::str::FromStr>(cursor: &str) -> Result<T, ApiError> {
    decode_with(cursor, PREFIX)
}

fn decode_offset(cursor: &str) -> Result<u64, ApiError> {
    decode_with(cursor, OFFSET_PREFIX)
}

fn decode_with<T: std::str::FromStr>(cursor: &str, prefix: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(prefix)?.parse().ok())
        .ok_or_else(|| ApiError::invalid_field("/cursor", "is not a cursor this API gave"))
}

fn encode(after: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}{after}"))
}

fn encode_offset(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{OFFSET_PREFIX}{offset}"))
}

/// One page of a list, as every `/v2` list answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// The cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

impl<T> ListPage<T> {
    /// The page of `rows` (fetched with [`page`], so one more than `limit` when more follow),
    /// each row's id given by `id`.
    pub fn new<R>(
        mut rows: Vec<R>,
        page: Page,
        id: impl Fn(&R) -> i64,
        item: impl Fn(&R) -> T,
    ) -> Self {
        let limit = usize::try_from(page.limit().saturating_sub(1)).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more.then(|| rows.last().map(|r| encode(id(r)))).flatten();
        Self {
            items: rows.iter().map(item).collect(),
            next_cursor,
        }
    }

    /// A page of a result of `total` rows, read at `page` (from [`offset_page`]).
    pub fn at_offset(items: Vec<T>, page: Page, total: u64) -> Self {
        let next = page.offset() + items.len() as u64;
        Self {
            next_cursor: (!items.is_empty() && next < total).then(|| encode_offset(next)),
            items,
        }
    }

    /// `Link: <path?…&cursor=…>; rel="next"` when there is a next page.
    pub fn link(&self, req: &HttpRequest) -> Option<String> {
        let cursor = self.next_cursor.as_ref()?;
        let mut query: Vec<(String, String)> = url_pairs(req.query_string())
            .filter(|(k, _)| k != "cursor")
            .collect();
        query.push(("cursor".into(), cursor.clone()));
        let query = query
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        Some(format!("<{}?{query}>; rel=\"next\"", req.path()))
    }
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
}

fn escape(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|pair| pair.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        assert_eq!(decode::<i64>(&encode(42)).unwrap(), 42);
        assert_eq!(decode_offset(&encode_offset(7)).unwrap(), 7);
        for bad in ["", "!!", "YWZ0ZXI6eA", "MTIz"] {
            assert!(decode::<i64>(bad).is_err(), "{bad}");
            assert!(decode_offset(bad).is_err(), "{bad}");
        }
        assert!(
            decode_offset(&encode(42)).is_err(),
            "an id is not a position"
        );
        assert!(offset_page(None, Some(&encode_offset(u64::MAX))).is_err());
    }

    #[test]
    fn a_page_holds_limit_rows_and_a_cursor_only_when_more_follow() {
        let page = page(Some(2), None).unwrap();
        let full: ListPage<i64> = ListPage::new(vec![1, 2, 3], page, |r| *r, |r| *r);
        assert_eq!(full.items, [1, 2]);
        assert_eq!(
            decode::<i64>(full.next_cursor.as_deref().unwrap()).unwrap(),
            2
        );
        let last: ListPage<i64> = ListPage::new(vec![1, 2], page, |r| *r, |r| *r);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn a_metadata_page_has_a_cursor_to_the_next_row_until_the_total_is_reached() {
        let first = offset_page(Some(2), None).unwrap();
        let page = ListPage::at_offset(vec![1, 2], first, 5);
        let next = offset_page(Some(2), page.next_cursor.as_deref()).unwrap();
        assert_eq!(next.offset(), 2);
        let last = ListPage::at_offset(
            vec![5],
            offset_page(Some(2), Some(&encode_offset(4))).unwrap(),
            5,
        );
        assert_eq!(last.next_cursor, None);
        assert_eq!(
            ListPage::<i64>::at_offset(vec![], first, 5).next_cursor,
            None
        );
    }
}
