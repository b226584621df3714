//! Delta rounds on the inbox, and its unread count.

use std::time::Duration;

use exchange_sim::FolderKind;
use serde_json::Value;

use super::{Graph, MARA};

/// Follows a round from `url` to its delta link: every row, and the link.
async fn round(graph: &Graph, url: &str, page: usize) -> (Vec<Value>, String, usize) {
    let mut rows = Vec::new();
    let mut next = url.to_owned();
    let mut pages = 0;
    loop {
        let response = graph
            .http
            .get(&next)
            .bearer_auth(&graph.token)
            .header("Prefer", format!("odata.maxpagesize={page}"))
            .send()
            .await
            .expect("delta answers");
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.expect("JSON");
        pages += 1;
        rows.extend(body["value"].as_array().cloned().unwrap_or_default());
        if let Some(link) = body["@odata.nextLink"].as_str() {
            next = link.replace("https://graph.microsoft.com", &graph.sim.graph().origin());
            continue;
        }
        let link = body["@odata.deltaLink"]
            .as_str()
            .expect("a delta link ends the round");
        return (
            rows,
            link.replace("https://graph.microsoft.com", &graph.sim.graph().origin()),
            pages,
        );
    }
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.get("@removed").is_none())
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn rest(id: &str) -> String {
    id.replace('+', "-").replace('/', "_")
}

#[tokio::test]
async fn delta_rounds_page_and_then_return_what_changed() {
    let graph = Graph::start(10_080).await;
    let sim = &graph.sim;
    let mut items = Vec::new();
    for n in 0..3 {
        items.push(
            sim.deliver_mail(MARA, &format!("m{n}"), "a@contoso.com")
                .expect("mail"),
        );
    }
    let start = graph.url(&format!(
        "users/{MARA}/mailFolders('inbox')/messages/delta?$select=isRead,receivedDateTime"
    ));
    let (rows, link, pages) = round(&graph, &start, 2).await;
    assert_eq!(pages, 2);
    assert_eq!(
        ids(&rows),
        items.iter().map(|i| rest(i)).collect::<Vec<_>>()
    );
    assert_eq!(rows[0]["isRead"], false);
    assert!(rows[0]["receivedDateTime"].as_str().is_some());
    assert!(
        rows[0].get("subject").is_none(),
        "$select keeps only what was asked"
    );

    // Nothing changed: an empty round.
    let (rows, link, _) = round(&graph, &link, 10).await;
    assert!(rows.is_empty(), "{rows:?}");

    let new = sim.deliver_mail(MARA, "m3", "a@contoso.com").expect("mail");
    sim.mark_read(MARA, &items[0], true).expect("read");
    sim.delete_message(MARA, &items[1]).expect("delete");
    sim.move_message(MARA, &items[2], FolderKind::Archive)
        .expect("move");
    let (rows, _, _) = round(&graph, &link, 10).await;
    let mut kept = ids(&rows);
    kept.sort();
    let mut expected = vec![rest(&items[0]), rest(&new)];
    expected.sort();
    assert_eq!(kept, expected);
    let removed: Vec<&str> = rows
        .iter()
        .filter(|r| r["@removed"]["reason"] == "deleted")
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(removed.len(), 2, "deleted and moved out: {rows:?}");
}

#[tokio::test]
async fn a_created_only_round_skips_updates_and_old_tokens_are_gone() {
    let graph = Graph::start(10_080).await;
    let sim = &graph.sim;
    let old = sim
        .deliver_mail(MARA, "old", "a@contoso.com")
        .expect("mail");
    let start = graph.url(&format!(
        "users/{MARA}/mailFolders/inbox/messages/delta?changeType=created"
    ));
    let (rows, link, _) = round(&graph, &start, 10).await;
    assert_eq!(ids(&rows), vec![rest(&old)]);
    sim.mark_read(MARA, &old, true).expect("read");
    let new = sim
        .deliver_mail(MARA, "new", "a@contoso.com")
        .expect("mail");
    let (rows, link, _) = round(&graph, &link, 10).await;
    assert_eq!(ids(&rows), vec![rest(&new)]);

    // A filter on the reception date keeps only recent mail in the first round.
    let since = (sim.now() + time::Duration::seconds(5))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let filtered = format!("{start}&$filter=receivedDateTime ge {since}");
    let (rows, _, _) = round(&graph, &filtered, 10).await;
    assert!(rows.is_empty(), "{rows:?}");

    // Events older than the mailbox keeps: the token is gone.
    sim.advance_clock(Duration::from_secs(31 * 86_400));
    sim.deliver_mail(MARA, "later", "a@contoso.com")
        .expect("mail");
    let response = graph
        .http
        .get(&link)
        .bearer_auth(&graph.token)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 410);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "SyncStateNotFound");
}

#[tokio::test]
async fn the_inbox_reports_its_unread_count() {
    let graph = Graph::start(10_080).await;
    let sim = &graph.sim;
    for n in 0..3 {
        sim.deliver_mail(MARA, &format!("m{n}"), "a@contoso.com")
            .expect("mail");
    }
    let first = sim.deliver_mail(MARA, "m3", "a@contoso.com").expect("mail");
    sim.mark_read(MARA, &first, true).expect("read");
    let (status, body) = graph
        .call(
            reqwest::Method::GET,
            &format!("users/{MARA}/mailFolders('Inbox')?$select=unreadItemCount"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["unreadItemCount"], 3);
    assert_eq!(sim.unread_count(MARA).expect("count"), 3);
    assert!(body.get("displayName").is_none());
    let user = sim.graph().user_id(MARA).expect("id");
    let (status, body) = graph
        .call(
            reqwest::Method::GET,
            &format!("users/{user}/mailFolders/inbox"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalItemCount"], 4);
    let (status, body) = graph
        .call(
            reqwest::Method::GET,
            "users/nobody@contoso.com/mailFolders/inbox",
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "ErrorInvalidUser");
}
