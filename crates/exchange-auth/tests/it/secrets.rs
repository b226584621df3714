//! No secret in `Debug` output or in `tracing` output at trace level.

use std::io::Write;
use std::sync::{Arc, Mutex};

use exchange_auth::*;

use crate::support::{
    self, APP, APP_SECRET, MARA, MARA_PASSWORD, SVC, SVC_PASSWORD, authority, ews_server, transport,
};

/// Captures everything `tracing` writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn every_credential_type_is_redacted_in_debug() {
    let secrets = [
        "hunter2-password",
        "client-secret-value",
        "refresh-token-value",
        "access-token-value",
    ];
    let transport = TransportSettings::default();
    let rendered = [
        format!("{:?}", SecretString::from(secrets[0])),
        format!(
            "{:?}",
            secrecy::SecretSlice::from(secrets[1].as_bytes().to_vec())
        ),
        format!(
            "{:?}",
            Grant::Password {
                user: MARA.into(),
                password: SecretString::from(secrets[0])
            }
        ),
        format!("{:?}", Grant::ClientSecret(SecretString::from(secrets[1]))),
        format!(
            "{:?}",
            BasicAuth::new(
                SVC,
                SecretString::from(secrets[0]),
                Target::OnPremises,
                &transport
            )
            .unwrap()
        ),
        format!(
            "{:?}",
            AccessToken::new(
                SecretString::from(secrets[3]),
                time::OffsetDateTime::now_utc(),
                vec!["s".into()]
            )
        ),
        format!(
            "{:?}",
            HttpRequest::post("https://x.test/".parse().unwrap(), vec![])
                .header("Authorization", format!("Bearer {}", secrets[3]))
        ),
        format!(
            "{:?}",
            PassiveAuth::new(
                ModernAuth::new("https://login.test/t".parse().unwrap(), APP, ""),
                "https://bems.test/cb".parse().unwrap(),
                Some(SecretString::from(secrets[1])),
                Arc::new(MemoryStore::default()),
                &transport,
            )
            .unwrap()
        ),
        format!(
            "{:?}",
            OAuthTokens::new(
                ModernAuth::new("https://login.test/t".parse().unwrap(), APP, ""),
                Grant::ClientSecret(SecretString::from(secrets[1])),
                &transport
            )
            .unwrap()
        ),
    ];
    for text in &rendered {
        for secret in secrets {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[tokio::test]
async fn nothing_secret_reaches_tracing_at_trace_level() {
    let sim = support::start().await;
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let config = ModernAuth::new(authority(&sim), APP, ews_server(&sim));
    // Success, a refused password, the fallback path, Basic: every path that logs.
    let tokens = OAuthTokens::new(
        config.clone(),
        Grant::ClientSecret(SecretString::from(APP_SECRET)),
        &transport(&sim),
    )
    .unwrap();
    let token = tokens.token().await.expect("token");
    let auth = BearerAuth::new(
        Arc::new(tokens),
        AuthMethod::ModernClientSecret,
        APP,
        &transport(&sim),
    )
    .unwrap();
    auth.send(support::get_folder(&sim, true))
        .await
        .expect("sent");
    let wrong = Grant::Password {
        user: MARA.into(),
        password: SecretString::from("Wrong-Pa55"),
    };
    let _ = OAuthTokens::new(config, wrong, &transport(&sim))
        .unwrap()
        .token()
        .await;
    let basic = BasicAuth::new(
        SVC,
        SecretString::from(SVC_PASSWORD),
        Target::OnPremises,
        &transport(&sim),
    )
    .unwrap();
    basic
        .send(support::get_folder(&sim, true))
        .await
        .expect("sent");
    let output = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(!output.is_empty(), "trace output was captured");
    for secret in [
        APP_SECRET,
        SVC_PASSWORD,
        MARA_PASSWORD,
        "Wrong-Pa55",
        token.secret().expose_secret(),
    ] {
        assert!(!output.contains(secret), "a secret reached the logs");
    }
    use base64::Engine as _;
    let basic_value =
        base64::engine::general_purpose::STANDARD.encode(format!("{SVC}:{SVC_PASSWORD}"));
    assert!(!output.contains(&basic_value));
}
