//! Fixtures: a mock and a sender configured for it.

use std::future::Future;
use std::time::Duration;

use exchange_sim::push::{MockApns, MockApnsConfig, MockFcm, MockFcmConfig, keys};
use push_delivery::{ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, FcmConfig, FcmSender};

pub(crate) const TEAM: &str = "TEAM123456";
pub(crate) const KEY: &str = "KEY1234567";
pub(crate) const TOPIC: &str = "com.example.mail";

/// A distinct 64-digit APNs token.
pub(crate) fn apns_token(n: u16) -> String {
    format!("{n:04x}").repeat(16)
}

/// Fails the test instead of hanging.
pub(crate) async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 30 s"))
}

/// Polls `condition` every 10 ms for at most 10 s.
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 10 s");
}

pub(crate) struct Apns {
    pub(crate) mock: MockApns,
    pub(crate) key: keys::KeyPairPem,
}

impl Apns {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(tune: impl FnOnce(&mut MockApnsConfig)) -> Self {
        let key = keys::p8_key_pair().unwrap();
        let mut config = MockApnsConfig::new(TEAM, KEY, key.public_pem.clone(), TOPIC);
        tune(&mut config);
        let mock = MockApns::start(config).await.unwrap();
        Self { mock, key }
    }

    pub(crate) fn config(&self) -> ApnsConfig {
        let mut config = ApnsConfig::new(
            ApnsAuth::token(TEAM, KEY, self.key.private_pem.clone()),
            TOPIC,
        );
        config.endpoint = ApnsEndpoint::Url(self.mock.url());
        config.extra_ca_pem = vec![self.mock.ca_pem().to_owned()];
        config.trust_system_roots = false;
        config.connections = 1;
        config
    }

    pub(crate) fn sender(&self) -> ApnsSender {
        ApnsSender::new(self.config()).unwrap()
    }
}

pub(crate) struct Fcm {
    pub(crate) mock: MockFcm,
    pub(crate) key: keys::KeyPairPem,
}

pub(crate) const PROJECT: &str = "bems-test";
pub(crate) const CLIENT_EMAIL: &str = "push@bems-test.iam.gserviceaccount.com";

impl Fcm {
    pub(crate) async fn start_with(tune: impl FnOnce(&mut MockFcmConfig)) -> Self {
        let key = keys::rsa_key_pair().unwrap();
        let mut config = MockFcmConfig::new(PROJECT, CLIENT_EMAIL, key.public_pem.clone());
        tune(&mut config);
        let mock = MockFcm::start(config).await.unwrap();
        Self { mock, key }
    }

    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub(crate) fn config(&self) -> FcmConfig {
        let mut config = FcmConfig::new(self.mock.service_account_json(&self.key.private_pem));
        config.base_url = self.mock.url();
        config.extra_ca_pem = vec![self.mock.ca_pem().to_owned()];
        config.trust_system_roots = false;
        config
    }

    pub(crate) fn sender(&self) -> FcmSender {
        FcmSender::new(self.config()).unwrap()
    }
}
