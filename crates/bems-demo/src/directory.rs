//! The demo's step for the services a tenant gets automatically: Mara looks people up in the
//! directory and fetches a photo; her phone and her tablet share a Follow-Me document, and a
//! stale write is refused.

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use crate::{TENANT, World, say};

fn failed(what: &str, status: StatusCode) -> String {
    format!("{what}: HTTP {status}")
}

/// Runs the step against the service at `base` (`http://127.0.0.1:port`).
pub(crate) async fn run(
    world: &World,
    base: &str,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    const MARA: &str = "mara@contoso.com";
    let http = Client::new();
    let token = world.user_token(MARA)?;
    let call = |method: Method, path: String| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(&token)
    };
    say(out, "7. Directory Lookup and Follow-Me, as Mara:".into());
    for q in ["dan", "Alfred H"] {
        let path = format!(
            "/v1/tenants/{TENANT}/directory/search?q={}",
            q.replace(' ', "%20")
        );
        let response = call(Method::GET, path)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(failed("directory search", response.status()));
        }
        let answer: Value = response.json().await.map_err(|e| e.to_string())?;
        let found: Vec<String> = answer["people"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{} <{}>",
                    p["display_name"].as_str().unwrap_or_default(),
                    p["email"].as_str().unwrap_or_default()
                )
            })
            .collect();
        say(out, format!("   search {q:<10} -> {}", found.join(", ")));
    }
    let path = format!("/v1/tenants/{TENANT}/directory/photos/{MARA}");
    let photo = call(Method::GET, path)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if photo.status() != StatusCode::OK {
        return Err(failed("photo", photo.status()));
    }
    let header = |name: &str| {
        photo
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let (kind, etag, cache) = (
        header("content-type"),
        header("etag"),
        header("cache-control"),
    );
    let bytes = photo.bytes().await.map_err(|e| e.to_string())?;
    say(
        out,
        format!(
            "   photo of {MARA} -> {kind}, {} bytes, ETag {etag}, {cache}",
            bytes.len()
        ),
    );

    let document = format!("/v1/tenants/{TENANT}/users/{MARA}/follow-me/launcher");
    let put = |body: &'static str, condition: (&'static str, String)| {
        call(Method::PUT, document.clone())
            .header(condition.0, condition.1)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let etag_of = |r: &reqwest::Response| {
        r.headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let phone = put(
        r#"{"apps":["mail","calendar"]}"#,
        ("If-None-Match", "*".into()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let first = etag_of(&phone);
    say(
        out,
        format!(
            "   {:<32} -> {} ETag {first}",
            "phone  PUT launcher",
            phone.status()
        ),
    );
    let read = call(Method::GET, document.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = read.status();
    let body = read.text().await.map_err(|e| e.to_string())?;
    say(
        out,
        format!("   {:<32} -> {status} {body}", "tablet GET launcher"),
    );
    let tablet = put(
        r#"{"apps":["mail","calendar","notes"]}"#,
        ("If-Match", first.clone()),
    )
    .await
    .map_err(|e| e.to_string())?;
    say(
        out,
        format!(
            "   tablet PUT launcher If-Match {first} -> {} ETag {}",
            tablet.status(),
            etag_of(&tablet)
        ),
    );
    let stale = put(r#"{"apps":["mail"]}"#, ("If-Match", first.clone()))
        .await
        .map_err(|e| e.to_string())?;
    say(
        out,
        format!(
            "   phone  PUT launcher If-Match {first} -> {} (the tablet changed it: read again)",
            stale.status()
        ),
    );
    if stale.status() != StatusCode::PRECONDITION_FAILED || tablet.status() != StatusCode::OK {
        return Err("Follow-Me did not keep the devices from overwriting each other".into());
    }
    Ok(())
}
