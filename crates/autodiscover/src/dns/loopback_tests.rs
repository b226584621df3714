//! [`Dns`] against the in-process DNS server fixture of the integration tests, over loopback
//! sockets. These live in the crate (not in `tests/it`) because `Dns` is crate-private.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{Dns, SrvRecord};

#[allow(dead_code)]
// The fixture's whole API serves the integration tests; part of it is used here.
use exchange_sim::dns::{DnsRecord, DnsServer, RecordType, SilentDnsServer};

/// Generous: a loopback answer takes milliseconds; this only bounds a broken test.
const BOUND: Duration = Duration::from_secs(10);

fn dns_for(server: SocketAddr) -> Dns {
    Dns::new(Some(server), Duration::from_secs(2)).unwrap()
}

#[tokio::test]
async fn a_and_aaaa_come_from_the_configured_server() {
    let v6: Ipv6Addr = "fd00::25".parse().unwrap();
    let server = DnsServer::start([
        DnsRecord::a("mail.contoso.test", [127, 0, 0, 2]),
        DnsRecord::aaaa("mail.contoso.test", v6),
    ])
    .await
    .expect("DNS server");
    let mut ips = dns_for(server.addr)
        .lookup_ip("mail.contoso.test")
        .await
        .unwrap();
    ips.sort();
    assert_eq!(
        ips,
        vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), IpAddr::V6(v6)]
    );
    let asked: Vec<RecordType> = server.queries().iter().map(|q| q.rtype).collect();
    assert!(asked.contains(&RecordType::A) && asked.contains(&RecordType::AAAA));
    assert!(server.was_queried("MAIL.contoso.test."));
}

#[tokio::test]
async fn a_cname_is_followed() {
    let server = DnsServer::start([
        DnsRecord::cname("autodiscover.contoso.test", "mail.contoso.test"),
        DnsRecord::a("mail.contoso.test", [127, 0, 0, 3]),
    ])
    .await
    .expect("DNS server");
    let ips = dns_for(server.addr)
        .lookup_ip("autodiscover.contoso.test")
        .await
        .unwrap();
    assert_eq!(ips, vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))]);
}

#[tokio::test]
async fn srv_comes_back_in_priority_order_without_trailing_dots() {
    let name = "_autodiscover._tcp.contoso.test";
    let server = DnsServer::start([
        DnsRecord::srv(name, 20, 100, 443, "backup.contoso.test."),
        DnsRecord::srv(name, 10, 1, 443, "mail1.contoso.test"),
        DnsRecord::srv(name, 30, 0, 8443, "last.fabrikam.test"),
        DnsRecord::srv(name, 10, 9, 443, "mail2.contoso.test"),
    ])
    .await
    .expect("DNS server");
    let dns = dns_for(server.addr);
    for _ in 0..20 {
        let records = dns.srv(name).await.unwrap();
        let priorities: Vec<u16> = records.iter().map(|r| r.priority).collect();
        assert_eq!(priorities, vec![10, 10, 20, 30]);
        let mut firsts: Vec<&str> = records[..2].iter().map(|r| r.target.as_str()).collect();
        firsts.sort_unstable();
        assert_eq!(firsts, vec!["mail1.contoso.test", "mail2.contoso.test"]);
        assert_eq!(
            records[2],
            SrvRecord::new(20, 100, 443, "backup.contoso.test")
        );
        assert_eq!(
            records[3],
            SrvRecord::new(30, 0, 8443, "last.fabrikam.test")
        );
    }
    assert!(
        server
            .queries()
            .iter()
            .all(|q| q.name == name && q.rtype == RecordType::SRV)
    );
}

#[tokio::test]
async fn a_lone_dot_target_means_no_service() {
    let name = "_autodiscover._tcp.contoso.test";
    let server = DnsServer::start([DnsRecord::srv(name, 0, 0, 0, ".")])
        .await
        .expect("DNS server");
    assert_eq!(dns_for(server.addr).srv(name).await.unwrap(), vec![]);
    // The answer did come from the server (not from an error path).
    assert!(server.was_queried(name));
}

#[tokio::test]
async fn unknown_names_and_missing_types_are_empty_not_errors() {
    let server = DnsServer::start([DnsRecord::a("mail.contoso.test", [127, 0, 0, 2])])
        .await
        .expect("DNS server");
    let dns = dns_for(server.addr);
    // NXDOMAIN.
    assert_eq!(dns.srv("_autodiscover._tcp.nowhere.test").await, Ok(vec![]));
    assert_eq!(dns.lookup_ip("nowhere.test").await, Ok(vec![]));
    // The name exists, without SRV records (NOERROR, no data).
    assert_eq!(dns.srv("mail.contoso.test").await, Ok(vec![]));
    assert!(server.was_queried("_autodiscover._tcp.nowhere.test"));
    assert!(server.was_queried("nowhere.test"));
}

#[tokio::test]
async fn a_server_that_never_answers_is_an_error_within_the_timeout() {
    let silent = SilentDnsServer::start().await.expect("silent DNS server");
    let dns = Dns::new(Some(silent.addr), Duration::from_millis(300)).unwrap();
    let srv = tokio::time::timeout(BOUND, dns.srv("_autodiscover._tcp.contoso.test"))
        .await
        .expect("the DNS timeout bounds the lookup");
    let error = srv.unwrap_err();
    assert!(error.contains("_autodiscover._tcp.contoso.test"), "{error}");
    let ip = tokio::time::timeout(BOUND, dns.lookup_ip("mail.contoso.test"))
        .await
        .expect("the DNS timeout bounds the lookup");
    assert!(ip.is_err(), "{ip:?}");
}

#[tokio::test]
async fn reqwest_resolves_through_the_configured_server() {
    // A one-shot HTTP responder that reports the Host header it was sent.
    let web = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = web.local_addr().unwrap().port();
    let responder = tokio::spawn(async move {
        let (mut stream, _) = web.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "request cut short");
            request.extend_from_slice(&buf[..n]);
        }
        let body = "hello";
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(reply.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });

    let server = DnsServer::start([DnsRecord::a("only-here.contoso.test", [127, 0, 0, 1])])
        .await
        .expect("DNS server");
    let dns = dns_for(server.addr);
    let client = reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(dns.http_resolver().expect("a server is configured"))
        .build()
        .unwrap();
    let url = format!("http://only-here.contoso.test:{port}/probe");
    let response = tokio::time::timeout(BOUND, client.get(&url).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello");
    let request = tokio::time::timeout(BOUND, responder)
        .await
        .unwrap()
        .unwrap();
    assert!(request.starts_with("GET /probe HTTP/1.1\r\n"), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains(&format!("host: only-here.contoso.test:{port}\r\n")),
        "{request}"
    );
    assert!(server.was_queried("only-here.contoso.test"));

    // A name the server does not know fails to connect: nothing falls back to the system.
    let unknown = format!("http://elsewhere.contoso.test:{port}/");
    let error = tokio::time::timeout(BOUND, client.get(&unknown).send())
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(server.was_queried("elsewhere.contoso.test"));
}
