//! The administrator's console over HTTP, against the composed service and the simulator:
//! sign-in with the admin token, the session cookie's attributes, CSRF and origin checks on
//! every form, the security headers, and the status page.

use bems::service::console::CONTENT_SECURITY_POLICY;
use bems::service::server::{self, Running};
use bems::settings::SubscriptionMode;
use bems_demo::{self as demo, TENANT, World};
use reqwest::header::{self, HeaderMap};
use reqwest::redirect::Policy;

struct Console {
    world: World,
    running: Option<Running>,
    base: String,
    http: reqwest::Client,
}

impl Console {
    async fn start() -> Self {
        let world = World::start(SubscriptionMode::Streaming, None, true)
            .await
            .expect("world starts");
        Self::serve(world).await
    }

    /// The service of `world`, over HTTPS when its settings have a certificate; the client
    /// follows no redirect, trusts the simulator's CA and reaches its identity platform.
    async fn serve(world: World) -> Self {
        let running = server::start(&world.settings, &world.overrides)
            .await
            .expect("service starts");
        let sim = &world.sim;
        let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("the CA");
        let base = if world.settings.server.tls_cert_file.is_some() {
            format!("https://localhost:{}", running.addr.port())
        } else {
            format!("http://{}", running.addr)
        };
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .tls_certs_merge([ca])
            .resolve(&sim.scenario().login_host, sim.https_addr())
            .build()
            .expect("client");
        Self {
            world,
            running: Some(running),
            base,
            http,
        }
    }

    fn world(&self) -> &World {
        &self.world
    }

    fn port(&self) -> u16 {
        self.running.as_ref().map_or(0, |r| r.addr.port())
    }

    /// Stops the service and starts it again on the same store and settings file (a new
    /// port); sessions do not survive.
    async fn restart(&mut self) {
        if let Some(old) = self.running.take() {
            old.stop().await;
        }
        let running = server::start(&self.world.settings, &self.world.overrides)
            .await
            .expect("service starts again");
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    async fn get(&self, path: &str, cookies: &[(&str, &str)]) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        Page::of(with_cookies(request, cookies).send().await.expect("answer")).await
    }

    /// A form POST from this console's origin.
    async fn post(&self, path: &str, cookies: &[(&str, &str)], form: &[(&str, &str)]) -> Page {
        self.post_from(Some(&self.base), path, cookies, form).await
    }

    async fn post_from(
        &self,
        origin: Option<&str>,
        path: &str,
        cookies: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Page {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        Page::of(with_cookies(request, cookies).send().await.expect("answer")).await
    }

    /// Signs in; the session cookie's value and the page's CSRF token.
    async fn sign_in(&self) -> (String, String) {
        let form = self.get("/console/sign-in", &[]).await;
        let pre = form.cookie(PRE).expect("pre cookie");
        let signed_in = self
            .post(
                "/console/sign-in",
                &[(PRE, &pre)],
                &[("token", demo::ADMIN_TOKEN), ("csrf", &form.csrf())],
            )
            .await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        let session = signed_in.cookie(SESSION).expect("session cookie");
        let status = self.get("/console", &[(SESSION, &session)]).await;
        assert_eq!(status.status, 200);
        (session, status.csrf())
    }
}

#[path = "console/pages.rs"]
mod pages;

const SESSION: &str = "__Host-bems-console";
const PRE: &str = "__Host-bems-console-pre";

fn with_cookies(
    request: reqwest::RequestBuilder,
    cookies: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    if cookies.is_empty() {
        return request;
    }
    let value: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
    request.header(header::COOKIE, value.join("; "))
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    async fn of(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        Self {
            status,
            headers,
            body,
        }
    }

    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The whole `Set-Cookie` line for `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value the page sets for cookie `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        let line = self.set_cookie(name)?;
        let value = line.split(';').next()?.split_once('=')?.1;
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// The page's CSRF token (the hidden field of its forms).
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF field") + marker.len();
        let len = self.body[start..].find('"').expect("closing quote");
        self.body[start..start + len].to_owned()
    }

    /// Asserts the body holds each of `parts`, in this order.
    fn assert_in_order(&self, parts: &[&str]) {
        let at: Vec<usize> = parts
            .iter()
            .map(|part| {
                self.body
                    .find(part)
                    .unwrap_or_else(|| panic!("{part}: {}", self.body))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "in order: {at:?}");
    }

    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// The cookie carries every attribute that keeps it from scripts and other sites.
fn assert_locked_down(line: &str) {
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(line.contains(attribute), "{attribute} missing: {line}");
    }
    assert!(!line.contains("Domain"), "{line}");
}

#[tokio::test]
async fn the_administrator_signs_in_sees_each_tenant_and_signs_out() {
    let console = Console::start().await;
    // Not signed in: to the form.
    let away = console.get("/console", &[]).await;
    assert_eq!((away.status, away.location()), (303, "/console/sign-in"));

    let form = console.get("/console/sign-in", &[]).await;
    assert_eq!(form.status, 200);
    assert_eq!(
        form.header(header::CONTENT_SECURITY_POLICY),
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(form.header(header::X_FRAME_OPTIONS), "DENY");
    // Not `no-referrer`: browsers would then send `Origin: null` with the console's forms.
    assert_eq!(form.header(header::REFERRER_POLICY), "same-origin");
    assert_eq!(form.header(header::CACHE_CONTROL), "no-store");
    assert!(!form.body.contains("<script"), "no script: {}", form.body);
    assert!(form.body.contains("<label for=\"token\">"), "{}", form.body);
    assert_locked_down(&form.set_cookie(PRE).expect("pre cookie"));
    let pre = form.cookie(PRE).expect("pre cookie");
    assert_eq!(form.csrf(), pre, "the form repeats its cookie");

    // A wrong token: refused, no session.
    let wrong = console
        .post(
            "/console/sign-in",
            &[(PRE, &pre)],
            &[("token", "not-the-token"), ("csrf", &pre)],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not the admin token"), "{}", wrong.body);
    assert!(wrong.set_cookie(SESSION).is_none());

    // The right token.
    let (session, csrf) = console.sign_in().await;
    assert_eq!(session.len(), 64);
    let status = console.get("/console", &[(SESSION, &session)]).await;
    assert_eq!(status.status, 200);
    assert!(
        status.body.contains(&format!("Tenant {TENANT}")),
        "{}",
        status.body
    );
    assert!(status.body.contains("Mailboxes watched, by state"));
    assert!(!status.body.contains(demo::ADMIN_TOKEN));
    assert_eq!(
        status.header(header::CONTENT_SECURITY_POLICY),
        CONTENT_SECURITY_POLICY
    );

    // Sign-out without the CSRF token, or from another site: refused, still signed in.
    let forged = console
        .post(
            "/console/sign-out",
            &[(SESSION, &session)],
            &[("csrf", "x")],
        )
        .await;
    assert_eq!(forged.status, 403);
    let elsewhere = console
        .post_from(
            Some("https://evil.example"),
            "/console/sign-out",
            &[(SESSION, &session)],
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(elsewhere.status, 403);
    assert_eq!(
        console.get("/console", &[(SESSION, &session)]).await.status,
        200
    );

    // Signed out: the session is gone, its cookie cleared.
    let out = console
        .post(
            "/console/sign-out",
            &[(SESSION, &session)],
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!((out.status, out.location()), (303, "/console/sign-in"));
    assert!(
        out.set_cookie(SESSION)
            .is_some_and(|line| line.contains("Max-Age=0"))
    );
    let after = console.get("/console", &[(SESSION, &session)]).await;
    assert_eq!(after.status, 303);
    console.stop().await;
}

#[tokio::test]
async fn a_sign_in_without_its_form_cookie_or_from_another_site_is_refused() {
    let console = Console::start().await;
    let form = console.get("/console/sign-in", &[]).await;
    let pre = form.cookie(PRE).expect("pre cookie");
    let right = [("token", demo::ADMIN_TOKEN), ("csrf", pre.as_str())];
    // Another site posting the form (login CSRF), with or without the browser's cookie.
    for origin in [Some("https://evil.example"), None] {
        let page = console
            .post_from(origin, "/console/sign-in", &[(PRE, &pre)], &right)
            .await;
        assert_eq!(page.status, 403, "{origin:?}");
        assert!(page.set_cookie(SESSION).is_none());
    }
    // The form's token without its cookie, or a cookie the form does not repeat.
    let no_cookie = console.post("/console/sign-in", &[], &right).await;
    assert_eq!(no_cookie.status, 403);
    let other = console
        .post("/console/sign-in", &[(PRE, "0123")], &right)
        .await;
    assert_eq!(other.status, 403);
    console.stop().await;
}

#[tokio::test]
async fn wrong_tokens_lock_sign_in_for_a_while_even_for_the_right_one() {
    let console = Console::start().await;
    let form = console.get("/console/sign-in", &[]).await;
    let pre = form.cookie(PRE).expect("pre cookie");
    for _ in 0..5 {
        let wrong = console
            .post(
                "/console/sign-in",
                &[(PRE, &pre)],
                &[("token", "guess"), ("csrf", &pre)],
            )
            .await;
        assert_eq!(wrong.status, 401);
    }
    let locked = console
        .post(
            "/console/sign-in",
            &[(PRE, &pre)],
            &[("token", demo::ADMIN_TOKEN), ("csrf", &pre)],
        )
        .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.set_cookie(SESSION).is_none());
    console.stop().await;
}
