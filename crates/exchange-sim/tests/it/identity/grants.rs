//! Every grant succeeding, and discovery.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::*;

#[tokio::test]
async fn discovery_documents_match_the_handle_and_publish_the_signing_key() {
    let sim = support::start().await;
    let identity = sim.identity();
    let client = support::client(&sim);
    let config: Value = client
        .get(identity.openid_configuration_url())
        .send()
        .await
        .expect("openid-configuration")
        .json()
        .await
        .expect("JSON");
    assert_eq!(config["issuer"], identity.issuer());
    assert_eq!(
        identity.issuer(),
        "https://login.microsoftonline.test/contoso/v2.0"
    );
    assert_eq!(config["token_endpoint"], identity.token_endpoint());
    assert_eq!(
        config["authorization_endpoint"],
        identity.authorize_endpoint()
    );
    assert_eq!(config["jwks_uri"], identity.jwks_uri());

    let jwks: Value = client
        .get(identity.jwks_uri())
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JSON");
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["e"], "AQAB");
    assert_eq!(key["kid"], key["x5t"]);
    assert_eq!(text(key, "n").len(), 342, "a 2048-bit modulus, base64url");

    let common: Value = client
        .get(
            identity
                .openid_configuration_url()
                .replace("/contoso/", "/common/"),
        )
        .send()
        .await
        .expect("common configuration")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        common["issuer"],
        "https://login.microsoftonline.test/{tenantid}/v2.0"
    );
}

#[tokio::test]
async fn client_credentials_with_a_secret_issue_an_app_only_token() {
    let sim = support::start().await;
    let answer = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            ("scope", "https://outlook.office365.com/.default"),
        ],
    )
    .await;
    let (status, body) = &answer;
    assert_eq!(*status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599, "an integer, as v2 answers");
    assert_eq!(body["ext_expires_in"], 3599);
    assert_eq!(body["scope"], "https://outlook.office365.com/.default");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for app-only"
    );
    let token = text(body, "access_token");

    let claims = verified_claims(&sim, token, EXO).await;
    assert_eq!(claims["roles"], serde_json::json!(["full_access_as_app"]));
    assert_eq!(claims["appid"], APP);
    assert_eq!(claims["azp"], APP);
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["tid"], sim.identity().tenant_id());
    assert_eq!(
        claims["exp"]
            .as_i64()
            .zip(claims["iat"].as_i64())
            .map(|(e, i)| e - i),
        Some(3600)
    );
    assert!(
        claims.get("scp").is_none() && claims.get("upn").is_none(),
        "{claims}"
    );
    assert!(text(&claims, "uti").len() >= 16);

    let verified = sim
        .identity()
        .verify_access_token(token, &[EXO])
        .expect("EWS accepts it");
    assert_eq!(verified.app_id, APP);
    assert_eq!(verified.roles, ["full_access_as_app"]);
    assert_eq!(verified.upn, None);
    let wrong = sim
        .identity()
        .verify_access_token(token, &["https://mail.contoso.com"]);
    assert!(wrong.is_err_and(|e| e.contains("audience")));
    assert_eq!(sim.identity().token_requests(), 1);
    assert_eq!(sim.identity().tokens_issued(), 1);
}

#[tokio::test]
async fn client_credentials_with_basic_authentication_for_an_on_premises_host() {
    let sim = support::start().await;
    let response = support::client(&sim)
        .post(sim.identity().token_endpoint())
        .basic_auth(APP, Some(APP_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://mail.contoso.com/.default"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    let token = text(&body, "access_token");
    let claims = verified_claims(&sim, token, "https://mail.contoso.com").await;
    assert_eq!(claims["aud"], "https://mail.contoso.com");
    assert!(
        sim.identity()
            .verify_access_token(token, &["https://mail.contoso.com"])
            .is_ok()
    );
}

#[tokio::test]
async fn client_credentials_with_certificate_assertions_ps256_and_rs256() {
    let sim = support::start().await;
    let cert = sim
        .identity()
        .app_certificate(APP)
        .expect("app 1 has a certificate");
    assert!(sim.identity().app_certificate(UNCONSENTED).is_err());
    for (alg, thumbprint) in [
        (Algorithm::PS256, Thumbprint::S256),
        (Algorithm::RS256, Thumbprint::Sha1),
    ] {
        let assertion = Assertion {
            alg,
            thumbprint,
            ..Assertion::for_endpoint(sim.identity().token_endpoint())
        };
        let (status, body) = post_assertion(&sim, &assertion.sign(&cert, &cert)).await;
        assert_eq!(status, StatusCode::OK, "{alg:?}: {body}");
        let claims = verified_claims(&sim, text(&body, "access_token"), EXO).await;
        assert_eq!(claims["appidacr"], "2", "certificate credential");
        assert_eq!(claims["roles"], serde_json::json!(["full_access_as_app"]));
    }
}

#[tokio::test]
async fn the_password_grant_issues_delegated_and_rotating_refresh_tokens() {
    let sim = support::start().await;
    let (status, body) = ropc(&sim, APP, "Mara-Pa55").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["scope"],
        "https://outlook.office365.com/EWS.AccessAsUser.All offline_access"
    );
    let token = text(&body, "access_token");
    let claims = verified_claims(&sim, token, EXO).await;
    assert_eq!(claims["scp"], "EWS.AccessAsUser.All");
    assert_eq!(claims["upn"], "mara@contoso.com");
    assert_eq!(claims["preferred_username"], "mara@contoso.com");
    assert_eq!(claims["name"], "Mara Whitley");
    assert_eq!(claims["idtyp"], "user");
    assert!(claims.get("roles").is_none());
    let verified = sim
        .identity()
        .verify_access_token(token, &[EXO])
        .expect("EWS accepts it");
    assert_eq!(verified.upn.as_deref(), Some("mara@contoso.com"));
    assert_eq!(verified.scopes, ["EWS.AccessAsUser.All"]);

    let first = text(&body, "refresh_token").to_owned();
    let (status, renewed) = refresh(&sim, &first).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let second = text(&renewed, "refresh_token");
    assert_ne!(second, first, "each redemption rotates the refresh token");
    let claims = verified_claims(&sim, text(&renewed, "access_token"), EXO).await;
    assert_eq!(claims["upn"], "mara@contoso.com");
    let (status, again) = refresh(&sim, &first).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "as on Entra, the old refresh token is not revoked: {again}"
    );

    let (status, no_offline) = post_token(
        &sim,
        &[
            ("grant_type", "password"),
            ("client_id", APP),
            ("username", "MARA@contoso.com"),
            ("password", "Mara-Pa55"),
            (
                "scope",
                "https://outlook.office365.com/EWS.AccessAsUser.All",
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{no_offline}");
    assert!(
        no_offline.get("refresh_token").is_none(),
        "refresh tokens need offline_access"
    );
}

#[tokio::test]
async fn short_lived_tokens_expire_and_verify_refuses_them() {
    let sim = support::start().await;
    sim.identity().set_token_lifetime(Duration::ZERO);
    let (status, body) = post_token(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", APP_SECRET),
            ("scope", "https://outlook.office365.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 0);
    let refused = sim
        .identity()
        .verify_access_token(text(&body, "access_token"), &[EXO]);
    assert_eq!(refused, Err("The token has expired.".to_owned()));

    let minted = sim.identity().issue_app_token(APP, EXO).expect("minted");
    assert!(
        sim.identity().verify_access_token(&minted, &[EXO]).is_err(),
        "the lifetime applies to minted tokens too"
    );
    sim.identity().set_token_lifetime(Duration::from_secs(60));
    let minted = sim
        .identity()
        .issue_user_token(APP, "sadie@contoso.com", EXO)
        .expect("minted");
    let claims = sim
        .identity()
        .verify_access_token(&minted, &[EXO])
        .expect("valid");
    assert_eq!(claims.upn.as_deref(), Some("sadie@contoso.com"));
    assert!(
        sim.identity()
            .verify_access_token("not.a.jwt", &[EXO])
            .is_err()
    );
}
