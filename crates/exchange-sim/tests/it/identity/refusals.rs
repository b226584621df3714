//! Token requests Entra refuses: bad credentials, consent, revoked or expired refresh tokens,
//! malformed requests.

use std::time::Duration;

use reqwest::StatusCode;

use super::*;

#[tokio::test]
async fn a_wrong_user_password_is_aadsts50126_and_an_unknown_user_50034() {
    let sim = support::start().await;
    let answer = ropc(&sim, APP, "Not-Mara's-Pa55").await;
    assert_aad(&answer, StatusCode::BAD_REQUEST, "invalid_grant", 50_126);
    assert!(
        !answer.1.to_string().contains("Not-Mara"),
        "the password is not echoed"
    );

    let unknown = post_token(
        &sim,
        &[
            ("grant_type", "password"),
            ("client_id", APP),
            ("username", "nobody@contoso.com"),
            ("password", "x"),
            ("scope", EWS_SCOPE),
        ],
    )
    .await;
    assert_aad(&unknown, StatusCode::BAD_REQUEST, "invalid_grant", 50_034);
}

#[tokio::test]
async fn a_wrong_client_secret_is_401_aadsts7000215() {
    let sim = support::start().await;
    let answer = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", "guessed-secret"),
            ("scope", "https://outlook.office365.com/.default"),
        ],
    )
    .await;
    assert_aad(
        &answer,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7_000_215,
    );
    assert!(!answer.1.to_string().contains("guessed-secret"));
    let wrong_ropc_secret = post_token(
        &sim,
        &[
            ("grant_type", "password"),
            ("client_id", APP),
            ("client_secret", "guessed-secret"),
            ("username", "mara@contoso.com"),
            ("password", "Mara-Pa55"),
            ("scope", EWS_SCOPE),
        ],
    )
    .await;
    assert_aad(
        &wrong_ropc_secret,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7_000_215,
    );
    let none = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("scope", "https://outlook.office365.com/.default"),
        ],
    )
    .await;
    assert_aad(&none, StatusCode::UNAUTHORIZED, "invalid_client", 7_000_218);
}

#[tokio::test]
async fn an_app_without_consent_is_aadsts65001() {
    let sim = support::start().await;
    let app_only = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", UNCONSENTED),
            ("client_secret", "app-secret-2"),
            ("scope", "https://outlook.office365.com/.default"),
        ],
    )
    .await;
    assert_aad(&app_only, StatusCode::BAD_REQUEST, "invalid_grant", 65_001);
    let delegated = ropc(&sim, UNCONSENTED, "Mara-Pa55").await;
    assert_aad(&delegated, StatusCode::BAD_REQUEST, "invalid_grant", 65_001);
}

#[tokio::test]
async fn revoked_and_expired_refresh_tokens_are_invalid_grant() {
    let sim = support::start().await;
    let (_, body) = ropc(&sim, APP, "Mara-Pa55").await;
    let token = text(&body, "refresh_token").to_owned();
    assert_eq!(sim.identity().revoke_refresh_tokens("MARA@contoso.com"), 1);
    let revoked = refresh(&sim, &token).await;
    assert_aad(&revoked, StatusCode::BAD_REQUEST, "invalid_grant", 70_008);

    sim.identity().set_refresh_token_lifetime(Duration::ZERO);
    let (_, body) = ropc(&sim, APP, "Mara-Pa55").await;
    let expired = refresh(&sim, text(&body, "refresh_token")).await;
    assert_aad(&expired, StatusCode::BAD_REQUEST, "invalid_grant", 700_082);

    sim.identity()
        .set_refresh_token_lifetime(Duration::from_secs(3600));
    let (_, body) = ropc(&sim, APP, "Mara-Pa55").await;
    assert_eq!(
        sim.identity().revoke_refresh_tokens(APP),
        1,
        "only the one live token is revoked"
    );
    let by_client = refresh(&sim, text(&body, "refresh_token")).await;
    assert_aad(&by_client, StatusCode::BAD_REQUEST, "invalid_grant", 70_008);

    let garbage = refresh(&sim, "not-a-refresh-token").await;
    assert_aad(
        &garbage,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        9_002_313,
    );
}

#[tokio::test]
async fn malformed_requests_get_entra_s_codes_and_are_all_counted() {
    let sim = support::start().await;
    let missing = post_token(&sim, &[("client_id", APP)]).await;
    assert_aad(
        &missing,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900_144,
    );
    assert!(text(&missing.1, "error_description").contains("'grant_type'"));

    let unknown_app = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "99999999-9999-9999-9999-999999999999"),
            ("client_secret", "x"),
            ("scope", "https://outlook.office365.com/.default"),
        ],
    )
    .await;
    assert_aad(
        &unknown_app,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700_016,
    );

    let delegated_scope = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            (
                "scope",
                "https://outlook.office365.com/EWS.AccessAsUser.All",
            ),
        ],
    )
    .await;
    assert_aad(
        &delegated_scope,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        1_002_012,
    );

    let bad_scope = ropc_with_scope(&sim, "offline_access").await;
    assert_aad(&bad_scope, StatusCode::BAD_REQUEST, "invalid_scope", 70_011);

    let unsupported = post_token(
        &sim,
        &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
    )
    .await;
    assert_aad(
        &unsupported,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70_003,
    );

    let client = support::client(&sim);
    let wrong_tenant = sim
        .identity()
        .token_endpoint()
        .replace("/contoso/", "/fabrikam/");
    let response = client
        .post(wrong_tenant)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("answer");
    let answer = (response.status(), response.json().await.expect("JSON"));
    assert_aad(&answer, StatusCode::BAD_REQUEST, "invalid_request", 90_002);

    let common = sim
        .identity()
        .token_endpoint()
        .replace("/contoso/", "/organizations/");
    let response = client
        .post(common)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            ("scope", "https://outlook.office365.com/.default"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "organizations is accepted"
    );
    assert_eq!(
        sim.identity().token_requests(),
        7,
        "every POST is counted, refused or not"
    );
    assert_eq!(sim.identity().tokens_issued(), 1);
}

async fn ropc_with_scope(sim: &Sim, scope: &str) -> (StatusCode, Value) {
    post_token(
        sim,
        &[
            ("grant_type", "password"),
            ("client_id", APP),
            ("username", "mara@contoso.com"),
            ("password", "Mara-Pa55"),
            ("scope", scope),
        ],
    )
    .await
}
