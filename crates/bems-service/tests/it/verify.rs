//! `verify`, through its public API.

use bems_service::verify::*;

const APP: &str = "11111111-1111-1111-1111-111111111111";
const AUDIENCE: &str = "https://outlook.office365.com";

async fn setup() -> (exchange_sim::Sim, JwtVerifier) {
    let scenario = exchange_sim::Scenario::contoso().expect("scenario");
    let sim = exchange_sim::Sim::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("sim");
    let identity = sim.identity();
    let verifier = JwtVerifier::new(JwtSettings {
        issuer: identity.issuer().to_owned(),
        audience: AUDIENCE.to_owned(),
        jwks_uri: identity.jwks_uri().parse().expect("URL"),
        trusted_ca_pem: vec![sim.ca_pem().to_owned()],
        resolve: vec![(sim.scenario().login_host.clone(), sim.https_addr())],
    })
    .expect("verifier");
    (sim, verifier)
}

#[tokio::test]
async fn a_users_token_names_the_user() {
    let (sim, verifier) = setup().await;
    let token = sim
        .identity()
        .issue_user_token(APP, "Mara@contoso.com", AUDIENCE)
        .expect("token");
    let caller = verifier.verify(&token).await.expect("accepted");
    assert_eq!(caller.address, "mara@contoso.com");
}

#[tokio::test]
async fn forged_foreign_and_app_tokens_are_refused() {
    let (sim, verifier) = setup().await;
    // Not a JWT.
    assert!(matches!(
        verifier.verify("hello").await,
        Err(VerifyError::Malformed(_))
    ));
    // Another audience.
    let other = sim
        .identity()
        .issue_user_token(APP, "mara@contoso.com", &sim.https_base("mail.contoso.com"))
        .expect("token");
    assert!(matches!(
        verifier.verify(&other).await,
        Err(VerifyError::Rejected(_))
    ));
    // A tampered payload: the signature no longer matches.
    let token = sim
        .identity()
        .issue_user_token(APP, "mara@contoso.com", AUDIENCE)
        .expect("token");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].replacen('e', "f", 1);
    let tampered = parts.join(".");
    assert!(matches!(
        verifier.verify(&tampered).await,
        Err(VerifyError::Rejected(_))
    ));
    // An app-only token names no user.
    let app = sim
        .identity()
        .issue_app_token(APP, AUDIENCE)
        .expect("token");
    let refused = verifier.verify(&app).await.unwrap_err();
    assert!(refused.to_string().contains("names no user"), "{refused}");
}
