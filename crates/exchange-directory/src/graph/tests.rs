//! The Graph backend's requests, and its answers read from a Graph-shaped server over TLS on
//! loopback (the documented `GET /v1.0/users` and `GET /v1.0/users/{id}/photo/$value`).

use std::sync::Mutex;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use exchange_auth::{AccessToken, AuthError, AuthMethod, BearerAuth, SecretString, TokenSource};
use time::OffsetDateTime;

use super::*;

#[test]
fn quotes_are_doubled_and_the_whole_filter_is_percent_encoded() {
    assert_eq!(odata_string("O'Brien"), "'O''Brien'");
    assert_eq!(
        search_filter("ma"),
        "startswith(displayName,'ma') or startswith(givenName,'ma') or \
         startswith(surname,'ma') or startswith(mail,'ma') or startswith(userPrincipalName,'ma')"
    );
    assert_eq!(percent_encode("a b&c=d'é"), "a%20b%26c%3Dd%27%C3%A9");
}

#[test]
fn search_text_cannot_end_the_literal_or_add_a_parameter() {
    let backend = GraphDirectory::new(
        Arc::new(NoAuth),
        &Url::parse("https://graph.microsoft.com/").expect("URL"),
        Duration::from_secs(1),
    );
    let text = "x') or true or ('&$top=999&$select=passwordProfile#";
    let url = backend.search_url(text, 25).expect("a URL");
    assert_eq!(url.path(), "/v1.0/users");
    assert_eq!(url.fragment(), None);
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["$filter", "$select", "$top"]);
    assert_eq!(pairs[0].1, search_filter(text));
    assert!(
        pairs[0]
            .1
            .starts_with("startswith(displayName,'x'') or true or (''&$top")
    );
    assert_eq!(pairs[2].1, "25");
    let photo = backend.photo_url("a/../b@contoso.com").expect("a URL");
    assert_eq!(
        photo.path(),
        "/v1.0/users/a%2F..%2Fb%40contoso.com/photo/$value"
    );
}

/// Never used: the URL tests send nothing.
#[derive(Debug)]
struct NoAuth;

#[async_trait]
impl Authenticator for NoAuth {
    async fn send(&self, _: HttpRequest) -> Result<exchange_auth::HttpResponse, AuthError> {
        Err(AuthError::Protocol("not sent".into()))
    }

    fn status(&self) -> exchange_auth::AuthStatus {
        exchange_auth::AuthStatus::new(AuthMethod::ModernClientSecret, "test".into())
    }
}

/// A fixed token.
#[derive(Debug)]
struct Fixed;

#[async_trait]
impl TokenSource for Fixed {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        let expires = OffsetDateTime::now_utc() + time::Duration::hours(1);
        Ok(AccessToken::new(
            SecretString::from("graph-token"),
            expires,
            Vec::new(),
        ))
    }

    fn invalidate(&self, _: &AccessToken) {}

    fn expires_at(&self) -> Option<OffsetDateTime> {
        None
    }
}

type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nmara";

async fn users(State(seen): State<Seen>, uri: Uri, headers: HeaderMap) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((uri.to_string(), auth));
    // The documented shape: an OData collection in `value`.
    axum::Json(serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "value": [
            {"id": "1", "displayName": "Mara Whitley", "givenName": "Mara", "surname": "Whitley",
             "mail": "mara@contoso.com", "userPrincipalName": "mara@contoso.com",
             "jobTitle": "Engineer", "department": null, "mailNickname": "mara"},
            {"id": "2", "displayName": "Room 1", "mail": null, "userPrincipalName": "room1@contoso.com"},
            {"id": "3", "displayName": "No address"}
        ]
    }))
}

async fn photo(Path(user): Path<String>) -> axum::response::Response {
    match user.as_str() {
        "mara@contoso.com" => ([("content-type", "image/png")], PNG.to_vec()).into_response(),
        "big@contoso.com" => vec![0u8; 4096].into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            "{\"error\":{\"code\":\"ImageNotFound\"}}",
        )
            .into_response(),
    }
}

/// A Graph-shaped server on loopback over TLS; its URL and CA.
async fn mock_graph(seen: Seen) -> (Url, String) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let ca = key.cert.pem();
    let chain = vec![key.cert.der().clone()];
    let private =
        rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).expect("key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .expect("TLS");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let app = Router::new()
        .route("/v1.0/users", get(users))
        .route("/v1.0/users/{user}/photo/$value", get(photo))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let _ = builder
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let url = Url::parse(&format!("https://localhost:{port}")).expect("URL");
    (url, ca)
}

async fn backend() -> (GraphDirectory, Seen) {
    let seen = Seen::default();
    let (url, ca) = mock_graph(Arc::clone(&seen)).await;
    let mut transport = exchange_auth::TransportSettings::default();
    transport.trusted_ca_pem = vec![ca];
    transport.trusted_ca_only = true;
    let auth = BearerAuth::new(
        Arc::new(Fixed),
        AuthMethod::ModernClientSecret,
        "app",
        &transport,
    )
    .expect("authenticator");
    (
        GraphDirectory::new(Arc::new(auth), &url, Duration::from_secs(5)),
        seen,
    )
}

#[tokio::test]
async fn users_are_read_from_the_documented_list_with_the_bearer_token() {
    let (graph, seen) = backend().await;
    let query = SearchQuery::parse("O'Ma", 2).expect("query");
    let hits = graph
        .search("sadie@contoso.com", &query, 10)
        .await
        .expect("answer");
    let emails: Vec<&str> = hits.iter().map(|h| h.person.email.as_str()).collect();
    assert_eq!(
        emails,
        ["mara@contoso.com", "room1@contoso.com"],
        "no address, no hit"
    );
    let mara = &hits[0].person;
    assert_eq!(mara.alias.as_deref(), Some("mara"));
    assert_eq!(mara.job_title.as_deref(), Some("Engineer"));
    assert_eq!(mara.department, None);
    assert_eq!(mara.sources, ["graph"]);
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1.as_deref(), Some("Bearer graph-token"));
    let sent = Url::parse(&format!("https://x{}", seen[0].0)).expect("URL");
    let filter = sent
        .query_pairs()
        .find(|(n, _)| n == "$filter")
        .map(|(_, v)| v.into_owned());
    assert_eq!(filter, Some(search_filter("O'Ma")));
}

#[tokio::test]
async fn photos_are_read_404_is_none_and_oversized_ones_are_not_served() {
    let (graph, _) = backend().await;
    let photo = graph.photo("s@contoso.com", "mara@contoso.com", 1024).await;
    assert_eq!(photo, Ok(Some(PNG.to_vec())));
    let none = graph
        .photo("s@contoso.com", "sadie@contoso.com", 1024)
        .await;
    assert_eq!(none, Ok(None));
    let big = graph.photo("s@contoso.com", "big@contoso.com", 1024).await;
    assert_eq!(big, Ok(None));
}
