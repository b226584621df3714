//! The simulator, transport settings that reach it, and an EWS call to prove access.

use std::time::Duration;

use exchange_auth::{Authenticator, HttpRequest, TransportSettings};
use exchange_sim::{Scenario, Sim};

pub(crate) const APP: &str = "11111111-1111-1111-1111-111111111111";
pub(crate) const APP_SECRET: &str = "app-secret-1";
pub(crate) const UNCONSENTED_APP: &str = "22222222-2222-2222-2222-222222222222";
pub(crate) const MARA: &str = "mara@contoso.com";
pub(crate) const MARA_PASSWORD: &str = "Mara-Pa55";
pub(crate) const SVC: &str = "svc-bems@contoso.com";
pub(crate) const SVC_PASSWORD: &str = "Svc-Pa55w.rd";
pub(crate) const REDIRECT: &str = "https://bems.contoso.com/callback";

pub(crate) const SCENARIO: &str = r#"
tenant = "contoso"
login_host = "login.microsoftonline.test"

[[domains]]
name = "contoso.com"

[[servers]]
name = "mbx1"

[[users]]
smtp = "mara@contoso.com"
display_name = "Mara Whitley"
password = "Mara-Pa55"

[[service_accounts]]
name = "svc-bems"
upn = "svc-bems@contoso.com"
password = "Svc-Pa55w.rd"
rights = ["ApplicationImpersonation"]
client_certificate = true

[[apps]]
client_id = "11111111-1111-1111-1111-111111111111"
secret = "app-secret-1"
certificate = true
roles = ["full_access_as_app"]
scopes = ["EWS.AccessAsUser.All", "User.ReadBasic.All"]
redirect_uris = ["https://bems.contoso.com/callback"]

[[apps]]
client_id = "22222222-2222-2222-2222-222222222222"
secret = "app-secret-2"
consented = false
"#;

pub(crate) async fn start() -> Sim {
    let scenario = Scenario::from_toml(SCENARIO).expect("scenario");
    Sim::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("simulator starts")
}

/// Transport settings that trust the simulator and resolve its hosts.
pub(crate) fn transport(sim: &Sim) -> TransportSettings {
    let mut transport = TransportSettings::default();
    transport.trusted_ca_pem = vec![sim.ca_pem().to_owned()];
    transport.trusted_ca_only = true;
    let addr = sim.https_addr();
    for host in [
        "login.microsoftonline.test",
        "mail.contoso.com",
        "outlook.office365.com",
    ] {
        transport.resolve.push((host.to_owned(), addr));
    }
    transport.connect_timeout = Duration::from_secs(5);
    transport
}

/// `https://login.microsoftonline.test:<port>/contoso`.
pub(crate) fn authority(sim: &Sim) -> url::Url {
    sim.identity().authority().parse().expect("authority URL")
}

/// `https://mail.contoso.com:<port>`: the EWS host, as the "server name" of hybrid modern auth.
pub(crate) fn ews_server(sim: &Sim) -> String {
    let url: url::Url = sim.ews_url(MARA).expect("mailbox").parse().expect("URL");
    format!("https://{}", url.host_str().expect("host"))
}

/// A `GetFolder` of Mara's inbox, impersonating her (with `X-AnchorMailbox`, as app-only
/// tokens need), or as herself when `impersonate` is false.
pub(crate) fn get_folder(sim: &Sim, impersonate: bool) -> HttpRequest {
    use ews_proto::call::{CallOptions, request};
    use ews_proto::operations::GetFolder;
    use ews_proto::soap::ExchangeVersion;
    let mut options = CallOptions::as_mailbox(ExchangeVersion::Exchange2013, MARA);
    if !impersonate {
        options = options.impersonating(None);
    }
    let post = request(
        &options,
        &GetFolder::new(vec![ews_proto::BaseFolderId::inbox()]),
    );
    let url = sim.ews_url(MARA).expect("mailbox").parse().expect("URL");
    post.headers.into_iter().fold(
        HttpRequest::post(url, post.body),
        |request, (name, value)| request.header(name, value),
    )
}

/// Sends an EWS call; the HTTP status.
pub(crate) async fn ews_status(auth: &dyn Authenticator, sim: &Sim, impersonate: bool) -> u16 {
    auth.send(get_folder(sim, impersonate))
        .await
        .expect("EWS answers")
        .status
}
