//! Passive authentication: sign-in URL, the code exchanged, the refresh token kept and used,
//! revocation and expiry.

use std::sync::Arc;
use std::time::Duration;

use exchange_auth::*;

use crate::support::{
    self, APP, MARA, MARA_PASSWORD, REDIRECT, authority, ews_server, ews_status, transport,
};

fn passive(sim: &exchange_sim::Sim, store: Arc<MemoryStore>) -> PassiveAuth {
    PassiveAuth::new(
        ModernAuth::new(authority(sim), APP, ews_server(sim)),
        REDIRECT.parse().unwrap(),
        None,
        store,
        &transport(sim),
    )
    .expect("passive authentication")
}

/// Signs Mara in at the simulator's authorize endpoint; the `code` and `state` it redirects with.
async fn sign_in(
    sim: &exchange_sim::Sim,
    auth: &PassiveAuth,
    password: &str,
) -> (Option<String>, String, String) {
    let sign_in = auth.sign_in_url().expect("sign-in URL");
    let mut url = sign_in.url.clone();
    url.query_pairs_mut()
        .append_pair("login_hint", MARA)
        .append_pair("password", password);
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .resolve("login.microsoftonline.test", sim.https_addr())
        .build()
        .unwrap();
    let response = client.get(url).send().await.expect("authorize answers");
    assert_eq!(response.status(), 302);
    let location: url::Url = response.headers()["location"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    (
        pairs.get("code").cloned(),
        pairs.get("state").cloned().unwrap_or_default(),
        sign_in.state,
    )
}

#[tokio::test]
async fn sign_in_then_refresh_automatically() {
    let sim = support::start().await;
    let store = Arc::new(MemoryStore::default());
    let auth = passive(&sim, store.clone());
    let url = auth.sign_in_url().unwrap().url;
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(query.get("client_id").map(String::as_str), Some(APP));
    assert!(
        query
            .get("scope")
            .is_some_and(|s| s.contains("offline_access") && s.contains("EWS.AccessAsUser.All"))
    );

    let (code, state, expected_state) = sign_in(&sim, &auth, MARA_PASSWORD).await;
    assert_eq!(state, expected_state);
    let token = auth
        .complete(&code.expect("code"), &state)
        .await
        .expect("tokens");
    assert!(token.expires_at() > time::OffsetDateTime::now_utc());
    let first_refresh = store.load().await.unwrap().expect("refresh token stored");
    assert!(auth.signed_in_at().is_some());

    // A new process: only the stored refresh token. It refreshes and rotates.
    let later = passive(&sim, store.clone());
    let auth: Arc<dyn Authenticator> = Arc::new(
        BearerAuth::new(Arc::new(later), AuthMethod::Passive, MARA, &transport(&sim)).unwrap(),
    );
    assert_eq!(ews_status(auth.as_ref(), &sim, false).await, 200);
    let rotated = store.load().await.unwrap().expect("refresh token");
    assert_ne!(
        rotated.expose_secret(),
        first_refresh.expose_secret(),
        "the refresh token rotates"
    );
    assert_eq!(auth.status().method, AuthMethod::Passive);
    assert!(
        auth.status().expires_at.is_some(),
        "the token's expiry is visible"
    );
}

#[tokio::test]
async fn a_state_that_was_not_issued_is_refused() {
    let sim = support::start().await;
    let auth = passive(&sim, Arc::new(MemoryStore::default()));
    let error = auth.complete("whatever", "forged-state").await.unwrap_err();
    assert!(
        matches!(
            error,
            AuthError::Config {
                setting: "state",
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn wrong_password_at_sign_in_gives_no_code() {
    let sim = support::start().await;
    let auth = passive(&sim, Arc::new(MemoryStore::default()));
    let (code, _, _) = sign_in(&sim, &auth, "wrong").await;
    assert_eq!(code, None);
}

#[tokio::test]
async fn revoked_and_expired_refresh_tokens_need_a_new_sign_in() {
    let sim = support::start().await;
    let store = Arc::new(MemoryStore::default());
    let auth = passive(&sim, store.clone());
    let (code, state, _) = sign_in(&sim, &auth, MARA_PASSWORD).await;
    auth.complete(&code.unwrap(), &state).await.unwrap();
    assert!(sim.identity().revoke_refresh_tokens(MARA) > 0);
    let error = passive(&sim, store.clone()).token().await.unwrap_err();
    assert!(error.needs_sign_in(), "{error}");

    let store = Arc::new(MemoryStore::default());
    let auth = passive(&sim, store.clone());
    sim.identity().set_refresh_token_lifetime(Duration::ZERO);
    let (code, state, _) = sign_in(&sim, &auth, MARA_PASSWORD).await;
    auth.complete(&code.unwrap(), &state).await.unwrap();
    let error = passive(&sim, store).token().await.unwrap_err();
    assert!(error.needs_sign_in(), "{error}");
    assert!(error.to_string().contains("AADSTS700082"), "{error}");
}

#[tokio::test]
async fn no_refresh_token_means_sign_in() {
    let sim = support::start().await;
    let error = passive(&sim, Arc::new(MemoryStore::default()))
        .token()
        .await
        .unwrap_err();
    assert!(error.needs_sign_in());
}

#[tokio::test]
async fn the_refresh_token_of_the_sign_in_is_redeemed_for_another_resource() {
    let sim = support::start().await;
    let store = Arc::new(MemoryStore::default());
    let graph = || {
        PassiveAuth::new(
            ModernAuth::new(authority(&sim), APP, "https://graph.microsoft.com"),
            REDIRECT.parse().unwrap(),
            None,
            store.clone(),
            &transport(&sim),
        )
        .expect("passive authentication")
        .with_scope("https://graph.microsoft.com/.default")
    };
    let error = graph().token().await.unwrap_err();
    assert!(error.needs_sign_in(), "before the sign-in: {error}");

    let ews = passive(&sim, store.clone());
    let (code, state, _) = sign_in(&sim, &ews, MARA_PASSWORD).await;
    ews.complete(&code.unwrap(), &state).await.unwrap();
    let token = graph()
        .token()
        .await
        .expect("a Graph token from EWS's refresh token");
    let claims = sim
        .identity()
        .verify_access_token(
            token.secret().expose_secret(),
            &["https://graph.microsoft.com"],
        )
        .expect("a token for Graph");
    assert_eq!(claims.upn.as_deref(), Some(MARA));
    assert!(
        claims.scopes.iter().any(|s| s == "User.ReadBasic.All"),
        "{:?}",
        claims.scopes
    );
    // EWS still refreshes with the (rotated) token.
    let ews: Arc<dyn Authenticator> = Arc::new(
        BearerAuth::new(
            Arc::new(passive(&sim, store.clone())),
            AuthMethod::Passive,
            MARA,
            &transport(&sim),
        )
        .unwrap(),
    );
    assert_eq!(ews_status(ews.as_ref(), &sim, false).await, 200);
}
