//! Which flows a list asks for, in which order, and where a page of them starts.
//!
//! `created_at` order is id order: a flow's id is given when it is stored, as its `created_at`
//! is, so the two agree (but for clocks of replicas that disagree by a moment) and the order
//! needs no index of its own. `started_at` and `finished_at` are empty until a flow starts or
//! ends: such flows come after every flow that has the time, in either direction, by id.

use chrono::{DateTime, Utc};

use crate::flow::{FlowId, FlowState, FlowView};
use crate::flow_input::FlowInputId;
use crate::{Error, FieldPath, Result};

/// The field a list of flows is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowOrderField {
    CreatedAt,
    StartedAt,
    FinishedAt,
}

impl FlowOrderField {
    pub const ALL: [Self; 3] = [Self::CreatedAt, Self::StartedAt, Self::FinishedAt];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::StartedAt => "started_at",
            Self::FinishedAt => "finished_at",
        }
    }

    /// The time this field orders by, for the flows that have it.
    pub fn time_of(self, view: &FlowView) -> Option<DateTime<Utc>> {
        match self {
            Self::CreatedAt => Some(view.flow.created_utc),
            Self::StartedAt => view.output.started_utc,
            Self::FinishedAt => view.output.finished_utc,
        }
    }
}

/// An order of a list: a field, ascending or (`-field`) descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowOrder {
    pub field: FlowOrderField,
    pub descending: bool,
}

impl FlowOrder {
    /// Oldest first, the order when none is asked for.
    pub const OLDEST_FIRST: Self = Self {
        field: FlowOrderField::CreatedAt,
        descending: false,
    };

    /// Every order a client may ask for, as it names them: `created_at`, `-created_at`, ….
    pub fn names() -> Vec<String> {
        FlowOrderField::ALL
            .iter()
            .flat_map(|f| [f.as_str().to_owned(), format!("-{}", f.as_str())])
            .collect()
    }

    /// `created_at`, `-started_at`, ….
    ///
    /// # Errors
    /// `Invalid` at `order_by` for any other text, naming the orders there are.
    pub fn parse(raw: &str) -> Result<Self> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, raw),
        };
        FlowOrderField::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .map(|field| Self { field, descending })
            .ok_or_else(|| {
                Error::invalid(
                    FieldPath::new("order_by"),
                    format!("must be one of {}", Self::names().join(", ")),
                )
            })
    }

    /// The name a client gives for this order.
    pub fn name(self) -> String {
        let sign = if self.descending { "-" } else { "" };
        format!("{sign}{}", self.field.as_str())
    }

    /// Where the page after `view` starts in this order.
    pub fn key_of(self, view: &FlowView) -> FlowKey {
        FlowKey {
            time: match self.field {
                // Id order: the time adds nothing.
                FlowOrderField::CreatedAt => None,
                field => field.time_of(view),
            },
            id: view.flow.id,
        }
    }
}

/// A flow's place in an order: its time in the ordered field (none when it has none, or when the
/// order is id order) and its id, which breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub time: Option<DateTime<Utc>>,
    pub id: FlowId,
}

/// Which flows: each filter left empty takes every flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowFilter {
    /// Flows in any of these states.
    pub states: Vec<FlowState>,
    /// Flows of one of these flow input versions (none: no flow).
    pub inputs: Option<Vec<FlowInputId>>,
    /// Flows created at or after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Flows created before this time.
    pub created_before: Option<DateTime<Utc>>,
}

impl FlowFilter {
    /// Whether `view` passes: the in-memory form of what a store's query asks.
    pub fn admits(&self, view: &FlowView) -> bool {
        (self.states.is_empty() || self.states.contains(&view.output.state))
            && self
                .inputs
                .as_ref()
                .is_none_or(|inputs| inputs.contains(&view.flow.flow_input_id))
            && self
                .created_after
                .is_none_or(|after| view.flow.created_utc >= after)
            && self
                .created_before
                .is_none_or(|before| view.flow.created_utc < before)
    }
}

/// A page of flows: `limit` rows in `order`, after the flow at `after` (from the start when
/// none), skipping `offset` (`/v1`'s pages; `/v2` walks by key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowPage {
    pub order: FlowOrder,
    pub after: Option<FlowKey>,
    pub limit: u64,
    pub offset: u64,
}

impl FlowPage {
    /// Whether `view` comes after this page's start in its order: the in-memory form of the
    /// store's keyset condition.
    pub fn comes_after_start(&self, view: &FlowView) -> bool {
        let Some(after) = self.after else {
            return true;
        };
        std::cmp::Ordering::Greater == self.compare(&self.order.key_of(view), &after)
    }

    /// How two keys compare in this page's order.
    pub fn compare(&self, a: &FlowKey, b: &FlowKey) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let by_id = if self.order.descending {
            b.id.0.cmp(&a.id.0)
        } else {
            a.id.0.cmp(&b.id.0)
        };
        match (a.time, b.time) {
            // Flows without the time come last whichever the direction.
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => by_id,
            (Some(x), Some(y)) => {
                let by_time = if self.order.descending {
                    y.cmp(&x)
                } else {
                    x.cmp(&y)
                };
                by_time.then(by_id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_parsed_from_their_names_and_others_are_refused() {
        for name in FlowOrder::names() {
            assert_eq!(FlowOrder::parse(&name).unwrap().name(), name);
        }
        for bad in ["", "-", "id", "--created_at", "Created_at", "created_at "] {
            assert!(FlowOrder::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flows_without_the_time_come_last_in_either_direction() {
        let t = |s: i64| Some(DateTime::from_timestamp(s, 0).unwrap());
        let key = |time, id| FlowKey {
            time,
            id: FlowId(id),
        };
        for descending in [false, true] {
            let page = FlowPage {
                order: FlowOrder {
                    field: FlowOrderField::StartedAt,
                    descending,
                },
                after: None,
                limit: 10,
                offset: 0,
            };
            let mut keys = [key(None, 2), key(t(5), 1), key(None, 1), key(t(9), 3)];
            keys.sort_by(|a, b| page.compare(a, b));
            let ids: Vec<i64> = keys.iter().map(|k| k.id.0).collect();
            if descending {
                assert_eq!(ids, [3, 1, 2, 1]);
            } else {
                assert_eq!(ids, [1, 3, 1, 2]);
            }
            assert!(keys[2].time.is_none() && keys[3].time.is_none());
        }
    }
}
