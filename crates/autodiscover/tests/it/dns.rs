//! The DNS server and proxy fixtures, exercised the way discovery will use them: names only
//! the fixture knows, HTTPS through a `CONNECT` tunnel to exchange-sim, plain HTTP forwarded,
//! SOCKS5. (The crate's own resolver is tested against the same DNS fixture in
//! `src/dns/loopback_tests.rs`, since it is crate-private.)

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use exchange_sim::{Scenario, Sim};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::proxy::{HttpProxy, ProxiedRequest, Socks5Proxy};
use exchange_sim::dns::{DnsQuery, DnsRecord, DnsServer, RecordType, SilentDnsServer};

/// Bounds each network step of a test; loopback answers take milliseconds.
const BOUND: Duration = Duration::from_secs(10);

const MAILBOX: &str = "mara@contoso.test";

/// A plain hickory resolver asking only `server`, over UDP or TCP, with two tries of
/// `timeout` each.
fn resolver(server: SocketAddr, tcp: bool, timeout: Duration) -> TokioResolver {
    let mut name_server = if tcp {
        NameServerConfig::tcp(server.ip())
    } else {
        NameServerConfig::udp(server.ip())
    };
    for connection in &mut name_server.connections {
        connection.port = server.port();
    }
    let config = ResolverConfig::from_name_servers(vec![name_server]);
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
    builder.options_mut().timeout = timeout;
    builder.options_mut().attempts = 1;
    builder.build().unwrap()
}

async fn sim() -> Sim {
    let scenario = Scenario::from_toml(&format!(
        r#"
        [[domains]]
        name = "contoso.test"
        [[servers]]
        name = "mbx1"
        [[users]]
        smtp = "{MAILBOX}"
        display_name = "Mara Whitley"
        "#
    ))
    .unwrap();
    Sim::builder().scenario(scenario).start().await.unwrap()
}

/// exchange-sim, and a DNS server that sends `autodiscover.contoso.test` to it.
async fn sim_behind_dns() -> (Sim, DnsServer) {
    let sim = sim().await;
    let dns = DnsServer::start([DnsRecord::a("autodiscover.contoso.test", [127, 0, 0, 1])])
        .await
        .expect("DNS server");
    (sim, dns)
}

fn v2_url(sim: &Sim) -> String {
    format!(
        "{}/autodiscover/autodiscover.json?Email={MAILBOX}&Protocol=EWS",
        sim.https_base("autodiscover.contoso.test")
    )
}

fn client_via(sim: &Sim, proxy: reqwest::Proxy) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(proxy)
        .tls_certs_only([reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The EWS URL of a v2 answer.
async fn v2_ews_url(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    json["Url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_dns_fixture_answers_what_it_was_given_and_nxdomain_otherwise() {
    let v6: Ipv6Addr = "fd00::1".parse().unwrap();
    let srv = "_autodiscover._tcp.contoso.test";
    let dns = DnsServer::start([
        DnsRecord::a("mail.contoso.test", [127, 0, 0, 2]),
        DnsRecord::aaaa("mail.contoso.test", v6),
        DnsRecord::cname("autodiscover.contoso.test", "mail.contoso.test."),
        DnsRecord::srv(srv, 5, 10, 443, "mail.contoso.test"),
    ])
    .await
    .expect("DNS server");
    for tcp in [false, true] {
        let resolver = resolver(dns.addr, tcp, Duration::from_secs(2));
        let a = resolver
            .ipv4_lookup("autodiscover.contoso.test.")
            .await
            .unwrap();
        let ips: Vec<RData> = a.answers().iter().map(|r| r.data.clone()).collect();
        assert!(
            ips.contains(&RData::A(Ipv4Addr::new(127, 0, 0, 2).into())),
            "{ips:?}"
        );
        let aaaa = resolver.ipv6_lookup("mail.contoso.test.").await.unwrap();
        assert_eq!(aaaa.answers()[0].data, RData::AAAA(v6.into()));
        let answer = resolver.srv_lookup(format!("{srv}.")).await.unwrap();
        let RData::SRV(record) = &answer.answers()[0].data else {
            panic!("not SRV: {answer:?}");
        };
        assert_eq!((record.priority, record.weight, record.port), (5, 10, 443));
        assert_eq!(record.target.to_ascii(), "mail.contoso.test.");
        let missing = resolver.ipv4_lookup("autodiscover.com.").await.unwrap_err();
        assert!(missing.is_nx_domain(), "{missing:?}");
    }
    let queries = dns.queries();
    assert!(queries.contains(&DnsQuery {
        name: srv.to_owned(),
        rtype: RecordType::SRV,
    }));
    assert!(dns.was_queried("AUTODISCOVER.com."));
    assert!(!dns.was_queried("autodiscover.fabrikam.test"));
}

#[tokio::test]
async fn the_silent_server_never_answers() {
    let silent = SilentDnsServer::start().await.expect("silent DNS server");
    let lookup = tokio::time::timeout(
        BOUND,
        resolver(silent.addr, false, Duration::from_millis(200)).ipv4_lookup("a.test."),
    )
    .await
    .expect("hickory's own timeout ends the lookup");
    assert!(lookup.is_err(), "{lookup:?}");
}

#[tokio::test]
async fn https_goes_through_the_connect_tunnel_to_the_name_the_proxy_resolves() {
    let (sim, dns) = sim_behind_dns().await;
    let proxy = HttpProxy::builder().dns_server(dns.addr).start().await;
    let client = client_via(&sim, reqwest::Proxy::all(proxy.url()).unwrap());
    let response = tokio::time::timeout(BOUND, client.get(v2_url(&sim)).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v2_ews_url(response).await, sim.ews_url(MAILBOX).unwrap());
    let target = format!("autodiscover.contoso.test:{}", sim.https_addr().port());
    assert_eq!(proxy.connect_targets(), vec![target.clone()]);
    assert_eq!(
        proxy.requests(),
        vec![ProxiedRequest {
            method: "CONNECT".to_owned(),
            target,
            allowed: true,
        }]
    );
    // The proxy resolved the name; the client never asked.
    assert!(dns.was_queried("autodiscover.contoso.test"));
}

#[tokio::test]
async fn the_proxy_can_require_credentials() {
    let (sim, dns) = sim_behind_dns().await;
    let proxy = HttpProxy::builder()
        .dns_server(dns.addr)
        .require_basic_auth("node", "s3cret")
        .start()
        .await;

    let anonymous = client_via(&sim, reqwest::Proxy::all(proxy.url()).unwrap());
    let refused = tokio::time::timeout(BOUND, anonymous.get(v2_url(&sim)).send())
        .await
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");

    let wrong = reqwest::Proxy::all(proxy.url())
        .unwrap()
        .basic_auth("node", "guess");
    let refused = tokio::time::timeout(BOUND, client_via(&sim, wrong).get(v2_url(&sim)).send())
        .await
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");

    let right = reqwest::Proxy::all(proxy.url())
        .unwrap()
        .basic_auth("node", "s3cret");
    let response = tokio::time::timeout(BOUND, client_via(&sim, right).get(v2_url(&sim)).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v2_ews_url(response).await, sim.ews_url(MAILBOX).unwrap());

    let allowed: Vec<bool> = proxy.requests().iter().map(|r| r.allowed).collect();
    assert_eq!(allowed, vec![false, false, true]);
}

#[tokio::test]
async fn plain_http_is_forwarded_not_tunnelled() {
    let (sim, dns) = sim_behind_dns().await;
    let proxy = HttpProxy::builder().dns_server(dns.addr).start().await;
    let client = client_via(&sim, reqwest::Proxy::all(proxy.url()).unwrap());
    let url = format!(
        "http://autodiscover.contoso.test:{}/autodiscover/autodiscover.xml",
        sim.http_addr().port()
    );
    let response = tokio::time::timeout(BOUND, client.get(&url).send())
        .await
        .unwrap()
        .unwrap();
    // exchange-sim's plain-HTTP listener answers the MS-OXDISCO redirect.
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!(
            "{}/autodiscover/autodiscover.xml",
            sim.https_base("autodiscover.contoso.test")
        )
    );
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].target,
        format!("autodiscover.contoso.test:{}", sim.http_addr().port())
    );
    assert!(proxy.connect_targets().is_empty());
}

#[tokio::test]
async fn socks5_gets_the_name_and_resolves_it() {
    let (sim, dns) = sim_behind_dns().await;
    let proxy = HttpProxy::builder()
        .dns_server(dns.addr)
        .start_socks5()
        .await;
    let client = client_via(&sim, reqwest::Proxy::all(proxy.url()).unwrap());
    let response = tokio::time::timeout(BOUND, client.get(v2_url(&sim)).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v2_ews_url(response).await, sim.ews_url(MAILBOX).unwrap());
    let target = format!("autodiscover.contoso.test:{}", sim.https_addr().port());
    assert_eq!(proxy.targets(), vec![target]);
    assert!(proxy.requests().iter().all(|r| r.method == "SOCKS5"));
    assert!(dns.was_queried("autodiscover.contoso.test"));
}

#[tokio::test]
async fn proxies_without_a_dns_server_use_the_system_resolver() {
    // An IP literal needs no resolver at all; `localhost` comes from the hosts file.
    let sim = sim().await;
    let http = HttpProxy::start().await;
    let socks = Socks5Proxy::start().await;
    let url = format!(
        "{}/autodiscover/autodiscover.json?Email={MAILBOX}&Protocol=EWS",
        sim.https_base("localhost")
    );
    for proxy in [http.url(), socks.url()] {
        let client = client_via(&sim, reqwest::Proxy::all(proxy).unwrap());
        let response = tokio::time::timeout(BOUND, client.get(&url).send())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let target = format!("localhost:{}", sim.https_addr().port());
    assert_eq!(http.connect_targets(), vec![target.clone()]);
    assert_eq!(socks.targets(), vec![target]);
}
