//! Shared test helpers: a standard scenario, and HTTP clients that trust the simulator and
//! resolve its host names to loopback.

use std::net::SocketAddr;

use exchange_sim::{Scenario, Sim};

/// A scenario with two domains, two servers (two back ends each), users, a service account
/// with impersonation rights, one without, and two apps.
pub(crate) const SCENARIO: &str = r#"
profile = "exchange-2019"
heartbeat_seconds = 45
time_scale = 1000.0
tenant = "contoso"
login_host = "login.microsoftonline.test"

[[domains]]
name = "contoso.com"

[[domains]]
name = "fabrikam.com"

[[servers]]
name = "mbx1"
grouping_information = "CONTOSO-1"
backends = 2

[[servers]]
name = "mbx2"
grouping_information = "CONTOSO-2"
backends = 2

[[users]]
smtp = "mara@contoso.com"
display_name = "Mara Whitley"
first_name = "Mara"
last_name = "Whitley"
job_title = "Engineer"
department = "R&D"
server = "mbx1"
password = "Mara-Pa55"
photo = true

[[users]]
smtp = "sadie@contoso.com"
display_name = "Sadie Daniels"
first_name = "Sadie"
last_name = "Daniels"
server = "mbx1"
password = "Sadie-Pa55"

[[users]]
smtp = "alfred@contoso.com"
display_name = "Alfred Hall"
first_name = "Alfred"
last_name = "Hall"
server = "mbx2"

[[users]]
smtp = "elvin@fabrikam.com"
display_name = "Elvin Marsh"
first_name = "Elvin"
last_name = "Marsh"
server = "mbx2"

[[service_accounts]]
name = "svc-bems"
upn = "svc-bems@contoso.com"
password = "Svc-Pa55w.rd"
rights = ["ApplicationImpersonation"]
client_certificate = true

[[service_accounts]]
name = "svc-plain"
upn = "svc-plain@contoso.com"
password = "Plain-Pa55"

[[apps]]
client_id = "11111111-1111-1111-1111-111111111111"
secret = "app-secret-1"
certificate = true
roles = ["full_access_as_app"]
scopes = ["EWS.AccessAsUser.All"]
redirect_uris = ["https://bems.contoso.com/callback"]

[[apps]]
client_id = "22222222-2222-2222-2222-222222222222"
secret = "app-secret-2"
consented = false
"#;

/// The standard scenario.
pub(crate) fn scenario() -> Scenario {
    Scenario::from_toml(SCENARIO).expect("standard scenario is valid")
}

/// Starts a simulator on the standard scenario.
pub(crate) async fn start() -> Sim {
    start_with(scenario()).await
}

/// Starts a simulator on `scenario`.
pub(crate) async fn start_with(scenario: Scenario) -> Sim {
    Sim::builder().scenario(scenario).start().await.expect("simulator starts")
}

/// A client that trusts the simulator's CA and resolves every scenario host to its listeners.
pub(crate) fn client(sim: &Sim) -> reqwest::Client {
    client_builder(sim).build().expect("client builds")
}

/// The builder behind [`client`], to add a client certificate or change timeouts.
pub(crate) fn client_builder(sim: &Sim) -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("CA PEM");
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20));
    let addr: SocketAddr = sim.https_addr();
    for host in hosts(sim) {
        builder = builder.resolve(&host, addr);
    }
    builder
}

/// Every host name of the scenario.
pub(crate) fn hosts(sim: &Sim) -> Vec<String> {
    let scenario = sim.scenario();
    let mut hosts = vec![scenario.login_host.clone(), "outlook.office365.com".to_owned()];
    for domain in &scenario.domains {
        hosts.push(domain.name.clone());
        hosts.push(format!("autodiscover.{}", domain.name));
        hosts.push(domain.external_host());
        hosts.push(domain.internal_host());
    }
    hosts.extend(scenario.hosts.iter().map(|h| h.name.clone()));
    hosts
}
