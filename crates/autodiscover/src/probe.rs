//! Asking one candidate: POX, SOAP, v2 JSON, or the plain-HTTP redirect GET.

use std::time::Instant;

use ews_proto::autodiscover::{
    AutodiscoverErrorCode, GetUserSettingsRequest, GetUserSettingsResponse, PoxAction, PoxRequest,
    PoxResponse, V2Response,
};
use url::Url;

use crate::email::Email;
use crate::engine::Ctx;
use crate::trace::{Method, Outcome, TraceEntry};

/// Largest Autodiscover answer read (real ones are a few KiB).
const MAX_ANSWER: usize = 256 * 1024;

/// The settings a candidate gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) external: Option<Url>,
    pub(crate) internal: Option<Url>,
    pub(crate) grouping: Option<String>,
    pub(crate) version: Option<String>,
}

/// A decisive answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Settings(Found),
    RedirectAddr(String),
    RedirectUrl(Url),
    /// The plain-HTTP redirect gave an Autodiscover URL to ask.
    Location(Url),
}

/// The request a probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pox,
    Soap,
    V2,
    RedirectGet,
}

/// One candidate to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    /// How the candidate was found (for the trace and the answer).
    pub(crate) method: Method,
    /// What is sent.
    pub(crate) kind: Kind,
    pub(crate) url: Url,
}

impl Probe {
    /// A probe whose request follows from the URL: `.svc` is SOAP, `.json` v2, else POX.
    pub(crate) fn new(method: Method, url: Url) -> Self {
        let path = url.path().to_ascii_lowercase();
        let kind = if path.ends_with(".svc") {
            Kind::Soap
        } else if path.ends_with(".json") {
            Kind::V2
        } else {
            Kind::Pox
        };
        Self { method, kind, url }
    }

    /// The unauthenticated plain-HTTP GET.
    pub(crate) fn redirect_get(url: Url) -> Self {
        Self {
            method: Method::HttpRedirect,
            kind: Kind::RedirectGet,
            url,
        }
    }

    /// Whether this probe authenticates (POX and SOAP do; v2 and the redirect GET never).
    pub(crate) fn authenticated(&self) -> bool {
        matches!(self.kind, Kind::Pox | Kind::Soap)
    }
}

/// The SOAP settings discovery asks for.
const SETTINGS: &[&str] = &[
    "ExternalEwsUrl",
    "InternalEwsUrl",
    "GroupingInformation",
    "CasVersion",
];

/// Asks one candidate; the trace entry says what happened.
pub(crate) async fn run(
    ctx: &Ctx,
    probe: &Probe,
    email: &Email,
    authorization: Option<String>,
) -> (TraceEntry, Option<Answer>) {
    let started = Instant::now();
    let sent = authorization.is_some();
    let result = match probe.kind {
        Kind::Pox => pox(ctx, probe, email, authorization).await,
        Kind::Soap => soap(ctx, probe, email, authorization).await,
        Kind::V2 => v2(ctx, probe, email).await,
        Kind::RedirectGet => redirect_get(ctx, probe).await,
    };
    let (outcome, answer) = match result {
        Ok(answer) => {
            let outcome = match &answer {
                Answer::Settings(_) => Outcome::Found,
                Answer::RedirectAddr(to) => Outcome::Redirected { to: to.clone() },
                Answer::RedirectUrl(to) | Answer::Location(to) => {
                    Outcome::Redirected { to: to.to_string() }
                }
            };
            (outcome, Some(answer))
        }
        Err(error) => (Outcome::Failed { error }, None),
    };
    let entry = TraceEntry::new(
        probe.method,
        probe.url.as_str(),
        email.address(),
        outcome,
        started.elapsed(),
    )
    .with_credentials(sent);
    (entry, answer)
}

async fn post(
    ctx: &Ctx,
    url: &Url,
    body: Vec<u8>,
    authorization: Option<String>,
) -> Result<Vec<u8>, String> {
    let mut request = ctx
        .http
        .post(url.clone())
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.map_err(describe)?;
    read(response).await
}

async fn read(response: reqwest::Response) -> Result<Vec<u8>, String> {
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err("HTTP 401: credentials refused".into());
    }
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("answer larger than {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error of a request, without URLs' query strings or credentials.
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "bad answer body"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn parse_url(text: &str) -> Result<Url, String> {
    Url::parse(text.trim()).map_err(|e| format!("invalid URL {text:?}: {e}"))
}

async fn pox(
    ctx: &Ctx,
    probe: &Probe,
    email: &Email,
    authorization: Option<String>,
) -> Result<Answer, String> {
    let body = post(
        ctx,
        &probe.url,
        PoxRequest::new(email.address()).to_xml(),
        authorization,
    )
    .await?;
    let response =
        PoxResponse::from_xml(&body).map_err(|e| format!("not a POX Autodiscover answer: {e}"))?;
    if let Some(error) = &response.error {
        return Err(format!(
            "POX error {}: {}",
            error.error_code,
            error.message.as_deref().unwrap_or_default()
        ));
    }
    let account = response
        .account
        .as_ref()
        .ok_or("POX answer without Account")?;
    match &account.action {
        Some(PoxAction::RedirectAddr) => {
            let to = account
                .redirect_addr
                .clone()
                .ok_or("redirectAddr without RedirectAddr")?;
            Ok(Answer::RedirectAddr(to))
        }
        Some(PoxAction::RedirectUrl) => {
            let to = account
                .redirect_url
                .as_deref()
                .ok_or("redirectUrl without RedirectUrl")?;
            Ok(Answer::RedirectUrl(parse_url(to)?))
        }
        _ => {
            let external = response.external_ews_url().map(parse_url).transpose()?;
            let internal = response.internal_ews_url().map(parse_url).transpose()?;
            if external.is_none() && internal.is_none() {
                return Err("POX settings without an EWS URL".into());
            }
            let version = response
                .protocol(&ews_proto::autodiscover::ProtocolType::Exch)
                .and_then(|p| p.get("ServerVersion"))
                .map(str::to_owned);
            Ok(Answer::Settings(Found {
                external,
                internal,
                grouping: None,
                version,
            }))
        }
    }
}

async fn soap(
    ctx: &Ctx,
    probe: &Probe,
    email: &Email,
    authorization: Option<String>,
) -> Result<Answer, String> {
    let request = GetUserSettingsRequest::new(email.address(), SETTINGS, probe.url.as_str());
    let body = post(ctx, &probe.url, request.to_xml(), authorization).await?;
    let response = GetUserSettingsResponse::from_xml(&body)
        .map_err(|e| format!("not a SOAP Autodiscover answer: {e}"))?;
    if response.error_code != AutodiscoverErrorCode::NoError {
        return Err(format!(
            "SOAP error {}: {}",
            response.error_code,
            response.error_message.as_deref().unwrap_or_default()
        ));
    }
    let user = response
        .user_responses
        .first()
        .ok_or("SOAP answer without UserResponse")?;
    match &user.error_code {
        AutodiscoverErrorCode::NoError => {
            let external = user.external_ews_url().map(parse_url).transpose()?;
            let internal = user.internal_ews_url().map(parse_url).transpose()?;
            if external.is_none() && internal.is_none() {
                return Err("SOAP settings without an EWS URL".into());
            }
            let version = response
                .server_version
                .as_ref()
                .and_then(|v| v.version.clone())
                .or_else(|| user.setting("CasVersion").map(str::to_owned));
            Ok(Answer::Settings(Found {
                external,
                internal,
                grouping: user.grouping_information().map(str::to_owned),
                version,
            }))
        }
        AutodiscoverErrorCode::RedirectAddress => {
            let to = user
                .redirect_target
                .clone()
                .ok_or("RedirectAddress without RedirectTarget")?;
            Ok(Answer::RedirectAddr(to))
        }
        AutodiscoverErrorCode::RedirectUrl => {
            let to = user
                .redirect_target
                .as_deref()
                .ok_or("RedirectUrl without RedirectTarget")?;
            Ok(Answer::RedirectUrl(parse_url(to)?))
        }
        other => Err(format!(
            "SOAP user error {other}: {}",
            user.error_message.as_deref().unwrap_or_default()
        )),
    }
}

async fn v2(ctx: &Ctx, probe: &Probe, email: &Email) -> Result<Answer, String> {
    let mut url = probe.url.clone();
    url.query_pairs_mut()
        .clear()
        .append_pair("Email", email.address())
        .append_pair("Protocol", "EWS");
    let response = ctx.http.get(url).send().await.map_err(describe)?;
    let body = read(response).await?;
    match V2Response::from_json(&body).map_err(|e| format!("not a v2 answer: {e}"))? {
        V2Response::Endpoint { url, .. } => Ok(Answer::Settings(Found {
            external: Some(parse_url(&url)?),
            ..Found::default()
        })),
        V2Response::Error { code, message } => Err(format!("v2 error {code}: {message}")),
        _ => Err("unknown v2 answer".into()),
    }
}

async fn redirect_get(ctx: &Ctx, probe: &Probe) -> Result<Answer, String> {
    let response = ctx
        .http
        .get(probe.url.clone())
        .send()
        .await
        .map_err(describe)?;
    let status = response.status().as_u16();
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Err(format!("HTTP {status}, not a redirect"));
    }
    let location = response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .ok_or("redirect without Location")?;
    let target = probe
        .url
        .join(location)
        .map_err(|e| format!("invalid Location {location:?}: {e}"))?;
    Ok(Answer::Location(target))
}
