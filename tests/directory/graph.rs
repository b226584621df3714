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

/// The demo world as a Microsoft 365 tenant under passive authentication, whose directory is
/// Graph alone: the app is consented for Graph's `User.ReadBasic.All` (delegated) as well as
/// EWS's, and the service's redirect URI is registered with it.
async fn passive_microsoft_365() -> Service {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    let mut scenario = bems_demo::scenario().expect("the sample scenario");
    let app = scenario
        .apps
        .iter_mut()
        .find(|app| app.client_id == APP)
        .expect("the demo's app");
    app.scopes.push("User.ReadBasic.All".to_owned());
    app.redirect_uris
        .push(format!("https://localhost:{port}/oauth/{TENANT}/callback"));
    let mut world = World::with_scenario(scenario, SubscriptionMode::Streaming, None, false)
        .await
        .expect("world starts");
    world.settings.server.listen.set_port(port);
    world.use_graph(false).expect("Microsoft 365 settings");
    let graph = world.sim.graph().origin().parse().expect("Graph's origin");
    serve(world, move |tenant| {
        tenant.authentication = AuthenticationType::Passive;
        tenant.passive.authority = tenant.modern_authentication.authority.clone();
        tenant.passive.client_application_id = Some(APP.to_owned());
        tenant.directory.backends = graph_only();
        tenant.directory.graph.base_url = graph;
    })
    .await
}

/// The demo world as a Microsoft 365 tenant under "Credential" authentication with modern
/// authentication (the service account's password grant), whose directory is Graph alone: the
/// app is consented for Graph's `User.ReadBasic.All` (delegated) as well as EWS's. The fallback
/// to Basic is on, as many tenants have it; it is EWS's, never Graph's.
async fn credential_microsoft_365() -> Service {
    let mut scenario = bems_demo::scenario().expect("the sample scenario");
    let app = scenario
        .apps
        .iter_mut()
        .find(|app| app.client_id == APP)
        .expect("the demo's app");
    app.scopes.push("User.ReadBasic.All".to_owned());
    let mut world = World::with_scenario(scenario, SubscriptionMode::Streaming, None, false)
        .await
        .expect("world starts");
    world.use_graph(false).expect("Microsoft 365 settings");
    let graph = world.sim.graph().origin().parse().expect("Graph's origin");
    serve(world, move |tenant| {
        tenant.authentication = AuthenticationType::Credential;
        tenant
            .modern_authentication
            .use_credentials_if_modern_auth_fails = true;
        tenant.directory.backends = graph_only();
        tenant.directory.graph.base_url = graph;
    })
    .await
}

/// What an administrator does: asks the admin API for the sign-in URL, signs in at the identity
/// provider as `login`, and follows its redirect back to the service; the callback's answer.
async fn administrator_signs_in(service: &Service, login: &str, password: &str) -> Value {
    let answer: Value = service
        .http
        .get(format!("{}/admin/tenants/{TENANT}/sign-in", service.origin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the admin API answers")
        .json()
        .await
        .expect("JSON");
    let mut url: url::Url = answer["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a sign-in URL: {answer}"))
        .parse()
        .expect("a URL");
    // The simulator's non-interactive sign-in: what its login page would post.
    url.query_pairs_mut()
        .append_pair("login_hint", login)
        .append_pair("password", password);
    let sim = &service.world.sim;
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("the CA");
    let browser = reqwest::Client::builder()
        .tls_certs_merge([ca])
        .resolve(&sim.scenario().login_host, sim.https_addr())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a browser");
    let authorize = browser.get(url).send().await.expect("authorize answers");
    assert_eq!(authorize.status(), 302, "{:?}", authorize.text().await);
    let back = authorize.headers()["location"]
        .to_str()
        .expect("a location")
        .to_owned();
    let prefix = format!("{}/oauth/{TENANT}/callback?", service.origin);
    assert!(back.starts_with(&prefix), "{back}");
    let callback = service.http.get(back).send().await.expect("the callback");
    assert_eq!(callback.status(), 200);
    callback.json().await.expect("JSON")
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
    mara_photo_is_served_and_cached(&service).await;
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

#[tokio::test]
async fn under_passive_authentication_graph_answers_once_an_administrator_signed_in() {
    let service = passive_microsoft_365().await;
    let (status, answer) = service.search(MARA, "Sadie").await;
    assert_eq!(
        status, 502,
        "no backend answered before the sign-in: {answer}"
    );
    assert_eq!(
        answer["error"], "the directory did not answer (graph)",
        "{answer}"
    );
    let graph_requests = service.world.sim.graph().stats().requests;
    let signed_in = administrator_signs_in(&service, "svc-bems@contoso.com", "Svc-Pa55w.rd").await;
    assert_eq!(signed_in["signed_in"], true, "{signed_in}");
    // The refresh token of the sign-in (for EWS) is redeemed for Graph.
    assert_eq!(service.found("Sadie").await, [SADIE]);
    assert_eq!(service.found("Mara Whit").await, [MARA]);
    let (_, answer) = service.search(SADIE, "Mara").await;
    assert_eq!(
        person(&people(&answer), MARA)["sources"],
        serde_json::json!(["graph"])
    );
    assert!(service.world.sim.graph().stats().requests > graph_requests);
    service.running.stop().await;
}

#[tokio::test]
async fn under_credential_authentication_graph_answers_with_the_service_accounts_token() {
    let service = credential_microsoft_365().await;
    let settings = &service.world.settings.tenants[0];
    assert_eq!(
        settings.service_account_username.as_deref(),
        Some("svc-bems@contoso.com")
    );
    assert!(settings.modern_authentication.enabled);
    // The password grant asks for `https://graph.microsoft.com/.default`: the delegated
    // permissions the app was consented for on Graph.
    assert_eq!(service.found("Sadie").await, [SADIE]);
    assert_eq!(service.found("Mara Whit").await, [MARA]);
    assert_eq!(
        service.found("alfred@contoso.com").await,
        ["alfred@contoso.com"]
    );
    let (_, answer) = service.search(SADIE, "Mara").await;
    let mara = person(&people(&answer), MARA).clone();
    assert_eq!(mara["sources"], serde_json::json!(["graph"]));
    assert_eq!(mara["job_title"], "Engineer");
    assert!(service.world.sim.graph().stats().requests > 0);
    service.running.stop().await;
}
