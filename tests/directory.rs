//! Directory Lookup end to end, through the service's API on loopback: EWS and Microsoft
//! Graph against `exchange-sim`, LDAP and LDAPS against the Samba AD DC of `scripts/samba-ad/start.sh`
//! (seeded with `scripts/samba-ad/directory.ldif`).
//!
//! The Samba tests run when `BEMS_SAMBA_AD` is set (to start.sh's state directory, or `1` for
//! `/tmp/bems-samba/ad`); without it they are skipped with a note, unless
//! `BEMS_REQUIRE_SERVICES=1`, which makes a missing or unseeded DC fail them.
//!
//! ```sh
//! eval "$(scripts/samba-ad/start.sh)"
//! BEMS_REQUIRE_SERVICES=1 cargo test --test directory
//! ```

use bems::service::server::{self, Running};
use bems::settings::{
    AuthenticationType, CommaList, DirectoryBackendKind, SubscriptionMode, TenantSettings,
};
use bems_demo::{ADMIN_TOKEN, APP, TENANT, World};
use serde_json::Value;

const MARA: &str = "mara@contoso.com";
const SADIE: &str = "sadie@contoso.com";
/// The reader account of start.sh.
const READER: &str = "bems-scp@corp.example.test";
const READER_PASSWORD: &str = "Scp-Reader-Passw0rd!";
/// Mara's `thumbnailPhoto` in directory.ldif.
const MARA_LDAP_PHOTO: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGM4EaABAAMkAUEdGZ/EAAAAAElFTkSuQmCC";

struct Service {
    world: World,
    running: Running,
    /// `http://<addr>`, or `https://localhost:<port>` when the service has a certificate.
    origin: String,
    base: String,
    http: reqwest::Client,
}

/// The demo world and a service whose tenant `configure` adjusts.
async fn start(configure: impl FnOnce(&mut TenantSettings)) -> Service {
    let world = World::start(SubscriptionMode::Streaming, None, true)
        .await
        .expect("world starts");
    serve(world, configure).await
}

/// A service on `world`, its tenant adjusted by `configure`.
async fn serve(mut world: World, configure: impl FnOnce(&mut TenantSettings)) -> Service {
    configure(&mut world.settings.tenants[0]);
    world.settings.validate().expect("valid settings");
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let (origin, http) = if world.settings.server.tls_cert_file.is_some() {
        let client = world.https_client().expect("HTTPS client");
        (format!("https://localhost:{}", running.addr.port()), client)
    } else {
        (format!("http://{}", running.addr), reqwest::Client::new())
    };
    let base = format!("{origin}/v1/tenants/{TENANT}");
    Service {
        world,
        running,
        origin,
        base,
        http,
    }
}

impl Service {
    /// A search as `caller`: the status and the answer.
    async fn search(&self, caller: &str, q: &str) -> (u16, Value) {
        let token = self.world.user_token(caller).expect("token");
        let response = self
            .http
            .get(format!("{}/directory/search", self.base))
            .query(&[("q", q)])
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The addresses a search as Mara finds.
    async fn found(&self, q: &str) -> Vec<String> {
        let (status, answer) = self.search(MARA, q).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["failed"], serde_json::json!([]), "{answer}");
        let mut found: Vec<String> = people(&answer)
            .iter()
            .map(|p| p["email"].as_str().unwrap_or_default().to_owned())
            .collect();
        found.sort();
        found
    }

    async fn get(&self, path: &str, caller: &str) -> reqwest::Response {
        let token = self.world.user_token(caller).expect("token");
        let url = format!("{}{path}", self.origin);
        let request = self.http.get(url).bearer_auth(token);
        request.send().await.expect("the API answers")
    }
}

fn people(answer: &Value) -> Vec<Value> {
    answer["people"].as_array().cloned().unwrap_or_default()
}

fn person<'a>(people: &'a [Value], email: &str) -> &'a Value {
    people
        .iter()
        .find(|p| p["email"] == email)
        .unwrap_or_else(|| panic!("{email} not in {people:#?}"))
}

#[tokio::test]
async fn ews_finds_people_by_first_last_display_name_and_address() {
    let service = start(|_| {}).await;
    assert_eq!(service.found("Sadie").await, [SADIE]);
    assert_eq!(service.found("daniels").await, [SADIE]);
    assert_eq!(service.found("Mara Whit").await, [MARA]);
    assert_eq!(
        service.found("alfred@contoso.com").await,
        ["alfred@contoso.com"]
    );
    let (_, answer) = service.search(SADIE, "Mara").await;
    let all = people(&answer);
    let mara = person(&all, MARA);
    assert_eq!(mara["display_name"], "Mara Whitley");
    assert_eq!(mara["given_name"], "Mara");
    assert_eq!(mara["surname"], "Whitley");
    assert_eq!(mara["job_title"], "Engineer");
    assert_eq!(mara["sources"], serde_json::json!(["ews"]));
    let link = mara["photo"].as_str().expect("Mara has a photo");
    assert_eq!(
        link,
        "/v1/tenants/contoso/directory/photos/mara%40contoso.com"
    );
    let (_, answer) = service.search(MARA, "Sadie").await;
    assert_eq!(people(&answer)[0]["photo"], Value::Null, "Sadie has none");
    service.running.stop().await;
}

/// Mara's photo, as Sadie sees it: a PNG with caching headers, then 304 when unchanged;
/// Sadie has none (404).
async fn mara_photo_is_served_and_cached(service: &Service) {
    let path = "/v1/tenants/contoso/directory/photos/mara%40contoso.com";
    let photo = service.get(path, SADIE).await;
    assert_eq!(photo.status(), 200);
    let header = |name: &str| {
        photo
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("content-type").as_deref(), Some("image/png"));
    assert_eq!(
        header("cache-control").as_deref(),
        Some("private, max-age=300")
    );
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    let etag = header("etag").expect("an ETag");
    let bytes = photo.bytes().await.expect("bytes");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{bytes:?}");
    let token = service.world.user_token(SADIE).expect("token");
    let again = service
        .http
        .get(format!("{}{path}", service.origin))
        .bearer_auth(token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("answer");
    assert_eq!(again.status(), 304);
    let none = service.get(
        "/v1/tenants/contoso/directory/photos/sadie@contoso.com",
        MARA,
    );
    assert_eq!(none.await.status(), 404, "Sadie has no photo");
}

#[tokio::test]
async fn photos_come_with_caching_headers_and_304_when_unchanged() {
    let service = start(|_| {}).await;
    mara_photo_is_served_and_cached(&service).await;
    let bad = service.get("/v1/tenants/contoso/directory/photos/not-an-address", MARA);
    assert_eq!(bad.await.status(), 400);
    service.running.stop().await;
}

#[tokio::test]
async fn only_an_authenticated_device_user_may_search() {
    let service = start(|_| {}).await;
    let url = format!("{}/directory/search?q=Mara", service.base);
    let anonymous = service.http.get(&url).send().await.expect("answer");
    assert_eq!(anonymous.status(), 401);
    let forged = service
        .http
        .get(&url)
        .bearer_auth("e30.e30.e30")
        .send()
        .await;
    assert_eq!(forged.expect("answer").status(), 401);
    let app = service
        .world
        .sim
        .identity()
        .issue_app_token(APP, bems_demo::AUDIENCE)
        .expect("app token");
    let app_only = service.http.get(&url).bearer_auth(app).send().await;
    assert_eq!(app_only.expect("answer").status(), 401, "an app is no user");
    let photo = format!(
        "http://{}/v1/tenants/contoso/directory/photos/mara@contoso.com",
        service.running.addr
    );
    assert_eq!(
        service
            .http
            .get(photo)
            .send()
            .await
            .expect("answer")
            .status(),
        401
    );
    let elsewhere = url.replace("/contoso/", "/fabrikam/");
    let token = service.world.user_token(MARA).expect("token");
    let unknown = service.http.get(elsewhere).bearer_auth(token).send().await;
    assert_eq!(unknown.expect("answer").status(), 404);
    let (status, answer) = service.search(MARA, "m").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("q: the search text needs at least 2 characters"))
    );
    service.running.stop().await;
}

#[tokio::test]
async fn ews_input_is_xml_text_never_markup() {
    let service = start(|_| {}).await;
    for text in [
        "<Mara/>",
        "Mara</m:UnresolvedEntry><x>",
        "&amp; \"'",
        "]]>Mara",
    ] {
        let (status, answer) = service.search(MARA, text).await;
        assert_eq!(status, 200, "{text}: {answer}");
        assert_eq!(people(&answer), Vec::<Value>::new(), "{text}");
        assert_eq!(answer["failed"], serde_json::json!([]), "{text}: {answer}");
    }
    service.running.stop().await;
}

#[tokio::test]
async fn a_failing_backend_is_named_and_the_others_still_answer() {
    // Port 9 (discard) on loopback: nothing answers LDAP there.
    let service = start(|tenant| {
        tenant.directory.backends = vec![DirectoryBackendKind::Ews, DirectoryBackendKind::Ldap];
        tenant.directory.ldap.servers = CommaList::parse("127.0.0.1:9").expect("list");
        tenant.directory.timeout_seconds = 5;
    })
    .await;
    let (status, answer) = service.search(MARA, "Sadie").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(people(&answer).len(), 1);
    // Devices learn which backend failed; why is for the log.
    assert_eq!(answer["failed"], serde_json::json!(["ldap"]), "{answer}");
    service.running.stop().await;
}

#[path = "directory/graph.rs"]
mod graph;

#[path = "directory/ldap.rs"]
mod ldap;

#[path = "directory/follow_me.rs"]
mod follow_me;
