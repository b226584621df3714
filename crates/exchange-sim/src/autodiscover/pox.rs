//! POX Autodiscover: `POST /autodiscover/autodiscover.xml`.
//!
//! - A mailbox's settings: `User`, then `Account` with `EXCH` (internal URLs), `EXPR`
//!   (external URLs) and `WEB` (OWA) protocol blocks.
//! - An unknown address: error `500`, "The e-mail address cannot be found." (the
//!   `ErrorCode` table of MS-OXDSCLI); a request that cannot be read, or a `GET`: error `600`,
//!   "Invalid Request"; a response schema other than Outlook's: error `601`.
//! - A host scripted `RedirectAddr` / `RedirectUrl` answers `redirectAddr` / `redirectUrl`.
//! - Exchange Online (`profile = "exchange-online"`) answers a POST to the plain
//!   `/autodiscover/autodiscover.xml` with `302` to `/Autodiscover/<address>/Autodiscover.xml`
//!   on the same host, and serves that path (exchangelib issue 863).
//!
//! Spec: [POX Autodiscover response](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/pox-autodiscover-response-for-exchange).

use axum::response::{IntoResponse as _, Response};
use ews_proto::autodiscover::{
    PoxProtocol, PoxRequest, PoxResponse, PoxUser, PoxWebUrl, ProtocolType,
};
use ews_proto::namespaces;
use http::{Method, StatusCode, header};

use super::auth;
use super::facts::Facts;
use super::incoming::Incoming;
use crate::scenario::{HostBehaviour, Profile};
use crate::sim::Ctx;

/// The `EcpUrl-*` settings of the `EXCH` block, as Exchange sends them (`{realm}` is the
/// mail domain).
const ECP_FRAGMENTS: [(&str, &str); 11] = [
    (
        "EcpUrl-um",
        "?rfr=olk&p=customize/voicemail.aspx&exsvurl=1&realm={realm}",
    ),
    (
        "EcpUrl-aggr",
        "?rfr=olk&p=personalsettings/EmailSubscriptions.slab&exsvurl=1&realm={realm}",
    ),
    (
        "EcpUrl-mt",
        "PersonalSettings/DeliveryReport.aspx?rfr=olk&exsvurl=1&IsOWA=<IsOWA>&MsgID=<MsgID>&Mbx=<Mbx>&realm={realm}",
    ),
    (
        "EcpUrl-ret",
        "?rfr=olk&p=organize/retentionpolicytags.slab&exsvurl=1&realm={realm}",
    ),
    (
        "EcpUrl-sms",
        "?rfr=olk&p=sms/textmessaging.slab&exsvurl=1&realm={realm}",
    ),
    (
        "EcpUrl-publish",
        "customize/calendarpublishing.slab?rfr=olk&exsvurl=1&FldID=<FldID>&realm={realm}",
    ),
    (
        "EcpUrl-photo",
        "PersonalSettings/EditAccount.aspx?rfr=olk&chgPhoto=1&exsvurl=1&realm={realm}",
    ),
    (
        "EcpUrl-tm",
        "?rfr=olk&ftr=TeamMailbox&exsvurl=1&realm={realm}",
    ),
    (
        "EcpUrl-tmCreating",
        "?rfr=olk&ftr=TeamMailboxCreating&SPUrl=<SPUrl>&Title=<Title>&SPTMAppUrl=<SPTMAppUrl>&exsvurl=1&realm={realm}",
    ),
    (
        "EcpUrl-tmEditing",
        "?rfr=olk&ftr=TeamMailboxEditing&Id=<Id>&exsvurl=1&realm={realm}",
    ),
    (
        "EcpUrl-extinstall",
        "Extension/InstalledExtensions.slab?rfr=olk&exsvurl=1&realm={realm}",
    ),
];

/// Answers a POX request that reached a host behaving as an Autodiscover server.
pub(crate) async fn answer(
    ctx: &Ctx,
    incoming: Incoming,
    behaviour: &HostBehaviour,
    direct: bool,
) -> Response {
    if let Some(challenge) = auth::challenge(ctx, &incoming) {
        return challenge;
    }
    if incoming.method != Method::POST {
        // Browsing to autodiscover.xml with credentials gives the famous 600.
        return xml(&error(ctx, "600", "Invalid Request"));
    }
    let host = incoming.host.clone();
    let body = match incoming.read_body().await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Ok(request) = PoxRequest::from_xml(&body) else {
        return xml(&error(ctx, "600", "Invalid Request"));
    };
    let address = request.email_address.trim().to_owned();
    if address.is_empty() || request.acceptable_response_schema.trim().is_empty() {
        return xml(&error(ctx, "600", "Invalid Request"));
    }
    if request.acceptable_response_schema.trim() != namespaces::POX_OUTLOOK_RESPONSE {
        return xml(&error(ctx, "601", "Provider is not available"));
    }
    match behaviour {
        HostBehaviour::RedirectAddr(target) => {
            return xml(&PoxResponse::redirect_addr(target.as_str()));
        }
        HostBehaviour::RedirectUrl(url) => {
            let mut response = PoxResponse::redirect_url(url.as_str());
            let mut user = PoxUser::default();
            user.autodiscover_smtp_address = Some(address);
            response.user = Some(user);
            return xml(&response);
        }
        _ => {}
    }
    if direct && ctx.world.scenario.profile == Profile::ExchangeOnline {
        return exchange_online_redirect(ctx, &host, &address);
    }
    match Facts::for_address(ctx, &address) {
        Some(facts) => xml(&settings(&facts)),
        None => xml(&error(ctx, "500", "The e-mail address cannot be found.")),
    }
}

/// The `settings` answer for a mailbox.
pub(crate) fn settings(facts: &Facts) -> PoxResponse {
    let mut user = PoxUser::default();
    user.display_name = Some(facts.display_name.clone());
    user.legacy_dn = Some(facts.legacy_dn.clone());
    user.autodiscover_smtp_address = Some(facts.smtp.clone());
    user.deployment_id = Some(facts.deployment_id.clone());

    let internal = &facts.internal_host;
    let external = &facts.external_host;
    let mut exch = vec![
        ("Server", facts.mailbox_server.clone()),
        ("ServerDN", facts.server_dn.clone()),
        ("ServerVersion", facts.version.pox_server_version()),
        ("MdbDN", facts.mdb_dn.clone()),
        ("PublicFolderServer", strip_port(external)),
        ("AD", facts.active_directory_server.clone()),
        ("ASUrl", facts.internal_ews_url.clone()),
        ("EwsUrl", facts.internal_ews_url.clone()),
        ("EmwsUrl", facts.internal_ews_url.clone()),
        ("EcpUrl", Facts::ecp_url(internal)),
    ];
    for (name, fragment) in ECP_FRAGMENTS {
        exch.push((name, fragment.replace("{realm}", &facts.domain)));
    }
    exch.extend([
        ("OOFUrl", facts.internal_ews_url.clone()),
        ("UMUrl", format!("https://{internal}/EWS/UM2007Legacy.asmx")),
        ("OABUrl", Facts::oab_url(internal)),
        ("ServerExclusiveConnect", "off".to_owned()),
    ]);
    let exch: Vec<(&str, &str)> = exch.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let exch = PoxProtocol::new(ProtocolType::Exch, &exch);
    let expr = PoxProtocol::new(
        ProtocolType::Expr,
        &[
            ("Server", &strip_port(external)),
            ("SSL", "On"),
            ("AuthPackage", "Basic"),
            ("ASUrl", &facts.external_ews_url),
            ("EwsUrl", &facts.external_ews_url),
            ("EmwsUrl", &facts.external_ews_url),
            ("EcpUrl", &Facts::ecp_url(external)),
            ("OOFUrl", &facts.external_ews_url),
            ("OABUrl", &Facts::oab_url(external)),
            ("ServerExclusiveConnect", "on"),
            ("CertPrincipalName", "None"),
        ],
    );
    let mut web = PoxProtocol::new(ProtocolType::Web, &[]);
    web.internal = Some(Default::default());
    web.external = Some(Default::default());
    let sides = [
        (
            web.internal.as_mut(),
            internal,
            ProtocolType::Exch,
            &facts.internal_ews_url,
        ),
        (
            web.external.as_mut(),
            external,
            ProtocolType::Expr,
            &facts.external_ews_url,
        ),
    ];
    for (endpoints, host, kind, ews) in sides {
        let Some(endpoints) = endpoints else { continue };
        let mut owa = PoxWebUrl::default();
        owa.authentication_method = Some("Basic, Fba".to_owned());
        owa.url = Facts::owa_url(host);
        endpoints.owa_urls.push(owa);
        endpoints
            .protocols
            .push(PoxProtocol::new(kind, &[("ASUrl", ews)]));
    }

    let mut response = PoxResponse::settings(user, vec![exch, expr, web]);
    if let Some(account) = response.account.as_mut() {
        account.microsoft_online = Some(
            if facts.microsoft_online {
                "True"
            } else {
                "False"
            }
            .to_owned(),
        );
    }
    response
}

/// A POX error, stamped with a time and an id as Exchange does.
fn error(ctx: &Ctx, code: &str, message: &str) -> PoxResponse {
    let mut response = PoxResponse::error(code, message);
    if let Some(error) = response.error.as_mut() {
        let now = ctx.world.clock.now();
        error.time = Some(format!(
            "{:02}:{:02}:{:02}.{:07}",
            now.hour(),
            now.minute(),
            now.second(),
            now.nanosecond() / 100
        ));
        error.id = Some(rand::random::<u32>().to_string());
        error.debug_data = Some(String::new());
    }
    response
}

/// Exchange Online's answer to the plain path: `302` to the per-mailbox path.
fn exchange_online_redirect(ctx: &Ctx, host: &str, address: &str) -> Response {
    let location = format!(
        "https://{}/Autodiscover/{}/Autodiscover.xml",
        ctx.world.authority(host),
        address
            .chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '/' | '?' | '#' | '%'))
            .collect::<String>()
    );
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CONTENT_TYPE, "text/xml; charset=utf-8".to_owned()),
        ],
    )
        .into_response()
}

fn strip_port(authority: &str) -> String {
    super::incoming::host_without_port(authority)
}

fn xml(response: &PoxResponse) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        response.to_xml(),
    )
        .into_response()
}
