//! Modern authentication: every grant against the simulator's identity platform, then EWS
//! with the token; failures; the fallback to credentials.

use std::sync::Arc;

use exchange_auth::*;

use crate::support::{
    self, APP, APP_SECRET, MARA, MARA_PASSWORD, SVC, SVC_PASSWORD, UNCONSENTED_APP, authority,
    ews_server, ews_status, transport,
};

fn config(sim: &exchange_sim::Sim, client_id: &str) -> ModernAuth {
    ModernAuth::new(authority(sim), client_id, ews_server(sim))
}

fn bearer(sim: &exchange_sim::Sim, tokens: OAuthTokens, method: AuthMethod) -> BearerAuth {
    BearerAuth::new(Arc::new(tokens), method, APP, &transport(sim)).expect("authenticator")
}

#[tokio::test]
async fn client_secret_then_ews() {
    let sim = support::start().await;
    let tokens = OAuthTokens::new(
        config(&sim, APP),
        Grant::ClientSecret(SecretString::from(APP_SECRET)),
        &transport(&sim),
    )
    .unwrap();
    let token = tokens.token().await.expect("token");
    assert_eq!(token.scopes(), [format!("{}/.default", ews_server(&sim))]);
    assert!(token.expires_at() > time::OffsetDateTime::now_utc() + time::Duration::minutes(50));
    let claims = sim
        .identity()
        .verify_access_token(token.secret().expose_secret(), &[&ews_server(&sim)])
        .expect("a token the simulator accepts");
    assert_eq!(claims.roles, vec!["full_access_as_app".to_owned()]);
    let auth = bearer(&sim, tokens, AuthMethod::ModernClientSecret);
    assert_eq!(ews_status(&auth, &sim, true).await, 200);
    let status = auth.status();
    assert_eq!(status.method, AuthMethod::ModernClientSecret);
    assert_eq!(status.expires_at, Some(token.expires_at()));
}

#[tokio::test]
async fn certificate_assertion_ps256_and_rs256() {
    let sim = support::start().await;
    let issued = sim
        .identity()
        .app_certificate(APP)
        .expect("app certificate");
    for algorithm in [AssertionAlgorithm::Ps256, AssertionAlgorithm::Rs256] {
        let certificate =
            ClientCertificate::from_pem(&issued.cert_pem, &issued.key_pem).expect("certificate");
        let grant = Grant::ClientCertificate {
            certificate,
            algorithm,
        };
        let tokens = OAuthTokens::new(config(&sim, APP), grant, &transport(&sim)).unwrap();
        let auth = bearer(&sim, tokens, AuthMethod::ModernClientCertificate);
        assert_eq!(ews_status(&auth, &sim, true).await, 200, "{algorithm:?}");
    }
}

#[tokio::test]
async fn password_grant_then_ews_as_the_user() {
    let sim = support::start().await;
    let grant = Grant::Password {
        user: MARA.into(),
        password: SecretString::from(MARA_PASSWORD),
    };
    let tokens = OAuthTokens::new(config(&sim, APP), grant, &transport(&sim)).unwrap();
    let token = tokens.token().await.expect("token");
    assert_eq!(
        token.scopes(),
        [format!("{}/EWS.AccessAsUser.All", ews_server(&sim))]
    );
    let auth = bearer(&sim, tokens, AuthMethod::ModernPassword);
    assert_eq!(ews_status(&auth, &sim, false).await, 200);
}

#[tokio::test]
async fn password_grant_for_graph_asks_for_its_default_scope() {
    let sim = support::start().await;
    let grant = || Grant::Password {
        user: MARA.into(),
        password: SecretString::from(MARA_PASSWORD),
    };
    let graph = ModernAuth::new(authority(&sim), APP, "https://graph.microsoft.com");
    let tokens = OAuthTokens::new(
        graph
            .clone()
            .with_delegated_scope("https://graph.microsoft.com/.default"),
        grant(),
        &transport(&sim),
    )
    .unwrap();
    let token = tokens.token().await.expect("a Graph token");
    let claims = sim
        .identity()
        .verify_access_token(
            token.secret().expose_secret(),
            &["https://graph.microsoft.com"],
        )
        .expect("a token for Graph");
    assert_eq!(claims.upn.as_deref(), Some(MARA));
    assert_eq!(claims.scopes, ["User.ReadBasic.All"]);
    // Graph has no EWS permission: the default scope is refused.
    let tokens = OAuthTokens::new(graph, grant(), &transport(&sim)).unwrap();
    let error = tokens.token().await.unwrap_err();
    assert!(error.to_string().contains("AADSTS70011"), "{error}");
}

#[tokio::test]
async fn refused_credentials() {
    let sim = support::start().await;
    let wrong_password = Grant::Password {
        user: MARA.into(),
        password: SecretString::from("nope"),
    };
    let error = OAuthTokens::new(config(&sim, APP), wrong_password, &transport(&sim))
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AuthError::Credentials { description, .. } if description.contains("AADSTS50126")),
        "{error}"
    );
    assert!(!error.allows_fallback());
    let wrong_secret = Grant::ClientSecret(SecretString::from("nope"));
    let error = OAuthTokens::new(config(&sim, APP), wrong_secret, &transport(&sim))
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AuthError::Credentials { description, .. } if description.contains("AADSTS7000215")),
        "{error}"
    );
    // An assertion signed with another key than the registered certificate's.
    let other = sim
        .client_certificate("svc-bems")
        .expect("a certificate with another (EC) key");
    let mut params = rcgen::CertificateParams::new(vec!["impostor".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, APP);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let impostor = params.self_signed(&key).expect("cert");
    let certificate =
        ClientCertificate::from_pem(&impostor.pem(), &key.serialize_pem()).expect("certificate");
    let grant = Grant::ClientCertificate {
        certificate,
        algorithm: AssertionAlgorithm::Ps256,
    };
    let error = OAuthTokens::new(config(&sim, APP), grant, &transport(&sim))
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AuthError::Credentials { description, .. } if description.contains("AADSTS700027")),
        "{error}"
    );
    let _ = other;
}

#[tokio::test]
async fn consent_missing_falls_back_to_credentials() {
    let sim = support::start().await;
    let tokens = OAuthTokens::new(
        config(&sim, UNCONSENTED_APP),
        Grant::ClientSecret(SecretString::from("app-secret-2")),
        &transport(&sim),
    )
    .unwrap();
    let error = tokens.token().await.unwrap_err();
    assert!(error.allows_fallback(), "{error}");
    let credentials: Arc<dyn Authenticator> = Arc::new(
        BasicAuth::new(
            SVC,
            SecretString::from(SVC_PASSWORD),
            Target::OnPremises,
            &transport(&sim),
        )
        .unwrap(),
    );
    let auth = bearer(&sim, tokens, AuthMethod::ModernClientSecret).with_fallback(credentials);
    assert_eq!(
        ews_status(&auth, &sim, true).await,
        200,
        "the fallback was taken"
    );
    let status = auth.status();
    assert_eq!(status.method, AuthMethod::CredentialsFallback);
    assert!(
        status
            .note
            .as_deref()
            .is_some_and(|n| n.contains("AADSTS65001")),
        "{status:?}"
    );
}

#[tokio::test]
async fn network_errors_never_fall_back() {
    let sim = support::start().await;
    // Nothing listens there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut settings = transport(&sim);
    settings.resolve.push((
        "login.unreachable.test".into(),
        ([127, 0, 0, 1], port).into(),
    ));
    let config = ModernAuth::new(
        format!("https://login.unreachable.test:{port}/contoso")
            .parse()
            .unwrap(),
        APP,
        ews_server(&sim),
    );
    let tokens = OAuthTokens::new(
        config,
        Grant::ClientSecret(SecretString::from(APP_SECRET)),
        &settings,
    )
    .unwrap();
    let credentials: Arc<dyn Authenticator> = Arc::new(
        BasicAuth::new(
            SVC,
            SecretString::from(SVC_PASSWORD),
            Target::OnPremises,
            &settings,
        )
        .unwrap(),
    );
    let auth = BearerAuth::new(
        Arc::new(tokens),
        AuthMethod::ModernClientSecret,
        APP,
        &settings,
    )
    .unwrap()
    .with_fallback(credentials);
    let error = auth
        .send(support::get_folder(&sim, true))
        .await
        .unwrap_err();
    assert!(error.is_network(), "{error}");
    assert_eq!(
        auth.status().method,
        AuthMethod::ModernClientSecret,
        "no fallback on a network error"
    );
}

/// A token source that hands out a refused token first, then real ones.
#[derive(Debug)]
struct StaleFirst {
    real: OAuthTokens,
    stale_given: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl TokenSource for StaleFirst {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        if !self
            .stale_given
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
            return Ok(AccessToken::new(
                SecretString::from("revoked.token.value"),
                expires,
                vec![],
            ));
        }
        self.real.token().await
    }

    fn invalidate(&self, token: &AccessToken) {
        self.real.invalidate(token);
    }

    fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.real.expires_at()
    }
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries() {
    let sim = support::start().await;
    let real = OAuthTokens::new(
        config(&sim, APP),
        Grant::ClientSecret(SecretString::from(APP_SECRET)),
        &transport(&sim),
    )
    .unwrap();
    let source = StaleFirst {
        real,
        stale_given: false.into(),
    };
    let auth = BearerAuth::new(
        Arc::new(source),
        AuthMethod::ModernClientSecret,
        APP,
        &transport(&sim),
    )
    .unwrap();
    assert_eq!(
        ews_status(&auth, &sim, true).await,
        200,
        "401 with the stale token, then 200 with a new one"
    );
}
