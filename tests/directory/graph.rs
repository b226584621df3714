//! Microsoft Graph: a Microsoft 365 tenant (client-certificate app auth, Graph's host name
//! resolved to `exchange-sim`) whose directory is Graph's `/v1.0/users`, alone and merged
//! with EWS.

use super::*;

/// The demo world as a Microsoft 365 tenant whose directory asks `backends`, Graph being the
/// simulator's.
async fn microsoft_365(backends: Vec<DirectoryBackendKind>) -> Service {
    let mut world = World::start(SubscriptionMode::Streaming, None, true)
        .await
        .expect("world starts");
    world.use_graph(false).expect("Microsoft 365 settings");
    let graph = world.sim.graph().origin().parse().expect("Graph's origin");
    serve(world, move |tenant| {
        tenant.directory.backends = backends;
        tenant.directory.graph.base_url = graph;
    })
    .await
}

fn graph_only() -> Vec<DirectoryBackendKind> {
    vec![DirectoryBackendKind::Graph]
}

#[tokio::test]
async fn graph_finds_people_by_first_last_display_name_and_address() {
    let service = microsoft_365(graph_only()).await;
    assert_eq!(service.found("Sadie").await, [SADIE]);
    assert_eq!(service.found("daniels").await, [SADIE]);
    assert_eq!(service.found("Mara Whit").await, [MARA]);
    assert_eq!(
        service.found("alfred@contoso.com").await,
        ["alfred@contoso.com"]
    );
    assert_eq!(service.found("ALF").await, ["alfred@contoso.com"]);
    assert!(service.found("Nobody").await.is_empty());
    let (_, answer) = service.search(SADIE, "Mara").await;
    let all = people(&answer);
    let mara = person(&all, MARA);
    assert_eq!(mara["display_name"], "Mara Whitley");
    assert_eq!(mara["given_name"], "Mara");
    assert_eq!(mara["surname"], "Whitley");
    assert_eq!(mara["job_title"], "Engineer");
    assert_eq!(mara["sources"], serde_json::json!(["graph"]));
    assert_eq!(
        mara["photo"],
        "/v1/tenants/contoso/directory/photos/mara%40contoso.com"
    );
    assert!(service.world.sim.graph().stats().requests > 0);
    service.running.stop().await;
}

#[tokio::test]
async fn graph_photos_come_with_caching_headers() {
    let service = microsoft_365(graph_only()).await;
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
    let unknown = service.get(
        "/v1/tenants/contoso/directory/photos/nobody@contoso.com",
        MARA,
    );
    assert_eq!(unknown.await.status(), 404);
    service.running.stop().await;
}

#[tokio::test]
async fn graph_input_is_an_odata_literal_never_a_filter() {
    let service = microsoft_365(graph_only()).await;
    for text in [
        "*)(objectClass=*",
        "x') or startswith(mail,'",
        "a' or startswith(mail,'",
        "') or true or ('",
        "Mara' or '1' eq '1",
        "Ma&$top=999",
        "Ma%27)",
        "''",
        "Mara')",
        "\\' or 1 eq 1",
    ] {
        let (status, answer) = service.search(MARA, text).await;
        assert_eq!(status, 200, "{text}: {answer}");
        assert_eq!(people(&answer), Vec::<Value>::new(), "{text}");
        assert_eq!(answer["failed"], serde_json::json!([]), "{text}: {answer}");
    }
    // A quote in a name is a quote of the name.
    let (status, answer) = service.search(MARA, "O'Brien").await;
    assert_eq!(
        (status, answer["failed"].clone()),
        (200, serde_json::json!([])),
        "{answer}"
    );
    service.running.stop().await;
}

#[tokio::test]
async fn ews_and_graph_merged_give_each_person_once() {
    let service = microsoft_365(vec![DirectoryBackendKind::Ews, DirectoryBackendKind::Graph]).await;
    for (q, email) in [
        ("Sadie", SADIE),
        ("Mara", MARA),
        ("hall", "alfred@contoso.com"),
    ] {
        let (status, answer) = service.search(MARA, q).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["failed"], serde_json::json!([]), "{answer}");
        let all = people(&answer);
        assert_eq!(all.len(), 1, "{q}: {all:#?}");
        assert_eq!(all[0]["email"], email);
        assert_eq!(
            all[0]["sources"],
            serde_json::json!(["ews", "graph"]),
            "{q}"
        );
    }
    let (_, answer) = service.search(SADIE, "Mara").await;
    let all = people(&answer);
    assert_eq!(person(&all, MARA)["job_title"], "Engineer");
    service.running.stop().await;
}
