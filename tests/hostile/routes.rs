//! Every route under the classes of abuse around the holes: bodies that are deeply nested or
//! too large, ids that try to leave their path segment, and clients that connect and stall.

use std::time::{Duration, Instant};

use bems_demo::{ADMIN_TOKEN, TENANT, World};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::devices::start;

const MARA: &str = "mara@contoso.com";

/// Who a request is sent as.
#[derive(Clone, Copy)]
enum As {
    Mara,
    Admin,
    Nobody,
}

async fn send(
    world: &World,
    base: &str,
    who: As,
    method: reqwest::Method,
    path: &str,
    body: Vec<u8>,
) -> u16 {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("Content-Type", "application/json")
        .header("If-None-Match", "*")
        .body(body);
    match who {
        As::Mara => request = request.bearer_auth(world.user_token(MARA).expect("token")),
        As::Admin => request = request.bearer_auth(ADMIN_TOKEN),
        As::Nobody => {}
    }
    request
        .send()
        .await
        .expect("the service answers")
        .status()
        .as_u16()
}

async fn healthy(base: &str) {
    let answer = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the health route answers");
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn nested_and_oversized_bodies_get_a_4xx_on_every_route_that_reads_one() {
    let (world, running, base) = start(|_| {}).await;
    let nested = |depth: usize| {
        let mut body = "[".repeat(depth).into_bytes();
        body.extend("]".repeat(depth).into_bytes());
        body
    };
    let object_nested = {
        let mut body = r#"{"mailbox":"#.repeat(50_000).into_bytes();
        body.extend(b"1".iter().chain(&b"}".repeat(50_000)));
        body
    };
    let oversized = {
        let mut body = br#"{"mailbox":""#.to_vec();
        body.extend(std::iter::repeat_n(b'a', 5 << 20));
        body.extend(br#""}"#);
        body
    };
    let routes = [
        (
            As::Mara,
            reqwest::Method::POST,
            format!("/v1/tenants/{TENANT}/devices"),
        ),
        (
            As::Mara,
            reqwest::Method::PUT,
            format!("/v1/tenants/{TENANT}/users/{MARA}/follow-me/launcher"),
        ),
        (
            As::Admin,
            reqwest::Method::PUT,
            format!("/admin/tenants/{TENANT}/settings"),
        ),
        (
            As::Admin,
            reqwest::Method::POST,
            format!("/admin/tenants/{TENANT}/test-connection"),
        ),
        (As::Nobody, reqwest::Method::POST, format!("/ews/{TENANT}")),
    ];
    for (who, method, path) in &routes {
        for (what, body) in [
            ("100,000 nested arrays", nested(100_000)),
            ("50,000 nested objects", object_nested.clone()),
            ("5 MiB", oversized.clone()),
        ] {
            let started = Instant::now();
            let status = send(&world, &base, *who, method.clone(), path, body).await;
            assert!(
                (400..500).contains(&status),
                "{method} {path} with {what}: {status}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{method} {path} with {what} took {:?}",
                started.elapsed()
            );
        }
    }
    healthy(&base).await;
    assert_eq!(
        running.service.store.device_count().await.expect("count"),
        0
    );
    running.stop().await;
}

#[tokio::test]
async fn ids_with_path_characters_stay_inside_their_segment() {
    let (world, running, base) = start(|_| {}).await;
    // Sadie's Follow-Me document, which Mara's ids try to reach.
    let sadie = world.user_token("sadie@contoso.com").expect("token");
    let http = reqwest::Client::new();
    let created = http
        .put(format!(
            "{base}/v1/tenants/{TENANT}/users/sadie@contoso.com/follow-me/secret"
        ))
        .bearer_auth(&sadie)
        .header("If-None-Match", "*")
        .json(&serde_json::json!({"pin": 1234}))
        .send()
        .await
        .expect("answer");
    assert_eq!(created.status(), 201);
    let hostile = [
        "..%2F..%2Fusers%2Fsadie@contoso.com%2Ffollow-me%2Fsecret",
        "%2e%2e",
        "..%2fsecret",
        "x%3Fq%3D1",
        "x%23frag",
        "%00",
        "a%2F..%2F..%2F..%2Fadmin%2Fstatus",
    ];
    for id in hostile {
        let routes = [
            (
                As::Mara,
                reqwest::Method::GET,
                format!("/v1/tenants/{TENANT}/users/{MARA}/follow-me/{id}"),
            ),
            (
                As::Mara,
                reqwest::Method::DELETE,
                format!("/v1/tenants/{TENANT}/users/{MARA}/follow-me/{id}"),
            ),
            (
                As::Mara,
                reqwest::Method::GET,
                format!("/v1/tenants/{TENANT}/users/{id}/follow-me"),
            ),
            (
                As::Mara,
                reqwest::Method::GET,
                format!("/v1/tenants/{TENANT}/directory/photos/{id}"),
            ),
            (
                As::Mara,
                reqwest::Method::DELETE,
                format!("/v1/tenants/{TENANT}/devices/{id}?mailbox={MARA}"),
            ),
            (
                As::Mara,
                reqwest::Method::GET,
                format!("/v1/tenants/{id}/directory/search?q=mara"),
            ),
            (
                As::Admin,
                reqwest::Method::GET,
                format!("/admin/tenants/{id}/devices"),
            ),
            (
                As::Admin,
                reqwest::Method::DELETE,
                format!("/admin/tenants/{TENANT}/devices/{id}"),
            ),
            (
                As::Admin,
                reqwest::Method::GET,
                format!("/admin/tenants/{id}/settings"),
            ),
            (
                As::Nobody,
                reqwest::Method::GET,
                format!("/oauth/{id}/callback?code=x&state=y"),
            ),
            (
                As::Nobody,
                reqwest::Method::POST,
                format!("/graph/{id}/notifications"),
            ),
            (As::Nobody, reqwest::Method::POST, format!("/ews/{id}")),
        ];
        for (who, method, path) in routes {
            let status = send(&world, &base, who, method.clone(), &path, Vec::new()).await;
            assert!(
                (400..500).contains(&status),
                "{method} {path}: {status}, not a refusal"
            );
        }
    }
    // Sadie's document is there, unread by anyone else and unchanged.
    let document = http
        .get(format!(
            "{base}/v1/tenants/{TENANT}/users/sadie@contoso.com/follow-me/secret"
        ))
        .bearer_auth(&sadie)
        .send()
        .await
        .expect("answer");
    assert_eq!(document.status(), 200);
    assert_eq!(
        document.json::<serde_json::Value>().await.expect("JSON"),
        serde_json::json!({"pin": 1234})
    );
    healthy(&base).await;
    running.stop().await;
}

#[tokio::test]
async fn clients_that_connect_and_stall_do_not_keep_the_service_from_answering() {
    let (_world, running, base) = start(|_| {}).await;
    let mut stalled = Vec::new();
    for n in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(running.addr)
            .await
            .expect("connect");
        // Half a request, or nothing at all.
        if n % 2 == 0 {
            stream
                .write_all(b"POST /v1/tenants/contoso/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
                .await
                .expect("write");
        }
        stalled.push(stream);
    }
    healthy(&base).await;
    // A client that never finishes its headers is disconnected (the bound is 10 s).
    let mut slow = tokio::net::TcpStream::connect(running.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buffer = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            match slow.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a stalled client was never disconnected");
    drop(stalled);
    healthy(&base).await;
    running.stop().await;
}
