//! The console's pages after sign-in: settings (refusals next to their fields, Save, a
//! restart), the `.pfx` upload, passive authentication's Login, Test connection, and the
//! status page.

use super::*;

/// The files the console wrote in the secret directory `dir`.
fn console_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("secret directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("console-"))
        })
        .collect()
}

/// The settings form's fields as the page posts them back (hidden CSRF and the visible
/// inputs' names and values), for a test to change and post.
fn settings_path() -> String {
    format!("/console/tenants/{TENANT}/settings")
}

#[tokio::test]
async fn settings_are_refused_next_to_their_field_then_saved_and_kept_across_a_restart() {
    let mut console = Console::start().await;
    let (session, _) = console.sign_in().await;
    let cookies = [(SESSION, session.as_str())];
    let page = console.get(&settings_path(), &cookies).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // The seed's sections, in its order, for an on-premises Credential tenant.
    let order = [
        "<legend>Authentication type</legend>",
        "<legend>Modern authentication</legend>",
        "<legend>Service account</legend>",
        "<legend>Autodiscover and connections</legend>",
    ];
    page.assert_in_order(&order);
    assert!(!page.body.contains("Passive authentication</legend>"));
    // SCP needs the Connectivity Node route, which is not set.
    assert!(!page.body.contains("scp_lookup"));
    // The demo's password is set in the settings file; it is never shown.
    assert!(!page.body.contains("Svc-Pa55w.rd"));
    let csrf = page.csrf();

    // Credential for Microsoft 365 without modern authentication: refused next to the field.
    let choice = [
        ("csrf", csrf.as_str()),
        ("action", "save"),
        ("exchange", "microsoft365"),
        ("authentication", "credential"),
        ("service_account_username", "svc-bems@contoso.com"),
        ("service_account_password", "N3w-Secret!"),
        ("allow_http_redirection_and_dns_srv", "on"),
    ];
    let refused = console.post(&settings_path(), &cookies, &choice).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let marker = "id=\"error-modern_authentication.enabled\"";
    assert!(refused.body.contains(marker), "{}", refused.body);
    assert!(refused.body.contains("requires modern authentication"));
    assert!(
        refused
            .body
            .contains("aria-describedby=\"error-modern_authentication.enabled\""),
        "the field points at its error"
    );
    assert!(
        !refused.body.contains("N3w-Secret!"),
        "a typed secret is not echoed"
    );
    let secrets_dir = console.world().settings.secrets.in_force()[0].clone();
    assert!(
        console_files(&secrets_dir).is_empty(),
        "a refused save leaves no file"
    );

    // Fixed: modern authentication on, with its authority and app id.
    let mut fixed = choice.to_vec();
    fixed.extend([
        ("modern_authentication.enabled", "on"),
        (
            "modern_authentication.authority",
            "https://login.microsoftonline.com/contoso.onmicrosoft.com",
        ),
        (
            "modern_authentication.client_application_id",
            "1b730954-1685-4b74-9bfd-dac224a7b894",
        ),
        (
            "modern_authentication.server_name",
            "https://outlook.office365.com",
        ),
        ("alerts.content", "sender"),
        ("alerts.rules", "on"),
    ]);
    let saved = console.post(&settings_path(), &cookies, &fixed).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Saved."), "{}", saved.body);
    let files = console_files(&secrets_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::read_to_string(&files[0]).expect("file"),
        "N3w-Secret!"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&files[0])
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Restarted, the service runs with them (the status page names the method in force), and
    // the settings page shows them, the password as set.
    console.restart().await;
    let (session, _) = console.sign_in().await;
    let status = console.get("/console", &[(SESSION, &session)]).await;
    assert!(
        status
            .body
            .contains("modern_password as svc-bems@contoso.com"),
        "{}",
        status.body
    );
    let page = console.get(&settings_path(), &[(SESSION, &session)]).await;
    assert!(
        page.body.contains(
            "id=\"exchange-microsoft365\" name=\"exchange\" value=\"microsoft365\" checked"
        ),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("https://login.microsoftonline.com/contoso.onmicrosoft.com")
    );
    assert!(page.body.contains("set (leave blank to keep it)"));
    assert!(!page.body.contains("N3w-Secret!"));
    assert!(
        page.body.contains(
            "id=\"alerts.content-sender\" name=\"alerts.content\" value=\"sender\" checked"
        ),
        "the alerts' content is kept: {}",
        page.body
    );
    console.stop().await;
}

#[tokio::test]
async fn a_settings_form_without_the_session_csrf_token_is_refused_and_changes_nothing() {
    let console = Console::start().await;
    let (session, _) = console.sign_in().await;
    let form = [
        ("csrf", "forged"),
        ("action", "save"),
        ("exchange", "microsoft365"),
        ("authentication", "passive"),
    ];
    let page = console
        .post(&settings_path(), &[(SESSION, &session)], &form)
        .await;
    assert_eq!(page.status, 403);
    let page = console.get(&settings_path(), &[(SESSION, &session)]).await;
    assert!(
        page.body.contains(
            "id=\"exchange-on_premises\" name=\"exchange\" value=\"on_premises\" checked"
        ),
        "{}",
        page.body
    );
    console.stop().await;
}

#[tokio::test]
async fn test_connection_shows_each_step_of_the_test() {
    let console = Console::start().await;
    let (session, _) = console.sign_in().await;
    let cookies = [(SESSION, session.as_str())];
    let settings = console.get(&settings_path(), &cookies).await;
    assert!(settings.body.contains("<legend>Test connection</legend>"));
    let csrf = settings.csrf();
    let path = format!("/console/tenants/{TENANT}/test-connection");
    let page = console
        .post(
            &path,
            &cookies,
            &[("csrf", &csrf), ("email", "mara@contoso.com")],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header(header::CONTENT_SECURITY_POLICY),
        CONTENT_SECURITY_POLICY
    );
    let steps = [
        "autodiscover</strong>: ok",
        "authentication</strong>: ok",
        "subscription</strong>: ok",
    ];
    page.assert_in_order(&steps);
    assert!(page.body.contains("Passed: every step worked."));
    assert!(page.body.trim_end().ends_with("</html>"));
    // An address Autodiscover cannot find: the first step fails, and the test stops there.
    let failed = console
        .post(
            &path,
            &cookies,
            &[("csrf", &csrf), ("email", "nobody@unknown.example")],
        )
        .await;
    assert!(
        failed.body.contains("autodiscover</strong>: failed"),
        "{}",
        failed.body
    );
    assert!(!failed.body.contains("authentication</strong>"));
    assert!(failed.body.contains("Failed: see the step above."));
    // Without the session's CSRF token: refused, nothing tested.
    let forged = console
        .post(
            &path,
            &cookies,
            &[("csrf", "x"), ("email", "mara@contoso.com")],
        )
        .await;
    assert_eq!(forged.status, 403);
    console.stop().await;
}

/// The demo world as a Microsoft 365 tenant under passive authentication, over HTTPS.
async fn passive_tenant() -> Console {
    Console::serve(
        World::passive_microsoft_365()
            .await
            .expect("a passive tenant"),
    )
    .await
}

#[tokio::test]
async fn passive_login_goes_to_the_identity_provider_and_comes_back_with_the_expiry() {
    let console = passive_tenant().await;
    let (session, _) = console.sign_in().await;
    let cookies = [(SESSION, session.as_str())];
    let settings = console.get(&settings_path(), &cookies).await;
    assert!(
        settings
            .body
            .contains("Not signed in: no notifications until an administrator logs in."),
        "{}",
        settings.body
    );
    let redirect = format!(
        "https://localhost:{}/oauth/{TENANT}/callback",
        console.port()
    );
    assert!(
        settings.body.contains(&format!(
            "id=\"redirect_uri\" value=\"{redirect}\" readonly"
        )),
        "the redirect URI, read-only: {}",
        settings.body
    );
    let csrf = settings.csrf();
    let login_path = format!("/console/tenants/{TENANT}/sign-in");
    // Login: to the identity provider's authorize endpoint.
    let login = console
        .post(&login_path, &cookies, &[("csrf", &csrf)])
        .await;
    assert_eq!(login.status, 303, "{}", login.body);
    let mut authorize: url::Url = login.location().parse().expect("a URL");
    let login_host = console.world().sim.scenario().login_host.clone();
    assert_eq!(authorize.host_str(), Some(login_host.as_str()));
    // Browsers hold the form's redirect to the policy's form-action: the provider is allowed.
    let provider = authorize.origin().ascii_serialization();
    assert!(
        settings
            .header(header::CONTENT_SECURITY_POLICY)
            .contains(&format!("form-action 'self' {provider};")),
        "{}",
        settings.header(header::CONTENT_SECURITY_POLICY)
    );
    // The simulator's non-interactive sign-in: what its login page would post.
    authorize
        .query_pairs_mut()
        .append_pair("login_hint", "svc-bems@contoso.com")
        .append_pair("password", "Svc-Pa55w.rd");
    let answer = console
        .http
        .get(authorize)
        .send()
        .await
        .expect("authorize answers");
    assert_eq!(answer.status(), 302, "{:?}", answer.text().await);
    let back = answer.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(back.starts_with(&redirect), "{back}");
    let page = Page::of(
        console
            .http
            .get(&back)
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .send()
            .await
            .expect("the callback"),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("The authentication tokens were obtained."),
        "{}",
        page.body
    );
    assert_eq!(
        page.header(header::CONTENT_SECURITY_POLICY),
        CONTENT_SECURITY_POLICY
    );
    // The settings page now says when the token expires, and that it is refreshed.
    let settings = console.get(&settings_path(), &cookies).await;
    assert!(
        settings
            .body
            .contains("Signed in. The access token expires"),
        "{}",
        settings.body
    );
    assert!(settings.body.contains("refreshed automatically"));
    // And when the identity provider's policy (90 days by default) asks for a new login.
    let today = time::OffsetDateTime::now_utc().date();
    let due = today + time::Duration::days(90);
    assert!(
        settings.body.contains(&format!(
            "Signed in on {today}; a new login is due by {due}"
        )),
        "{}",
        settings.body
    );
    let status = console.get("/console", &cookies).await;
    assert!(
        status.body.contains("a new login is due by"),
        "{}",
        status.body
    );
    // Login without the session's CSRF token: refused.
    let forged = console.post(&login_path, &cookies, &[("csrf", "x")]).await;
    assert_eq!(forged.status, 403);
    console.stop().await;
}

#[tokio::test]
async fn the_status_page_counts_pushes_by_outcome_says_who_is_entitled_and_finds_devices() {
    let console = Console::start().await;
    let world = console.world();
    let bearer = world.user_token("mara@contoso.com").expect("user token");
    let (status, body) = demo::register(
        &reqwest::Client::new(),
        &console.base,
        &bearer,
        "mara@contoso.com",
        "apns",
        &demo::apns_token(7),
        demo::TOPIC,
    )
    .await
    .expect("the API answers");
    assert_eq!(status, 201, "{body}");
    let (session, _) = console.sign_in().await;
    let cookies = [(SESSION, session.as_str())];
    // Mail until a push arrives (the mailbox is subscribed shortly after the registration).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while world.apns.received_len() == 0 {
        assert!(std::time::Instant::now() < deadline, "no push within 20 s");
        world
            .sim
            .deliver_mail("mara@contoso.com", "Hello", "boss@contoso.com")
            .expect("mail");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // One push the provider refuses: a failure of this tenant, by its reason.
    let pushed = world.apns.received_len();
    world.apns.script(
        &demo::apns_token(7),
        [exchange_sim::push::Reply::apns("BadExpirationDate")],
    );
    world
        .sim
        .deliver_mail("mara@contoso.com", "Refused", "boss@contoso.com")
        .expect("mail");
    while world.apns.received_len() == pushed {
        assert!(
            std::time::Instant::now() < deadline,
            "no second push within 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let page = console.get("/console", &cookies).await;
    let tenant_section = &page.body[page.body.find("id=\"tenant-").expect("tenant")..];
    let tenant_rate = |class: &str| -> f64 {
        let marker = format!("class=\"{class}\">");
        let start = tenant_section.find(&marker).expect(class) + marker.len();
        let len = tenant_section[start..].find('<').expect("end");
        tenant_section[start..start + len]
            .parse()
            .expect("a number")
    };
    assert!(tenant_rate("pushes-per-minute") > 0.0, "{tenant_section}");
    assert!(tenant_rate("events-per-minute") > 0.0);
    assert!(
        tenant_section.contains("<span class=\"warning\">rejected: 1</span>"),
        "{tenant_section}"
    );
    assert!(
        page.body
            .contains("<caption>Pushes since the start, by outcome</caption>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<th scope=\"row\">apns</th><td>delivered</td>"),
        "{}",
        page.body
    );
    let per_minute = |id: &str| -> f64 {
        let marker = format!("id=\"{id}\">");
        let start = page.body.find(&marker).expect(id) + marker.len();
        let len = page.body[start..].find('<').expect("end");
        page.body[start..start + len].parse().expect("a number")
    };
    assert!(per_minute("pushes-per-minute") > 0.0, "{}", page.body);
    assert!(per_minute("events-per-minute") > 0.0);
    assert!(page.body.contains("every mailbox of the tenant"));
    assert!(!page.body.contains("Devices found"), "no search, no list");

    let found = console.get("/console?user=MARA", &cookies).await;
    assert!(found.body.contains("<caption>Devices found</caption>"));
    assert!(
        found
            .body
            .contains("<th scope=\"row\">mara@contoso.com</th><td>apns</td>"),
        "{}",
        found.body
    );
    assert!(
        !found.body.contains(&demo::apns_token(7)),
        "push tokens are not shown"
    );
    let none = console.get("/console?user=nobody", &cookies).await;
    assert!(none.body.contains("No device of this tenant matches."));
    console.stop().await;
}

/// A `.pfx` of a fresh self-signed certificate and its key, under `password`.
fn pfx(password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["svc-bems.contoso.com".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let chain = PrivateKeyChain::new(
        b"key-1".to_vec(),
        PrivateKey::from_der(&key.serialize_der()).expect("key"),
        [Certificate::from_der(cert.der()).expect("certificate")],
    );
    let mut store = KeyStore::new();
    store.add_entry("bems", KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().expect("pfx written")
}

/// A multipart/form-data body of `fields`; its content type.
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "bems-console-test-boundary";
    let mut body = Vec::new();
    for (name, filename, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match filename {
            Some(file) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/x-pkcs12\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_pfx_upload_is_checked_with_its_password_then_kept_as_a_secret_file() {
    let console = Console::start().await;
    let (session, _) = console.sign_in().await;
    let cookies = [(SESSION, session.as_str())];
    // Choosing Client Certificate (and updating the form) shows the upload.
    let settings = console.get(&settings_path(), &cookies).await;
    let csrf = settings.csrf();
    let chosen = console
        .post(
            &settings_path(),
            &cookies,
            &[
                ("csrf", &csrf),
                ("action", "update"),
                ("exchange", "on_premises"),
                ("authentication", "client_certificate"),
            ],
        )
        .await;
    assert!(
        chosen.body.contains("<legend>Client Certificate</legend>"),
        "{}",
        chosen.body
    );
    assert!(chosen.body.contains("No certificate is set."));

    let path = format!("/console/tenants/{TENANT}/certificate");
    let upload = |file: Vec<u8>, password: &'static str, csrf: String| {
        let console = &console;
        let path = path.clone();
        let session = session.clone();
        async move {
            let (content_type, body) = multipart(&[
                ("csrf", None, csrf.as_bytes()),
                ("pfx", Some("bems.pfx"), &file),
                ("password", None, password.as_bytes()),
            ]);
            let request = console
                .http
                .post(format!("{}{path}", console.base))
                .header(header::ORIGIN, &console.base)
                .header(header::CONTENT_TYPE, content_type)
                .body(body);
            Page::of(
                with_cookies(request, &[(SESSION, &session)])
                    .send()
                    .await
                    .expect("answer"),
            )
            .await
        }
    };
    let file = pfx("pfx-Pa55");
    let wrong = upload(file.clone(), "wrong", csrf.clone()).await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.body.contains("id=\"error-pfx\""), "{}", wrong.body);
    let not_pfx = upload(b"not a pfx".to_vec(), "x", csrf.clone()).await;
    assert_eq!(not_pfx.status, 422);
    let forged = upload(file.clone(), "pfx-Pa55", "forged".to_owned()).await;
    assert_eq!(forged.status, 403);
    let secrets_dir = console.world().settings.secrets.in_force()[0].clone();
    let written = || console_files(&secrets_dir);
    assert!(written().is_empty(), "nothing kept of refused uploads");

    let good = upload(file.clone(), "pfx-Pa55", csrf.clone()).await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert!(
        good.body.contains("Certificate checked and saved."),
        "{}",
        good.body
    );
    assert!(good.body.contains("A certificate is set"), "{}", good.body);
    assert!(!good.body.contains("pfx-Pa55"));
    let files = written();
    assert_eq!(files.len(), 2, "the .pfx and its password: {files:?}");
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    assert!(bytes.contains(&file));
    assert!(bytes.contains(&b"pfx-Pa55".to_vec()));
    // A new upload replaces the files: the earlier ones are removed once it is stored.
    let again = upload(file.clone(), "pfx-Pa55", csrf.clone()).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let now = written();
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(
        now.iter().all(|f| !files.contains(f)),
        "new files: {now:?} {files:?}"
    );
    console.stop().await;
}
