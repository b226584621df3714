//! Autodiscover v2 (JSON): both URL forms, without credentials, and the error answers.

use ews_proto::autodiscover::V2Response;
use exchange_sim::Sim;
use reqwest::StatusCode;

use super::{MARA, url};
use crate::support;

async fn get(sim: &Sim, host: &str, path_and_query: &str) -> (StatusCode, V2Response) {
    let response = support::client(sim)
        .get(url(sim, host, path_and_query))
        .send()
        .await
        .expect("answered");
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let bytes = response.bytes().await.expect("body");
    (status, V2Response::from_json(&bytes).expect("a v2 answer"))
}

fn endpoint(protocol: &str, url: String) -> V2Response {
    V2Response::Endpoint {
        protocol: protocol.into(),
        url,
    }
}

#[tokio::test]
async fn both_url_forms_answer_the_external_ews_url_without_credentials() {
    let sim = support::start().await;
    let ews = sim.ews_url(MARA).expect("URL");
    for (host, path) in [
        (
            "autodiscover.contoso.com",
            "/autodiscover/autodiscover.json?Email=mara@contoso.com&Protocol=EWS",
        ),
        (
            "outlook.office365.com",
            "/autodiscover/autodiscover.json?Email=mara%40contoso.com&Protocol=ews",
        ),
        (
            "contoso.com",
            "/autodiscover/autodiscover.json/v1.0/mara@contoso.com?Protocol=EWS",
        ),
        (
            "autodiscover.contoso.com",
            "/Autodiscover/Autodiscover.json/v1.0/Mara%40Contoso.com?Protocol=EWS",
        ),
    ] {
        let (status, answer) = get(&sim, host, path).await;
        assert_eq!(status, StatusCode::OK, "{host}{path}");
        assert_eq!(answer, endpoint("EWS", ews.clone()), "{host}{path}");
    }

    let (_, answer) = get(
        &sim,
        "contoso.com",
        "/autodiscover/autodiscover.json?Email=elvin@fabrikam.com&Protocol=EWS",
    )
    .await;
    assert_eq!(
        answer,
        endpoint("EWS", sim.ews_url("elvin@fabrikam.com").expect("URL"))
    );

    let path = "/autodiscover/autodiscover.json/v1.0/mara@contoso.com?Protocol=AutodiscoverV1";
    let (_, answer) = get(&sim, "contoso.com", path).await;
    let pox = format!(
        "{}/autodiscover/autodiscover.xml",
        sim.https_base("autodiscover.contoso.com")
    );
    assert_eq!(answer, endpoint("AutodiscoverV1", pox));
}

#[tokio::test]
async fn errors_use_the_json_error_form() {
    let sim = support::start().await;
    let host = "autodiscover.contoso.com";
    let cases = [
        (
            "/autodiscover/autodiscover.json?Email=mara@contoso.com&Protocol=Gopher",
            400,
            "InvalidProtocol",
        ),
        (
            "/autodiscover/autodiscover.json?Email=mara@contoso.com",
            400,
            "InvalidProtocol",
        ),
        (
            "/autodiscover/autodiscover.json?Protocol=EWS",
            400,
            "MandatoryParameterMissing",
        ),
        (
            "/autodiscover/autodiscover.json?Email=mara&Protocol=EWS",
            400,
            "MandatoryParameterMissing",
        ),
        (
            "/autodiscover/autodiscover.json?Email=nobody@contoso.com&Protocol=EWS",
            404,
            "UserNotFound",
        ),
        (
            "/autodiscover/autodiscover.json/v1.0/nobody@contoso.com?Protocol=EWS",
            404,
            "UserNotFound",
        ),
    ];
    for (path, status, code) in cases {
        let (got, answer) = get(&sim, host, path).await;
        assert_eq!(got.as_u16(), status, "{path}");
        match answer {
            V2Response::Error { code: got, message } => {
                assert_eq!(got, code, "{path}");
                assert!(!message.is_empty());
            }
            other => panic!("{path}: expected an error, got {other:?}"),
        }
    }

    let post = support::client(&sim)
        .post(url(
            &sim,
            host,
            "/autodiscover/autodiscover.json?Email=mara@contoso.com&Protocol=EWS",
        ))
        .send()
        .await
        .expect("answered");
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}
