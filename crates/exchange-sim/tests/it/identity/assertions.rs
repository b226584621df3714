//! Client assertions Entra would refuse.

use reqwest::StatusCode;

use super::*;

/// The standard scenario plus a third app with its own certificate: its key is "a wrong key"
/// for app 1.
async fn start_with_second_certificate() -> Sim {
    let text = format!(
        "{}\n[[apps]]\nclient_id = \"33333333-3333-3333-3333-333333333333\"\ncertificate = true\nroles = [\"full_access_as_app\"]\n",
        support::SCENARIO
    );
    support::start_with(exchange_sim::Scenario::from_toml(&text).expect("scenario")).await
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_fails_signature_validation() {
    let sim = start_with_second_certificate().await;
    let cert = sim
        .identity()
        .app_certificate(APP)
        .expect("app 1 certificate");
    let other = sim
        .identity()
        .app_certificate("33333333-3333-3333-3333-333333333333")
        .expect("app 3 certificate");
    let assertion = Assertion::for_endpoint(sim.identity().token_endpoint()).sign(&cert, &other);
    let answer = post_assertion(&sim, &assertion).await;
    assert_aad(&answer, StatusCode::UNAUTHORIZED, "invalid_client", 700_027);
    assert!(text(&answer.1, "error_description").contains("failed signature validation"));
}

#[tokio::test]
async fn an_assertion_naming_an_unregistered_certificate_is_refused() {
    let sim = support::start().await;
    let cert = sim.identity().app_certificate(APP).expect("certificate");
    let assertion = Assertion {
        thumbprint: Thumbprint::Other,
        ..Assertion::for_endpoint(sim.identity().token_endpoint())
    };
    let answer = post_assertion(&sim, &assertion.sign(&cert, &cert)).await;
    assert_aad(&answer, StatusCode::UNAUTHORIZED, "invalid_client", 700_027);
    assert!(text(&answer.1, "error_description").contains("is not registered on application"));
}

#[tokio::test]
async fn an_assertion_for_another_audience_is_refused() {
    let sim = support::start().await;
    let cert = sim.identity().app_certificate(APP).expect("certificate");
    let wrong = sim
        .identity()
        .token_endpoint()
        .replace("/contoso/", "/fabrikam/");
    let answer = post_assertion(&sim, &Assertion::for_endpoint(wrong).sign(&cert, &cert)).await;
    assert_aad(&answer, StatusCode::UNAUTHORIZED, "invalid_client", 700_023);

    let issuer_mismatch = Assertion {
        iss: UNCONSENTED.to_owned(),
        ..Assertion::for_endpoint(sim.identity().token_endpoint())
    };
    let answer = post_assertion(&sim, &issuer_mismatch.sign(&cert, &cert)).await;
    assert_aad(&answer, StatusCode::UNAUTHORIZED, "invalid_client", 700_021);
}

#[tokio::test]
async fn an_expired_or_too_long_lived_assertion_is_refused() {
    let sim = support::start().await;
    let cert = sim.identity().app_certificate(APP).expect("certificate");
    let expired = Assertion {
        nbf: -3900,
        exp: -3600,
        ..Assertion::for_endpoint(sim.identity().token_endpoint())
    };
    let answer = post_assertion(&sim, &expired.sign(&cert, &cert)).await;
    assert_aad(&answer, StatusCode::UNAUTHORIZED, "invalid_client", 700_024);
    assert!(text(&answer.1, "error_description").contains("not within its valid time range"));

    let long = Assertion {
        exp: 3600,
        ..Assertion::for_endpoint(sim.identity().token_endpoint())
    };
    let answer = post_assertion(&sim, &long.sign(&cert, &cert)).await;
    assert_aad(&answer, StatusCode::UNAUTHORIZED, "invalid_client", 700_024);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let sim = support::start().await;
    let cert = sim.identity().app_certificate(APP).expect("certificate");
    let assertion = Assertion::for_endpoint(sim.identity().token_endpoint()).sign(&cert, &cert);
    let (status, body) = post_assertion(&sim, &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = post_assertion(&sim, &assertion).await;
    assert_aad(&answer, StatusCode::UNAUTHORIZED, "invalid_client", 50_027);
    assert!(text(&answer.1, "error_description").contains("jti"));
    assert_eq!(sim.identity().tokens_issued(), 1);
}

#[tokio::test]
async fn a_malformed_assertion_or_type_is_refused() {
    let sim = support::start().await;
    let answer = post_assertion(&sim, "not-a-jwt").await;
    assert_aad(&answer, StatusCode::UNAUTHORIZED, "invalid_client", 50_027);

    let cert = sim.identity().app_certificate(APP).expect("certificate");
    let assertion = Assertion::for_endpoint(sim.identity().token_endpoint()).sign(&cert, &cert);
    let mut form = assertion_form(&assertion);
    form[3].1 = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".to_owned();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = post_token(&sim, &pairs).await;
    assert_aad(
        &answer,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        9_002_313,
    );
}
