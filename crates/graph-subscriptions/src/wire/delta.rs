//! A page of a delta round on a folder's messages
//! (<https://learn.microsoft.com/graph/delta-query-messages>): rows, and either
//! `@odata.nextLink` (more pages) or `@odata.deltaLink` (the round is over; keep the link for
//! the next round).

use serde_json::Value;
use time::OffsetDateTime;

use super::parse_datetime;

/// One row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Row {
    /// The message's id.
    pub id: String,
    /// `@removed`: deleted or moved out of the folder.
    pub removed: bool,
    /// `isRead`, when selected.
    pub is_read: Option<bool>,
    /// `receivedDateTime`, when selected.
    pub received: Option<OffsetDateTime>,
}

/// A page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Page {
    /// Its rows (rows without an id are skipped).
    pub rows: Vec<Row>,
    /// The next page of this round.
    pub next_link: Option<String>,
    /// The link of the next round, on the round's last page.
    pub delta_link: Option<String>,
}

fn boolean(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        // Microsoft's own sample writes "isRead": "true".
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

impl Page {
    /// Parses a page.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let items = value
            .get("value")
            .and_then(Value::as_array)
            .ok_or("a delta page without a \"value\" array")?;
        let link = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let rows = items
            .iter()
            .filter_map(|item| {
                Some(Row {
                    id: item.get("id")?.as_str()?.to_owned(),
                    removed: item.get("@removed").is_some(),
                    is_read: boolean(item.get("isRead")),
                    received: item
                        .get("receivedDateTime")
                        .and_then(Value::as_str)
                        .and_then(parse_datetime),
                })
            })
            .collect();
        let page = Self {
            rows,
            next_link: link("@odata.nextLink"),
            delta_link: link("@odata.deltaLink"),
        };
        if page.next_link.is_none() && page.delta_link.is_none() {
            return Err("a delta page with neither @odata.nextLink nor @odata.deltaLink".into());
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsofts_sample_pages_parse() {
        let next = br##"{"@odata.context":"c","@odata.nextLink":"https://graph.microsoft.com/v1.0/me/mailfolders('AQMk')/messages/delta?$skiptoken=Gw",
            "value":[{"@odata.type":"#microsoft.graph.message","subject":"Holiday hours update","isRead":false,"id":"AAMkADNkNAAASq35xAAA="}]}"##;
        let page = Page::parse(next).expect("parses");
        assert_eq!(page.rows[0].is_read, Some(false));
        assert!(page.next_link.is_some() && page.delta_link.is_none());
        let last = br#"{"@odata.deltaLink":"https://graph.microsoft.com/v1.0/me/mailfolders('AQMk')/messages/delta?$deltatoken=Gw",
            "value":[{"id":"AAMkADk0","@removed":{"reason":"deleted"}},{"id":"AAMkADNk","isRead":"true"},{"subject":"no id"}]}"#;
        let page = Page::parse(last).expect("parses");
        assert_eq!(page.rows.len(), 2);
        assert!(page.rows[0].removed);
        assert_eq!(page.rows[1].is_read, Some(true));
        assert!(page.delta_link.is_some());
    }

    #[test]
    fn what_is_not_a_page_is_refused() {
        for bad in [&b"{}"[..], br#"{"value":[]}"#, b"null", b"\x00"] {
            assert!(Page::parse(bad).is_err());
        }
    }
}
