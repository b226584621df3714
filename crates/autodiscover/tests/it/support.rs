//! A simulated Exchange with DNS, and Autodiscover settings pointing at it.

use std::sync::Arc;

use autodiscover::{Autodiscover, Basic, Credentials, Settings};
use exchange_sim::scenario::{Host, HostBehaviour};
use exchange_sim::{Scenario, Sim};

/// The service account every test authenticates as.
pub(crate) const USER: &str = "svc-bems@contoso.com";
pub(crate) const PASSWORD: &str = "Svc-Pa55w.rd";

pub(crate) const SCENARIO: &str = r#"
profile = "exchange-2019"
tenant = "contoso"

[[domains]]
name = "contoso.com"

[[domains]]
name = "fabrikam.com"

[[domains]]
name = "evil.test"

[[servers]]
name = "mbx1"
grouping_information = "CONTOSO-1"

[[servers]]
name = "mbx2"
grouping_information = "FABRIKAM-2"

[[users]]
smtp = "mara@contoso.com"
display_name = "Mara Whitley"
server = "mbx1"

[[users]]
smtp = "elvin@fabrikam.com"
display_name = "Elvin Marsh"
server = "mbx2"

[[users]]
smtp = "eve@evil.test"
display_name = "Eve"
server = "mbx2"

[[service_accounts]]
name = "svc-bems"
upn = "svc-bems@contoso.com"
password = "Svc-Pa55w.rd"
rights = ["ApplicationImpersonation"]
"#;

/// The scenario, with these hosts scripted.
pub(crate) fn scenario(hosts: &[(&str, &str, HostBehaviour)]) -> Scenario {
    let mut scenario = Scenario::from_toml(SCENARIO).expect("scenario");
    for (name, address, behaviour) in hosts {
        let mut host = Host::default();
        host.name = (*name).to_owned();
        host.address = (*address).to_owned();
        host.behaviour = behaviour.clone();
        scenario.hosts.push(host);
    }
    scenario
}

/// Starts the simulator with DNS.
pub(crate) async fn start(scenario: Scenario) -> Sim {
    Sim::builder()
        .scenario(scenario)
        .dns(true)
        .start()
        .await
        .expect("simulator starts")
}

/// Settings that reach the simulator: its DNS server, its ports, only its CA.
pub(crate) fn settings(sim: &Sim) -> Settings {
    let mut settings = Settings::default();
    settings.dns_server = sim.dns_addr();
    settings.https_port = sim.https_addr().port();
    settings.http_port = sim.http_addr().port();
    settings.trusted_ca_pem = vec![sim.ca_pem().to_owned()];
    settings.trusted_ca_only = true;
    settings.timeouts.candidate = std::time::Duration::from_secs(5);
    settings.timeouts.overall = std::time::Duration::from_secs(20);
    settings
}

/// A client with the service account's credentials.
pub(crate) fn locator(settings: Settings) -> Autodiscover {
    let credentials: Arc<dyn Credentials> = Arc::new(Basic::new(USER, PASSWORD));
    Autodiscover::new(settings, Some(credentials)).expect("client builds")
}

/// The hosts that received an `Authorization` header.
pub(crate) fn hosts_with_credentials(sim: &Sim) -> std::collections::BTreeSet<String> {
    sim.autodiscover_log()
        .into_iter()
        .filter(|r| r.has_credentials())
        .map(|r| r.host)
        .collect()
}

/// Every host asked anything.
pub(crate) fn hosts_asked(sim: &Sim) -> std::collections::BTreeSet<String> {
    sim.autodiscover_log().into_iter().map(|r| r.host).collect()
}
