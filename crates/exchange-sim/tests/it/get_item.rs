//! Message details, as a client fetches them after a new-mail event: EWS `GetItem` (raw SOAP
//! written here, answers read with `roxmltree`) and Graph's `GET /users/{id}/messages/{id}`,
//! with importance and sender names, access rules, the item-read faults and the counts.

use std::time::{Duration, Instant};

use exchange_sim::{FolderKind, Importance, NewMessage, Sim};
use serde_json::Value;

use crate::ews::MARA;
use crate::ews_folders::{
    M, MARA_LOGON, PLAIN, SADIE_LOGON, T, all_folders, as_user, delegating, envelope, fault,
    fault_at, impersonating,
};
use crate::graph::Graph;
use crate::support::{self, Answer, Ews};

const SADIE: &str = "sadie@contoso.com";

/// The five properties the service asks for, on top of `IdOnly`.
const DETAILS: &str = r#"<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="message:From"/><t:FieldURI FieldURI="item:Importance"/><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURI FieldURI="item:ParentFolderId"/></t:AdditionalProperties>"#;

/// A `GetItem` body: `IdOnly` plus `additional`, for `ids`.
fn get_item(additional: &str, ids: &[&str]) -> String {
    let ids: String = ids
        .iter()
        .map(|id| format!("<t:ItemId Id=\"{id}\"/>"))
        .collect();
    format!(
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>{additional}</m:ItemShape><m:ItemIds>{ids}</m:ItemIds></m:GetItem>"
    )
}

/// A message as answered: each child's local name in order, with its text (or, for ids and
/// mailboxes, the parts that matter).
#[derive(Debug, Default)]
struct Message {
    order: Vec<String>,
    id: Option<String>,
    parent: Option<(String, String)>,
    subject: Option<String>,
    importance: Option<String>,
    received: Option<String>,
    /// `(Name, EmailAddress, RoutingType)`.
    from: Option<(String, String, String)>,
    is_read: Option<String>,
}

/// One `GetItemResponseMessage`: class, code, and its message if it has one.
#[derive(Debug)]
struct Reply {
    class: String,
    code: String,
    message: Option<Message>,
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    node.children()
        .find(|n| n.has_tag_name((T, name)))
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_owned()
}

fn replies(answer: &Answer) -> Vec<Reply> {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    let doc = roxmltree::Document::parse(&text).expect("well-formed answer");
    let response = doc
        .descendants()
        .find(|n| n.has_tag_name((M, "GetItemResponse")))
        .expect("m:GetItemResponse");
    response
        .descendants()
        .filter(|n| n.has_tag_name((M, "GetItemResponseMessage")))
        .map(|m| {
            let code = m
                .children()
                .find(|n| n.has_tag_name((M, "ResponseCode")))
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_owned();
            let items = m
                .children()
                .find(|n| n.has_tag_name((M, "Items")))
                .expect("m:Items in every response message");
            let message = items
                .children()
                .find(|n| n.has_tag_name((T, "Message")))
                .map(|node| {
                    let mut out = Message::default();
                    for child in node.children().filter(|n| n.is_element()) {
                        let name = child.tag_name().name();
                        out.order.push(name.to_owned());
                        let text = || child.text().unwrap_or_default().to_owned();
                        match name {
                            "ItemId" => out.id = child.attribute("Id").map(Into::into),
                            "ParentFolderId" => {
                                out.parent = child
                                    .attribute("Id")
                                    .zip(child.attribute("ChangeKey"))
                                    .map(|(i, k)| (i.into(), k.into()));
                            }
                            "Subject" => out.subject = Some(text()),
                            "Importance" => out.importance = Some(text()),
                            "DateTimeReceived" => out.received = Some(text()),
                            "IsRead" => out.is_read = Some(text()),
                            "From" => {
                                let mailbox = child
                                    .children()
                                    .find(|n| n.has_tag_name((T, "Mailbox")))
                                    .expect("t:Mailbox");
                                out.from = Some((
                                    child_text(mailbox, "Name"),
                                    child_text(mailbox, "EmailAddress"),
                                    child_text(mailbox, "RoutingType"),
                                ));
                            }
                            _ => {}
                        }
                    }
                    out
                });
            Reply {
                class: m.attribute("ResponseClass").unwrap_or_default().into(),
                code,
                message,
            }
        })
        .collect()
}

/// `GetItem` for `ids` as the impersonating service account acting as Mara.
async fn fetch(sim: &Sim, additional: &str, ids: &[&str]) -> Answer {
    Ews::new(sim, MARA)
        .post(envelope(&impersonating(MARA), &get_item(additional, ids)))
        .await
}

#[tokio::test]
async fn id_only_with_the_five_properties_answers_two_mails_in_order() {
    let sim = support::start().await;
    let before = sim.now();
    let urgent = sim
        .deliver_message(
            MARA,
            &NewMessage::new("Outage in <hall B> & C", "ops@contoso.com")
                .with_from_name("Operations Desk")
                .with_importance(Importance::High),
        )
        .expect("delivered");
    let plain = sim
        .deliver_mail(MARA, "Lunch?", "sam@fabrikam.com")
        .expect("delivered");
    let inbox = all_folders(&sim, MARA).await[&FolderKind::Inbox]
        .id
        .clone()
        .expect("the inbox's id");

    let answer = fetch(&sim, DETAILS, &[&plain, &urgent]).await;
    let replies = replies(&answer);
    assert_eq!(replies.len(), 2, "{}", answer.text());
    for reply in &replies {
        assert_eq!(
            (reply.class.as_str(), reply.code.as_str()),
            ("Success", "NoError")
        );
    }
    let first = replies[0].message.as_ref().expect("t:Message");
    let second = replies[1].message.as_ref().expect("t:Message");
    // In the request's order, each in the schema's element order, nothing more.
    assert_eq!(first.id.as_deref(), Some(plain.as_str()));
    assert_eq!(second.id.as_deref(), Some(urgent.as_str()));
    let order = [
        "ItemId",
        "ParentFolderId",
        "Subject",
        "DateTimeReceived",
        "Importance",
        "From",
    ];
    assert_eq!(first.order, order);
    assert_eq!(second.order, order);
    assert_eq!(second.subject.as_deref(), Some("Outage in <hall B> & C"));
    assert_eq!(second.importance.as_deref(), Some("High"));
    assert_eq!(
        second.from,
        Some((
            "Operations Desk".to_owned(),
            "ops@contoso.com".to_owned(),
            "SMTP".to_owned()
        ))
    );
    // No display name: Exchange names the sender by its address.
    assert_eq!(first.importance.as_deref(), Some("Normal"));
    assert_eq!(
        first.from.as_ref().map(|f| f.0.as_str()),
        Some("sam@fabrikam.com")
    );
    // The parent is the inbox, with the id and change key GetFolder gives it.
    for message in [first, second] {
        let (id, change_key) = message.parent.clone().expect("ParentFolderId");
        assert_eq!(id, inbox);
        assert!(!change_key.is_empty());
    }
    // xs:dateTime in UTC, at delivery.
    let received = second.received.as_deref().expect("DateTimeReceived");
    assert!(received.ends_with('Z'), "{received}");
    let at = time::OffsetDateTime::parse(received, &time::format_description::well_known::Rfc3339)
        .expect("xs:dateTime");
    assert!(
        at >= before.replace_nanosecond(0).expect("ns") && at <= sim.now(),
        "{received}"
    );

    let stats = sim.stats();
    assert_eq!((stats.item_reads, stats.items_read), (1, 2));
}

#[tokio::test]
async fn default_shape_and_unknown_malformed_or_foreign_ids_next_to_a_success() {
    let sim = support::start().await;
    let here = sim
        .deliver_mail(MARA, "here", "x@contoso.com")
        .expect("delivered");
    let gone = sim
        .deliver_mail(MARA, "gone", "x@contoso.com")
        .expect("delivered");
    sim.delete_message(MARA, &gone).expect("deleted");
    // Alfred's item, and the service account does not act as Alfred here: as Mara, the
    // impersonated owner, it does not reach Alfred's mailbox.
    let foreign = sim
        .deliver_mail("alfred@contoso.com", "not yours", "x@contoso.com")
        .expect("delivered");
    let answer = Ews::new(&sim, MARA)
        .post(envelope(
            &impersonating(MARA),
            &format!(
                "<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id=\"{gone}\"/><t:ItemId Id=\"{here}\"/><t:ItemId Id=\"bm90LWFuLWlk\"/><t:ItemId Id=\"{foreign}\"/></m:ItemIds></m:GetItem>"
            ),
        ))
        .await;
    let replies = replies(&answer);
    let codes: Vec<(&str, &str)> = replies
        .iter()
        .map(|r| (r.class.as_str(), r.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("Error", "ErrorItemNotFound"),
            ("Success", "NoError"),
            ("Error", "ErrorInvalidIdMalformed"),
            ("Error", "ErrorItemNotFound"),
        ]
    );
    assert!(
        replies
            .iter()
            .filter(|r| r.class == "Error")
            .all(|r| r.message.is_none())
    );
    // Default: the documented set, as far as the simulator's message has it.
    let message = replies[1].message.as_ref().expect("t:Message");
    assert_eq!(
        message.order,
        ["ItemId", "Subject", "HasAttachments", "From", "IsRead"]
    );
    assert_eq!(message.is_read.as_deref(), Some("false"));
    assert_eq!(sim.stats().items_read, 1);
}

#[tokio::test]
async fn a_request_against_the_schema_is_refused_with_its_position() {
    let sim = support::start().await;
    let item = sim
        .deliver_mail(MARA, "x", "x@contoso.com")
        .expect("delivered");
    let ews = Ews::new(&sim, MARA);
    let cases = [
        get_item("", &[]).replace("<m:ItemIds></m:ItemIds>", "<m:ItemIds/>"),
        get_item("", &[&item]).replace("IdOnly", "Everything"),
        get_item("<t:AdditionalProperties/>", &[&item]),
        get_item("", &[&item]).replace("<m:ItemShape>", "<m:ItemShape><t:Bogus/>"),
    ];
    for body in cases {
        let answer = ews.post(envelope(&impersonating(MARA), &body)).await;
        let (code, reason, at) = fault_at(&answer);
        assert_eq!(code, "ErrorSchemaValidation", "{body}: {reason}");
        assert!(
            reason.starts_with("The request failed schema validation"),
            "{reason}"
        );
        let (line, position) = at.expect("LineNumber and LinePosition");
        assert!(line >= 4 && position > 1, "{body}: {line}:{position}");
    }
    // IncludeMimeContent is valid; the simulator says it does not model MIME content.
    let mime = get_item("", &[&item]).replace(
        "</t:BaseShape>",
        "</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent>",
    );
    let (code, _) = fault(&ews.post(envelope(&impersonating(MARA), &mime)).await);
    assert_eq!(code, "ErrorInvalidRequest");
    assert_eq!(
        sim.stats().item_reads,
        0,
        "refused requests are not item reads"
    );
}

#[tokio::test]
async fn only_the_owner_impersonation_or_a_delegate_with_rights_reads_an_item() {
    let sim = support::start_with(delegating()).await;
    let maras = sim
        .deliver_mail(MARA, "for mara", "x@contoso.com")
        .expect("delivered");
    let sadies = sim
        .deliver_mail(SADIE, "for sadie", "x@contoso.com")
        .expect("delivered");
    let body = get_item(DETAILS, &[&maras]);

    // A service account without ApplicationImpersonation cannot act as Mara.
    let plain = as_user(&sim, MARA, PLAIN);
    let (code, _) = fault(&plain.post(envelope(&impersonating(MARA), &body)).await);
    assert_eq!(code, "ErrorImpersonateUserDenied");
    // Sadie holds nothing on Mara's mailbox: the item is not found, its subject not shown.
    let sadie = as_user(&sim, MARA, SADIE_LOGON);
    let answer = sadie.post(envelope("", &body)).await;
    let replies = replies(&answer);
    assert_eq!(replies[0].code, "ErrorItemNotFound");
    assert!(!answer.text().contains("for mara"), "{}", answer.text());
    // Mara herself, and Mara with FullAccess on Sadie's mailbox, read both.
    let mara = as_user(&sim, MARA, MARA_LOGON);
    let answer = mara
        .post(envelope("", &get_item(DETAILS, &[&maras, &sadies])))
        .await;
    let subjects: Vec<Option<String>> = replies_subjects(&answer);
    assert_eq!(
        subjects,
        [Some("for mara".to_owned()), Some("for sadie".to_owned())]
    );
    // A service account without a mailbox but with FullAccess on Sadie's reaches her item.
    let answer = as_user(&sim, SADIE, PLAIN)
        .post(envelope("", &get_item(DETAILS, &[&sadies])))
        .await;
    assert_eq!(replies_subjects(&answer), [Some("for sadie".to_owned())]);
}

fn replies_subjects(answer: &Answer) -> Vec<Option<String>> {
    replies(answer)
        .into_iter()
        .map(|r| r.message.and_then(|m| m.subject))
        .collect()
}

#[tokio::test]
async fn item_reads_fail_and_slow_down_on_demand_and_nothing_else_does() {
    let sim = support::start().await;
    let item = sim
        .deliver_mail(MARA, "x", "x@contoso.com")
        .expect("delivered");
    let ews = Ews::new(&sim, MARA);
    let folder = envelope(
        &impersonating(MARA),
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:GetFolder>",
    );

    sim.fail_item_reads(2);
    // Another operation does not use up the item-read failures.
    assert_eq!(ews.post(folder.clone()).await.status, 200);
    for _ in 0..2 {
        let answer = fetch(&sim, DETAILS, &[&item]).await;
        let (code, _) = fault(&answer);
        assert_eq!(code, "ErrorServerBusy");
        assert!(
            answer.text().contains("BackOffMilliseconds"),
            "{}",
            answer.text()
        );
    }
    let answer = fetch(&sim, DETAILS, &[&item]).await;
    assert_eq!(replies(&answer)[0].code, "NoError");
    assert_eq!((sim.stats().item_reads, sim.stats().items_read), (3, 1));

    let delay = Duration::from_millis(1500);
    sim.slow_item_reads(delay);
    let started = Instant::now();
    assert_eq!(
        replies(&fetch(&sim, DETAILS, &[&item]).await)[0].code,
        "NoError"
    );
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    let started = Instant::now();
    assert_eq!(ews.post(folder).await.status, 200);
    assert!(started.elapsed() < delay, "GetFolder is not an item read");
    sim.slow_item_reads(Duration::ZERO);
    let started = Instant::now();
    fetch(&sim, DETAILS, &[&item]).await;
    assert!(started.elapsed() < delay, "zero turns the delay off");
}

#[tokio::test]
async fn the_admin_api_delivers_importance_and_a_display_name() {
    let sim = support::start().await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/_sim/mailboxes/{MARA}/messages", sim.http_addr());
    let answer: Value = http
        .post(&url)
        .json(&serde_json::json!({"subject": "admin", "from": "boss@contoso.com", "from_name": "The Boss", "importance": "low"}))
        .send()
        .await
        .expect("admin API answers")
        .json()
        .await
        .expect("JSON");
    let item = answer["item_id"].as_str().expect("item_id").to_owned();
    let message = replies(&fetch(&sim, DETAILS, &[&item]).await)
        .remove(0)
        .message
        .expect("t:Message");
    assert_eq!(message.importance.as_deref(), Some("Low"));
    assert_eq!(message.from.map(|f| f.0), Some("The Boss".to_owned()));
    let refused = http
        .post(&url)
        .json(&serde_json::json!({"importance": "urgent"}))
        .send()
        .await
        .expect("admin API answers");
    assert!(refused.status().is_client_error(), "{}", refused.status());
    // Faults through the admin API too.
    let faults = http
        .post(format!("http://{}/_sim/faults", sim.http_addr()))
        .json(&serde_json::json!({"fail_item_reads": 1}))
        .send()
        .await
        .expect("admin API answers");
    assert!(faults.status().is_success());
    let (code, _) = fault(&fetch(&sim, DETAILS, &[&item]).await);
    assert_eq!(code, "ErrorServerBusy");
}

/// `GET /users/{MARA}/messages/{id}?{query}` as the Graph app: status, body, `Retry-After`.
async fn graph_get(graph: &Graph, path: &str) -> (u16, Value, Option<String>) {
    let response = graph
        .http
        .get(graph.url(path))
        .bearer_auth(&graph.token)
        .send()
        .await
        .expect("Graph answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, retry_after)
}

/// A message's Graph id (its EWS id in URL-safe form).
fn rest(ews_id: &str) -> String {
    ews_id.replace('+', "-").replace('/', "_")
}

#[tokio::test]
async fn graph_reads_one_message_with_select_honoured() {
    let graph = Graph::start(10_080).await;
    let item = graph
        .sim
        .deliver_message(
            MARA,
            &NewMessage::new("Board pack", "chair@contoso.com")
                .with_from_name("The Chair")
                .with_importance(Importance::High),
        )
        .expect("delivered");
    let id = rest(&item);
    let select = "$select=from,subject,importance,receivedDateTime,parentFolderId";
    let (status, body, _) =
        graph_get(&graph, &format!("users/{MARA}/messages/{id}?{select}")).await;
    assert_eq!(status, 200, "{body}");
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "@odata.etag",
            "from",
            "id",
            "importance",
            "parentFolderId",
            "receivedDateTime",
            "subject"
        ]
    );
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["subject"], "Board pack");
    assert_eq!(body["importance"], "high");
    assert_eq!(
        body["from"],
        serde_json::json!({"emailAddress": {"name": "The Chair", "address": "chair@contoso.com"}})
    );
    let (_, folder, _) = graph_get(&graph, &format!("users/{MARA}/mailFolders/inbox")).await;
    assert_eq!(body["parentFolderId"], folder["id"]);
    assert!(
        body["receivedDateTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );

    // The key in parentheses, the user by id, and no $select: every modelled property.
    let user = graph.sim.graph().user_id(MARA).expect("user id");
    let (status, all, _) = graph_get(&graph, &format!("users/{user}/messages('{id}')")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["isRead"], false);
    assert_eq!(all["sender"], body["from"]);
    assert_eq!(all["hasAttachments"], false);

    // A property the message resource does not have: 400.
    let (status, error, _) = graph_get(
        &graph,
        &format!("users/{MARA}/messages/{id}?$select=subject,colour"),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["code"], "RequestBroker--ParseUri");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("'colour'")),
        "{error}"
    );
    assert_eq!(graph.sim.graph().stats().message_reads, 3);
}

#[tokio::test]
async fn graph_answers_unknown_and_malformed_ids_and_the_item_read_faults() {
    let graph = Graph::start(10_080).await;
    let item = graph
        .sim
        .deliver_mail(MARA, "x", "x@contoso.com")
        .expect("delivered");
    let gone = graph
        .sim
        .deliver_mail(MARA, "gone", "x@contoso.com")
        .expect("delivered");
    graph.sim.delete_message(MARA, &gone).expect("deleted");
    let sadies = graph
        .sim
        .deliver_mail(SADIE, "sadie's", "x@contoso.com")
        .expect("delivered");
    for other in [&gone, &sadies] {
        let (status, error, _) =
            graph_get(&graph, &format!("users/{MARA}/messages/{}", rest(other))).await;
        assert_eq!(status, 404, "{error}");
        assert_eq!(error["error"]["code"], "ErrorItemNotFound");
        assert!(error["error"]["innerError"]["request-id"].is_string());
    }
    let (status, error, _) =
        graph_get(&graph, &format!("users/{MARA}/messages/bm90LWFuLWlk")).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("ErrorInvalidIdMalformed"))
    );

    let path = format!("users/{MARA}/messages/{}?$select=subject", rest(&item));
    graph.sim.fail_item_reads(1);
    let (status, error, retry_after) = graph_get(&graph, &path).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "serviceNotAvailable");
    assert!(retry_after.is_some());
    let (status, body, _) = graph_get(&graph, &path).await;
    assert_eq!((status, body["subject"].as_str()), (200, Some("x")));

    let delay = Duration::from_millis(1500);
    graph.sim.slow_item_reads(delay);
    let started = Instant::now();
    let (status, _, _) = graph_get(&graph, &path).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    assert_eq!(graph.sim.graph().stats().message_reads, 6);
    assert_eq!(
        graph.sim.stats().item_reads,
        0,
        "Graph reads are counted apart"
    );
}
