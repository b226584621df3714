//! Users and photos: `GET /users` with `$filter`, `$select` and `$top`, `GET /users/{id}`,
//! `GET /users/{id}/photo/$value`, and the permissions each needs.

use serde_json::{Value, json};

use super::{DIRECTORY_APP, Graph, MARA, PEOPLE_APP};

const RESOURCE: &str = "https://graph.microsoft.com";

struct Directory {
    graph: Graph,
    token: String,
}

impl Directory {
    async fn start() -> Self {
        let graph = Graph::start(10_080).await;
        let token = graph
            .sim
            .identity()
            .issue_app_token(DIRECTORY_APP, RESOURCE)
            .expect("token");
        Self { graph, token }
    }

    /// `GET /v1.0/<path_and_query>` with `token`: the status, the content type and the body.
    async fn get_as(&self, token: &str, path_and_query: &str) -> (u16, String, Vec<u8>) {
        let response = self
            .graph
            .http
            .get(self.graph.url(path_and_query))
            .bearer_auth(token)
            .send()
            .await
            .expect("Graph answers");
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.bytes().await.expect("body").to_vec();
        (status, kind, body)
    }

    async fn json(&self, path_and_query: &str) -> (u16, Value) {
        let (status, _, body) = self.get_as(&self.token, path_and_query).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// The `mail` of every user a `$filter` (given unencoded) finds.
    async fn found(&self, filter: &str) -> Vec<String> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("$filter", filter)
            .append_pair("$select", "mail")
            .finish();
        let (status, body) = self.json(&format!("users?{query}")).await;
        assert_eq!(status, 200, "{filter}: {body}");
        mails(&body)
    }

    /// The error code and message of a request that must fail with `status`.
    async fn refused(&self, path_and_query: &str, status: u16) -> (String, String) {
        let (got, body) = self.json(path_and_query).await;
        assert_eq!(got, status, "{path_and_query}: {body}");
        let error = &body["error"];
        (
            error["code"].as_str().unwrap_or_default().to_owned(),
            error["message"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

fn mails(body: &Value) -> Vec<String> {
    let mut mails: Vec<String> = body["value"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .filter_map(|u| u["mail"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    mails.sort();
    mails
}

#[tokio::test]
async fn users_are_listed_with_graphs_properties_and_context() {
    let directory = Directory::start().await;
    let (status, body) = directory.json("users").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users"
    );
    assert_eq!(
        mails(&body),
        [
            "alfred@contoso.com",
            "elvin@fabrikam.com",
            MARA,
            "sadie@contoso.com"
        ]
    );
    let users = body["value"].as_array().expect("value");
    let mara = users
        .iter()
        .find(|u| u["mail"] == MARA)
        .expect("Mara is listed");
    assert_eq!(
        mara["id"],
        directory.graph.sim.graph().user_id(MARA).expect("id")
    );
    assert_eq!(mara["displayName"], "Mara Whitley");
    assert_eq!(mara["givenName"], "Mara");
    assert_eq!(mara["surname"], "Whitley");
    assert_eq!(mara["jobTitle"], "Engineer");
    assert_eq!(mara["userPrincipalName"], MARA);
    assert_eq!(mara["businessPhones"], json!([]));
    assert!(mara.get("department").is_none(), "not a default property");
    let sadie = users.iter().find(|u| u["mail"] == "sadie@contoso.com");
    assert_eq!(sadie.expect("Sadie")["jobTitle"], Value::Null);
}

#[tokio::test]
async fn select_names_the_properties_and_top_pages() {
    let directory = Directory::start().await;
    let (status, body) = directory
        .json("users?$select=displayName,department&$filter=mail%20eq%20'mara@contoso.com'")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(displayName,department)",
            "value": [{"displayName": "Mara Whitley", "department": "R&D"}],
        })
    );
    let (status, first) = directory.json("users?$top=3&$select=mail").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(mails(&first).len(), 3);
    let next = first["@odata.nextLink"].as_str().expect("a next link");
    let (_, query) = next.split_once('?').expect("a query");
    let (status, second) = directory.json(&format!("users?{query}")).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(mails(&second).len(), 1);
    assert!(second.get("@odata.nextLink").is_none(), "{second}");
    let mut all = [mails(&first), mails(&second)].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4);
    for top in ["0", "1000"] {
        let (code, message) = directory.refused(&format!("users?$top={top}"), 400).await;
        assert_eq!(code, "Request_UnsupportedQuery");
        assert!(message.contains(&format!("'{top}'")), "{message}");
    }
    let (code, message) = directory.refused("users?$select=mail,nope", 400).await;
    assert_eq!(code, "BadRequest");
    assert!(message.contains("'nope'"), "{message}");
    let (code, message) = directory.refused("users?$top=1&$TOP=2", 400).await;
    assert_eq!(code, "BadRequest");
    assert!(message.contains("more than once"), "{message}");
}

#[tokio::test]
async fn filters_match_the_start_of_names_and_addresses_without_regard_to_case() {
    let directory = Directory::start().await;
    assert_eq!(
        directory.found("startswith(givenName,'sad')").await,
        ["sadie@contoso.com"]
    );
    assert_eq!(
        directory.found("startsWith(SURNAME, 'HALL')").await,
        ["alfred@contoso.com"]
    );
    assert_eq!(
        directory.found("startswith(displayName,'Mara W')").await,
        [MARA]
    );
    assert_eq!(
        directory
            .found("startswith(mail,'a') or startswith(userPrincipalName,'elvin@')")
            .await,
        ["alfred@contoso.com", "elvin@fabrikam.com"]
    );
    assert_eq!(
        directory
            .found("startswith(mail,'m') and (surname eq 'whitley' or surname eq 'x')")
            .await,
        [MARA]
    );
    assert_eq!(
        directory
            .found("jobTitle eq null and startswith(mail,'s')")
            .await,
        ["sadie@contoso.com"]
    );
    assert!(
        directory
            .found("startswith(displayName,'Zed')")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn injection_in_a_literal_matches_literally_and_a_broken_filter_is_refused() {
    let directory = Directory::start().await;
    for text in [
        "*)(objectClass=*",
        "a' or startswith(mail,'",
        "x') or startswith(mail,'",
        "'",
        "%",
    ] {
        let escaped = text.replace('\'', "''");
        let filter = format!("startswith(displayName,'{escaped}') or startswith(mail,'{escaped}')");
        assert_eq!(
            directory.found(&filter).await,
            Vec::<String>::new(),
            "{text}"
        );
    }
    // Unescaped, the same texts are no filter at all: nothing is listed.
    for filter in [
        "*)(objectClass=*",
        "startswith(displayName,'a' or startswith(mail,'')",
        "startswith(displayName,'x')) or startswith(mail,'')",
    ] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("$filter", filter)
            .finish();
        let (code, message) = directory.refused(&format!("users?{query}"), 400).await;
        assert_eq!(code, "BadRequest", "{filter}: {message}");
        assert!(message.starts_with("Invalid filter clause"), "{message}");
    }
    let (code, message) = directory
        .refused("users?$filter=endswith(mail,'@contoso.com')", 400)
        .await;
    assert_eq!(code, "Request_UnsupportedQuery");
    assert!(message.contains("endswith"), "{message}");
    let (code, message) = directory
        .refused("users?$filter=department%20eq%20'R%26D'", 400)
        .await;
    assert_eq!(code, "Request_UnsupportedQuery");
    assert!(message.contains("'department'"), "{message}");
}

#[tokio::test]
async fn a_user_is_read_by_id_or_address() {
    let directory = Directory::start().await;
    let id = directory.graph.sim.graph().user_id(MARA).expect("id");
    let (status, by_id) = directory.json(&format!("users/{id}?$select=surname")).await;
    assert_eq!(status, 200, "{by_id}");
    assert_eq!(by_id["surname"], "Whitley");
    assert_eq!(
        by_id["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users(surname)/$entity"
    );
    let (status, by_address) = directory.json("users/MARA%40contoso.com").await;
    assert_eq!(status, 200, "{by_address}");
    assert_eq!(by_address["id"], id.as_str());
    let (code, _) = directory.refused("users/nobody@contoso.com", 404).await;
    assert_eq!(code, "Request_ResourceNotFound");
}

#[tokio::test]
async fn photos_are_image_bytes_and_404_without_one() {
    let directory = Directory::start().await;
    let (status, kind, bytes) = directory
        .get_as(&directory.token, &format!("users/{MARA}/photo/$value"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(kind, "image/png");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{bytes:?}");
    let id = directory.graph.sim.graph().user_id(MARA).expect("id");
    let (status, _, by_id) = directory
        .get_as(&directory.token, &format!("users/{id}/photo/$value"))
        .await;
    assert_eq!((status, by_id), (200, bytes));
    let (code, _) = directory
        .refused("users/sadie@contoso.com/photo/$value", 404)
        .await;
    assert_eq!(code, "ImageNotFound");
    let (code, _) = directory
        .refused("users/nobody@contoso.com/photo/$value", 404)
        .await;
    assert_eq!(code, "ErrorInvalidUser");
}

#[tokio::test]
async fn users_need_a_directory_permission_and_mail_needs_a_mail_role() {
    let directory = Directory::start().await;
    // The mail app has no directory permission.
    let (status, _, body) = directory.get_as(&directory.graph.token, "users").await;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    let photo = format!("users/{MARA}/photo/$value");
    let (status, _, _) = directory.get_as(&directory.graph.token, &photo).await;
    assert_eq!(status, 403);
    // The directory app reads no mail.
    let (status, _, _) = directory
        .get_as(&directory.token, &format!("users/{MARA}/mailFolders/inbox"))
        .await;
    assert_eq!(status, 403);
    // A signed-in user with the delegated User.ReadBasic.All lists users and reads photos.
    let delegated = directory
        .graph
        .sim
        .identity()
        .issue_user_token(PEOPLE_APP, "sadie@contoso.com", RESOURCE)
        .expect("delegated token");
    let (status, _, body) = directory
        .get_as(&delegated, "users?$filter=startswith(givenName,'Mara')")
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = directory.get_as(&delegated, &photo).await;
    assert_eq!(status, 200);
    // No token, no answer.
    let anonymous = directory
        .graph
        .http
        .get(directory.graph.url("users"))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status().as_u16(), 401);
}
