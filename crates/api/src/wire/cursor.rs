//! `/v2` list pages: opaque keyset cursors, `limit` 1 to 1000, the next page's cursor in the body
//! and in an RFC 8288 `Link: <…>; rel="next"` header.
//!
//! A cursor holds the id of the last row a page gave; the next page is the rows after it, so a
//! walk neither skips nor repeats rows however many are added meanwhile (an offset would).
//!
//! The pipeline metadata has no row ids: its cursors hold the position of the next row in the
//! result's one documented order. The archive changes only when pipelines publish, so positions
//! hold between publications; a keyset on the sort columns instead would cost a sort per page.

use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sluice_domain::page::Page;

use crate::ApiError;

const PREFIX: &str = "after:";
const OFFSET_PREFIX: &str = "from:";
const ORDERED_PREFIX: &str = "key:";

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

/// Where a page of a list in `order` (its name, as a client gives it) starts: after the row with
/// this id and sort time. A cursor is bound to its order: given with another, it is refused
/// rather than read as a place in an order it was not taken from.
pub fn ordered_after(cursor: Option<&str>, order: &str) -> Result<Option<CursorKey>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let text: String = decode_with(cursor, ORDERED_PREFIX)?;
    let invalid = || ApiError::invalid_field("/cursor", "is not a cursor this API gave");
    let mut parts = text.splitn(3, ':');
    let (Some(given_order), Some(id), Some(time)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if given_order != order {
        return Err(ApiError::invalid_field(
            "/cursor",
            format!(
                "belongs to order_by={given_order}: keep the order a walk started with, or start \
                 again without a cursor"
            ),
        ));
    }
    let id = id.parse().map_err(|_| invalid())?;
    let time = match time {
        "" => None,
        time => Some(
            DateTime::parse_from_rfc3339(time)
                .map_err(|_| invalid())?
                .with_timezone(&Utc),
        ),
    };
    Ok(Some(CursorKey { id, time }))
}

/// The row a cursor of an ordered list names: its id and its time in the ordered field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorKey {
    pub id: i64,
    pub time: Option<DateTime<Utc>>,
}

/// The cursor of the page after the row with this id and sort time, in `order`.
pub fn ordered_cursor(order: &str, id: i64, time: Option<DateTime<Utc>>) -> String {
    let time = time
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("{ORDERED_PREFIX}{order}:{id}:{time}"))
}

/// The orders of a list kept in the order its items were created (by id): `created_at`, and
/// `-created_at` for the newest first.
pub const CREATED_ORDERS: [&str; 2] = ["created_at", "-created_at"];

/// A page of a list in creation order, as `limit`, `cursor` and `order_by` ask for it.
#[derive(Debug, Clone, Copy)]
pub struct CreatedPage {
    pub page: Page,
    order: &'static str,
}

impl CreatedPage {
    /// # Errors
    /// 422 at `/order_by` for an order not in [`CREATED_ORDERS`], at `/limit` or `/cursor` for
    /// a limit out of range or a cursor of another order.
    pub fn parse(
        limit: Option<u64>,
        cursor: Option<&str>,
        order_by: Option<&str>,
    ) -> Result<Self, ApiError> {
        let order = match order_by {
            None => CREATED_ORDERS[0],
            Some(raw) => CREATED_ORDERS
                .into_iter()
                .find(|o| *o == raw)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "/order_by",
                        format!("must be one of {}", CREATED_ORDERS.join(", ")),
                    )
                })?,
        };
        let after = ordered_after(cursor, order)?.map(|key| key.id);
        let page = Page::keyset(limit, after)?
            .one_more()
            .newest_first(order.starts_with('-'));
        Ok(Self { page, order })
    }

    /// The page of `rows` (fetched with [`Self::page`]), each row's id given by `id`.
    pub fn list<R, T>(
        &self,
        rows: Vec<R>,
        id: impl Fn(&R) -> i64,
        item: impl Fn(&R) -> T,
    ) -> ListPage<T> {
        let order = self.order;
        ListPage::keyed(
            rows,
            self.page.limit(),
            |r| ordered_cursor(order, id(r), None),
            item,
        )
    }
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
    /// How many items the list holds across all its pages, when `count=true` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub total: Option<u64>,
}

impl<T> ListPage<T> {
    /// The page of `rows` (fetched with [`page`], so one more than `limit` when more follow),
    /// each row's id given by `id`.
    pub fn new<R>(
        rows: Vec<R>,
        page: Page,
        id: impl Fn(&R) -> i64,
        item: impl Fn(&R) -> T,
    ) -> Self {
        Self::keyed(rows, page.limit(), |r| encode(id(r)), item)
    }

    /// The page of `rows`, fetched with one more than the page's limit (`fetched_limit`) so that
    /// a row beyond says another page follows; `cursor` gives the cursor that starts after a row.
    pub fn keyed<R>(
        mut rows: Vec<R>,
        fetched_limit: u64,
        cursor: impl Fn(&R) -> String,
        item: impl Fn(&R) -> T,
    ) -> Self {
        let limit = usize::try_from(fetched_limit.saturating_sub(1)).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more.then(|| rows.last().map(&cursor)).flatten();
        Self {
            items: rows.iter().map(item).collect(),
            next_cursor,
            total: None,
        }
    }

    /// This page with the list's total.
    #[must_use]
    pub fn with_total(self, total: Option<u64>) -> Self {
        Self { total, ..self }
    }

    /// A page of a result of `total` rows, read at `page` (from [`offset_page`]). The metadata
    /// queries count their rows anyway, so their pages always say the total.
    pub fn at_offset(items: Vec<T>, page: Page, total: u64) -> Self {
        let next = page.offset() + items.len() as u64;
        Self {
            next_cursor: (!items.is_empty() && next < total).then(|| encode_offset(next)),
            items,
            total: Some(total),
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

impl<T: Serialize> ListPage<T> {
    /// The 200 answer: this page, with a `Link` to the next one when there is one.
    pub fn respond(self, req: &HttpRequest) -> HttpResponse {
        let mut response = HttpResponse::Ok();
        if let Some(link) = self.link(req) {
            response.insert_header(("Link", link));
        }
        response.json(self)
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
    fn an_ordered_cursor_round_trips_and_is_bound_to_its_order() {
        let time = DateTime::parse_from_rfc3339("2026-12-07T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let cursor = ordered_cursor("-started_at", 7, Some(time));
        assert_eq!(
            ordered_after(Some(&cursor), "-started_at").unwrap(),
            Some(CursorKey {
                id: 7,
                time: Some(time)
            })
        );
        let untimed = ordered_cursor("created_at", 9, None);
        assert_eq!(
            ordered_after(Some(&untimed), "created_at").unwrap(),
            Some(CursorKey { id: 9, time: None })
        );
        assert!(ordered_after(Some(&cursor), "started_at").is_err());
        assert!(ordered_after(Some(&encode(7)), "started_at").is_err());
        assert_eq!(ordered_after(None, "created_at").unwrap(), None);
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
