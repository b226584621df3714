//! The console in a real browser: headless Chromium driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`, installed by `scripts/test`) with fantoccini, against the
//! composed service and the simulator. A screenshot of each page goes to
//! `target/tmp/console-screenshots/`.
//!
//! Without chromedriver the test passes with a note, unless `BEMS_REQUIRE_SERVICES=1` (as
//! `scripts/test` sets), when it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bems::service::server;
use bems::settings::SubscriptionMode;
use bems_demo::{self as demo, TENANT, World};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver on a free loopback port; `None` (or a failure, when services are
/// required) without it.
fn chromedriver() -> Option<Driver> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = match Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            if std::env::var("BEMS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
                panic!(
                    "BEMS_REQUIRE_SERVICES=1 but chromedriver does not start ({error}): \
                     apt-get install chromium chromium-driver"
                );
            }
            eprintln!("chromedriver not found ({error}): the browser test did not run");
            return None;
        }
    };
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(driver)
}

async fn browser(driver: &Driver, extra: &[String]) -> Client {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    args.extend_from_slice(extra);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": args }),
    );
    ClientBuilder::rustls()
        .expect("TLS for the WebDriver client")
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Writes the browser's view to the screenshot directory as `name`.png.
async fn screenshot(browser: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

async fn path(browser: &Client) -> String {
    browser.current_url().await.expect("url").path().to_owned()
}

/// Waits (at most 10 s) until the browser shows `base` + `path`.
async fn arrive(browser: &Client, base: &str, path: &str) {
    let url = url::Url::parse(&format!("{base}{path}")).expect("url");
    if let Err(error) = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_url(&url)
        .await
    {
        panic!(
            "not at {path} ({error}): {}",
            browser.source().await.unwrap_or_default()
        );
    }
}

/// The element `css` finds, waiting for it (at most 15 s: a page loading, a test running).
async fn wait_for(browser: &Client, css: &str) -> Element {
    match browser
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(error) => panic!(
            "{css} ({error}): {}",
            browser.source().await.unwrap_or_default()
        ),
    }
}

/// Types `text` into the field `css` finds.
async fn type_into(browser: &Client, css: &str, text: &str) {
    element(browser, Locator::Css(css), css)
        .await
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

/// Follows the link whose text is `text`.
async fn follow(browser: &Client, text: &str) {
    element(browser, Locator::LinkText(text), text)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
}

async fn click(browser: &Client, css: &str) {
    element(browser, Locator::Css(css), css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

/// The element `locator` finds (`what` names it in the failure).
async fn element(browser: &Client, locator: Locator<'_>, what: &str) -> Element {
    browser
        .find(locator)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn sign_in_with(browser: &Client, token: &str) {
    let field = browser
        .find(Locator::Css("input#token"))
        .await
        .expect("token field");
    field.send_keys(token).await.expect("typed");
    browser
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("clicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_signs_in_sees_the_status_and_signs_out_in_chromium() {
    let Some(driver) = chromedriver() else {
        return;
    };
    let world = World::start(SubscriptionMode::Streaming, None, true)
        .await
        .expect("world starts");
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    // `localhost`: a secure context for the browser, so it keeps the `Secure` cookie over HTTP.
    let base = format!("http://localhost:{}", running.addr.port());
    let browser = browser(&driver, &[]).await;

    browser
        .goto(&format!("{base}/console"))
        .await
        .expect("goto");
    assert_eq!(path(&browser).await, "/console/sign-in");
    let label = browser
        .find(Locator::Css("label[for=token]"))
        .await
        .expect("the field has a label");
    assert_eq!(label.text().await.expect("text"), "Admin token");
    screenshot(&browser, "sign-in").await;

    sign_in_with(&browser, "a wrong token").await;
    let error = wait_for(&browser, "#sign-in-error").await;
    assert_eq!(
        error.text().await.expect("text"),
        "That is not the admin token."
    );
    screenshot(&browser, "sign-in-refused").await;

    sign_in_with(&browser, demo::ADMIN_TOKEN).await;
    arrive(&browser, &base, "/console").await;
    let heading = browser
        .find(Locator::Css(&format!("h2#tenant-{TENANT}")))
        .await
        .expect("the tenant's section");
    assert_eq!(
        heading.text().await.expect("text"),
        format!("Tenant {TENANT}")
    );
    let source = browser.source().await.expect("source");
    assert!(!source.contains(demo::ADMIN_TOKEN), "no secret in the page");
    screenshot(&browser, "status").await;

    // Settings: Credential for Microsoft 365 without modern authentication is refused next to
    // the field; with it, saved.
    follow(&browser, "Email notifications settings").await;
    arrive(
        &browser,
        &base,
        &format!("/console/tenants/{TENANT}/settings"),
    )
    .await;
    screenshot(&browser, "settings").await;
    click(&browser, "#exchange-microsoft365").await;
    type_into(&browser, "#service_account_password", "N3w-Secret!").await;
    click(&browser, "button[value=save]").await;
    let error = wait_for(&browser, "#error-modern_authentication\\.enabled").await;
    assert!(
        error
            .text()
            .await
            .expect("text")
            .contains("requires modern authentication")
    );
    screenshot(&browser, "settings-refused").await;
    click(&browser, "#modern_authentication\\.enabled").await;
    click(&browser, "button[value=update]").await;
    let authority = wait_for(&browser, "#modern_authentication\\.authority").await;
    authority
        .send_keys("https://login.microsoftonline.com/contoso.onmicrosoft.com")
        .await
        .expect("typed");
    type_into(
        &browser,
        "#modern_authentication\\.client_application_id",
        "1b730954-1685-4b74-9bfd-dac224a7b894",
    )
    .await;
    type_into(&browser, "#service_account_password", "N3w-Secret!").await;
    click(&browser, "button[value=save]").await;
    let saved = wait_for(&browser, "p.saved").await;
    assert!(saved.text().await.expect("text").starts_with("Saved."));
    assert!(
        !browser
            .source()
            .await
            .expect("source")
            .contains("N3w-Secret!")
    );
    screenshot(&browser, "settings-saved").await;

    // Test connection, with the settings in force: each step, then the verdict.
    let email = browser
        .find(Locator::Css("#test_email"))
        .await
        .expect("the address field");
    email.clear().await.expect("cleared");
    email.send_keys("mara@contoso.com").await.expect("typed");
    click(&browser, "form[action$=test-connection] button").await;
    let verdict = wait_for(&browser, "li.verdict").await;
    assert_eq!(
        verdict.text().await.expect("text"),
        "Passed: every step worked."
    );
    let steps = browser
        .find_all(Locator::Css("ol.steps > li.step"))
        .await
        .expect("steps");
    assert_eq!(steps.len(), 3, "Autodiscover, authentication, subscription");
    screenshot(&browser, "test-connection").await;

    browser
        .find(Locator::Css("header form button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("clicked");
    arrive(&browser, &base, "/console/sign-in").await;
    browser
        .goto(&format!("{base}/console"))
        .await
        .expect("goto");
    assert_eq!(
        path(&browser).await,
        "/console/sign-in",
        "signed out for good"
    );

    // Restarted, the service runs with the saved settings: signed in again, the page shows
    // them.
    running.stop().await;
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts again");
    browser
        .goto(&format!("{base}/console"))
        .await
        .expect("goto");
    arrive(&browser, &base, "/console/sign-in").await;
    sign_in_with(&browser, demo::ADMIN_TOKEN).await;
    arrive(&browser, &base, "/console").await;
    let settings = format!("{base}/console/tenants/{TENANT}/settings");
    browser.goto(&settings).await.expect("goto");
    let microsoft365 = wait_for(&browser, "#exchange-microsoft365").await;
    assert!(microsoft365.is_selected().await.expect("selected"), "kept");
    let authority = wait_for(&browser, "#modern_authentication\\.authority").await;
    assert_eq!(
        authority.prop("value").await.expect("value").as_deref(),
        Some("https://login.microsoftonline.com/contoso.onmicrosoft.com")
    );
    screenshot(&browser, "settings-after-restart").await;

    // A form without the session's CSRF token (the field removed from the page): refused.
    browser
        .execute(
            "document.querySelectorAll('main form input[name=csrf]').forEach(e => e.remove());",
            vec![],
        )
        .await
        .expect("the field removed");
    click(&browser, "button[value=update]").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let title = browser.title().await.expect("title");
        if title.starts_with("Refused") {
            break;
        }
        assert!(Instant::now() < deadline, "not refused: {title}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    screenshot(&browser, "csrf-refused").await;

    browser.close().await.expect("browser closed");
    running.stop().await;
}

/// Passive authentication's Login through the simulator's identity platform and its login
/// page, over HTTPS (the simulator's CA is not the browser's: its errors are ignored, on
/// loopback only), back to the service, and the expiry on the settings page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_login_round_trip_in_chromium() {
    let Some(driver) = chromedriver() else {
        return;
    };
    let world = World::passive_microsoft_365()
        .await
        .expect("a passive tenant");
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let base = format!("https://localhost:{}", running.addr.port());
    let login_host = world.sim.scenario().login_host.clone();
    let browser = browser(
        &driver,
        &[
            "--ignore-certificate-errors".to_owned(),
            format!("--host-resolver-rules=MAP {login_host} 127.0.0.1"),
        ],
    )
    .await;
    browser
        .goto(&format!("{base}/console"))
        .await
        .expect("goto");
    arrive(&browser, &base, "/console/sign-in").await;
    sign_in_with(&browser, demo::ADMIN_TOKEN).await;
    arrive(&browser, &base, "/console").await;
    browser
        .goto(&format!("{base}/console/tenants/{TENANT}/settings"))
        .await
        .expect("goto");
    let state = browser
        .find(Locator::Css("#passive-state"))
        .await
        .expect("the sign-in state");
    assert!(
        state
            .text()
            .await
            .expect("text")
            .starts_with("Not signed in")
    );
    click(&browser, "form[action$=sign-in] button").await;
    // The identity provider's login page.
    let login = wait_for(&browser, "input[name=login_hint]").await;
    assert_eq!(
        browser.current_url().await.expect("url").host_str(),
        Some(login_host.as_str())
    );
    login.clear().await.expect("cleared");
    login
        .send_keys("svc-bems@contoso.com")
        .await
        .expect("typed");
    type_into(&browser, "input[name=password]", "Svc-Pa55w.rd").await;
    screenshot(&browser, "passive-login-provider").await;
    click(&browser, "button[type=submit]").await;
    let done = wait_for(&browser, "#signed-in").await;
    assert!(
        done.text()
            .await
            .expect("text")
            .starts_with("The authentication tokens were obtained.")
    );
    screenshot(&browser, "passive-login-done").await;
    follow(&browser, "OK").await;
    arrive(
        &browser,
        &base,
        &format!("/console/tenants/{TENANT}/settings"),
    )
    .await;
    let state = browser
        .find(Locator::Css("#passive-state"))
        .await
        .expect("the sign-in state");
    let text = state.text().await.expect("text");
    assert!(
        text.starts_with("Signed in. The access token expires"),
        "{text}"
    );
    let renewal = wait_for(&browser, "#passive-renewal").await;
    let renewal = renewal.text().await.expect("text");
    assert!(renewal.contains("a new login is due by"), "{renewal}");
    screenshot(&browser, "passive-signed-in").await;
    browser.close().await.expect("browser closed");
    running.stop().await;
}
