//! The authorization-code flow with PKCE: the authorize endpoint and code redemption.

use reqwest::StatusCode;
use serde_json::Value;

use super::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The authorize request's parameters, signing in `sadie` with `password` when given.
fn authorize_params(redirect: &str, password: Option<&str>) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("client_id", APP.to_owned()),
        ("response_type", "code".to_owned()),
        ("redirect_uri", redirect.to_owned()),
        ("scope", EWS_SCOPE.to_owned()),
        ("state", "st&te 1".to_owned()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".to_owned()),
        ("login_hint", "sadie@contoso.com".to_owned()),
    ];
    if let Some(password) = password {
        params.push(("password", password.to_owned()));
    }
    params
}

async fn authorize(sim: &Sim, params: &[(&'static str, String)]) -> reqwest::Response {
    support::client(sim)
        .get(sim.identity().authorize_endpoint())
        .query(params)
        .send()
        .await
        .expect("authorize answers")
}

/// The query of a `302` to the redirect URI.
fn redirected(response: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ASCII");
    let url = url::Url::parse(location).expect("URL");
    assert_eq!(
        format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.path()
        ),
        REDIRECT
    );
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Signs `sadie` in and returns the code.
async fn code(sim: &Sim) -> String {
    let query = redirected(&authorize(sim, &authorize_params(REDIRECT, Some("Sadie-Pa55"))).await);
    assert_eq!(param(&query, "state"), Some("st&te 1"));
    param(&query, "code").expect("a code").to_owned()
}

async fn redeem(sim: &Sim, code: &str, redirect: &str, verifier: &str) -> (StatusCode, Value) {
    post_token(
        sim,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", APP),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("scope", EWS_SCOPE),
        ],
    )
    .await
}

#[tokio::test]
async fn a_code_is_issued_and_redeemed_once_with_its_verifier() {
    let sim = support::start().await;
    let code = code(&sim).await;
    let (status, body) = redeem(&sim, &code, REDIRECT, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_string());
    let token = text(&body, "access_token");
    let claims = verified_claims(&sim, token, EXO).await;
    assert_eq!(claims["upn"], "sadie@contoso.com");
    assert_eq!(claims["scp"], "EWS.AccessAsUser.All");
    assert!(sim.identity().verify_access_token(token, &[EXO]).is_ok());

    let again = redeem(&sim, &code, REDIRECT, VERIFIER).await;
    assert_aad(&again, StatusCode::BAD_REQUEST, "invalid_grant", 54_005);
}

#[tokio::test]
async fn a_wrong_verifier_or_redirect_uri_is_refused_without_burning_the_code() {
    let sim = support::start().await;
    let code = code(&sim).await;
    let wrong = redeem(
        &sim,
        &code,
        REDIRECT,
        "a-verifier-that-does-not-hash-to-the-challenge",
    )
    .await;
    assert_aad(&wrong, StatusCode::BAD_REQUEST, "invalid_grant", 501_481);
    let elsewhere = redeem(&sim, &code, "https://bems.contoso.com/other", VERIFIER).await;
    assert_aad(
        &elsewhere,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        500_112,
    );
    let (status, body) = redeem(&sim, &code, REDIRECT, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_wrong_password_redirects_with_access_denied() {
    let sim = support::start().await;
    let query = redirected(&authorize(&sim, &authorize_params(REDIRECT, Some("wrong"))).await);
    assert_eq!(param(&query, "error"), Some("access_denied"));
    assert!(param(&query, "error_description").is_some_and(|d| d.starts_with("AADSTS50126:")));
    assert_eq!(param(&query, "state"), Some("st&te 1"));
    assert_eq!(param(&query, "code"), None);
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_gets_a_page_not_a_redirect() {
    let sim = support::start().await;
    let response = authorize(
        &sim,
        &authorize_params("https://attacker.example/cb", Some("Sadie-Pa55")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(reqwest::header::LOCATION).is_none());
    assert!(response.text().await.expect("page").contains("AADSTS50011"));

    let mut params = authorize_params(REDIRECT, Some("Sadie-Pa55"));
    params[0].1 = "99999999-9999-9999-9999-999999999999".to_owned();
    let response = authorize(&sim, &params).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(reqwest::header::LOCATION).is_none());
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("AADSTS700016")
    );
}

#[tokio::test]
async fn the_login_page_posts_back_and_shows_a_wrong_password() {
    let sim = support::start().await;
    let page = authorize(&sim, &authorize_params(REDIRECT, None)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    assert!(html.contains("<form method=\"post\">"), "{html}");
    assert!(
        html.contains(&format!("name=\"client_id\" value=\"{APP}\"")),
        "{html}"
    );
    assert!(
        html.contains("value=\"st&amp;te 1\""),
        "state is escaped: {html}"
    );

    let client = support::client(&sim);
    let endpoint = sim.identity().authorize_endpoint();
    let mut form = authorize_params(REDIRECT, Some("wrong"));
    let response = client
        .post(&endpoint)
        .form(&form)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.expect("page").contains("AADSTS50126"));

    form.last_mut().expect("password").1 = "Sadie-Pa55".to_owned();
    let response = client
        .post(&endpoint)
        .form(&form)
        .send()
        .await
        .expect("answer");
    let query = redirected(&response);
    let code = param(&query, "code").expect("code");
    let (status, body) = redeem(&sim, code, REDIRECT, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
