//! POX ("plain old XML") Autodiscover: `POST /autodiscover/autodiscover.xml`.
//!
//! Spec: [POX Autodiscover request](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/pox-autodiscover-request-for-exchange),
//! [POX Autodiscover response](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/pox-autodiscover-response-for-exchange).

use crate::error::ProtoError;
use crate::namespaces::{self, Ns};
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

wire_enum! {
    /// What the server tells the client to do ([`Action`]).
    ///
    /// [`Action`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/action-pox
    pub enum PoxAction {
        /// The response carries the settings.
        Settings = "settings",
        /// Start again with `RedirectAddr`.
        RedirectAddr = "redirectAddr",
        /// Send the request again to `RedirectUrl`.
        RedirectUrl = "redirectUrl",
    }
}

wire_enum! {
    /// The kind of a `Protocol` block ([`Type`]).
    ///
    /// [`Type`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/type-pox
    pub enum ProtocolType {
        /// Exchange RPC inside the network: the internal URLs.
        Exch = "EXCH",
        /// Outlook Anywhere: the external URLs.
        Expr = "EXPR",
        /// Outlook Web App.
        Web = "WEB",
        /// MAPI over HTTP.
        ExHttp = "EXHTTP",
    }
}

/// The POX Autodiscover request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PoxRequest {
    /// `EMailAddress`.
    pub email_address: String,
    /// `AcceptableResponseSchema`.
    pub acceptable_response_schema: String,
}

impl PoxRequest {
    /// A request for `email_address` that accepts the Outlook response schema.
    pub fn new(email_address: impl Into<String>) -> Self {
        Self {
            email_address: email_address.into(),
            acceptable_response_schema: namespaces::POX_OUTLOOK_RESPONSE.to_owned(),
        }
    }

    /// Writes the request.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut w = XmlWriter::new();
        w.start("Autodiscover")
            .attr("xmlns", namespaces::POX_REQUEST)
            .open();
        w.start("Request").open();
        w.leaf("EMailAddress", &self.email_address);
        w.leaf("AcceptableResponseSchema", &self.acceptable_response_schema);
        w.end("Request");
        w.end("Autodiscover");
        w.finish()
    }

    /// Reads a request.
    pub fn from_xml(bytes: &[u8]) -> Result<Self, ProtoError> {
        let mut r = XmlReader::new(bytes)?;
        let root = expect_root(&mut r)?;
        let mut email = None;
        let mut schema = None;
        while let Some(child) = r.child(&root)? {
            if child.local() != "Request" {
                r.skip(&child)?;
                continue;
            }
            while let Some(field) = r.child(&child)? {
                match field.local() {
                    "EMailAddress" => email = Some(r.trimmed(&field)?),
                    "AcceptableResponseSchema" => schema = Some(r.trimmed(&field)?),
                    _ => r.skip(&field)?,
                }
            }
        }
        r.finish()?;
        Ok(Self {
            email_address: email.ok_or(ProtoError::Missing {
                parent: "Request",
                missing: "EMailAddress",
            })?,
            acceptable_response_schema: schema.unwrap_or_default(),
        })
    }
}

/// `Response/User`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PoxUser {
    /// `DisplayName`.
    pub display_name: Option<String>,
    /// `LegacyDN`.
    pub legacy_dn: Option<String>,
    /// `AutoDiscoverSMTPAddress`: the mailbox's primary address.
    pub autodiscover_smtp_address: Option<String>,
    /// `DeploymentId`.
    pub deployment_id: Option<String>,
}

/// `OWAUrl` inside `Internal` or `External`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PoxWebUrl {
    /// `AuthenticationMethod` attribute.
    pub authentication_method: Option<String>,
    /// The URL.
    pub url: String,
}

/// `Internal` or `External` of a `WEB` protocol block.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PoxWebEndpoints {
    /// `OWAUrl` elements.
    pub owa_urls: Vec<PoxWebUrl>,
    /// Nested `Protocol` blocks (their own `Internal` / `External` are not read).
    pub protocols: Vec<PoxProtocol>,
}

/// One `Protocol` block: its `Type` and every simple setting in document order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PoxProtocol {
    /// `Type`.
    pub protocol_type: Option<ProtocolType>,
    /// Every other simple element (`Server`, `EwsUrl`, `ASUrl`, `EcpUrl-um`, ...) as
    /// (name, text), in document order.
    pub settings: Vec<(String, String)>,
    /// `Internal` (WEB).
    pub internal: Option<PoxWebEndpoints>,
    /// `External` (WEB).
    pub external: Option<PoxWebEndpoints>,
}

impl PoxProtocol {
    /// A block of this type with these settings.
    pub fn new(protocol_type: ProtocolType, settings: &[(&str, &str)]) -> Self {
        Self {
            protocol_type: Some(protocol_type),
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            internal: None,
            external: None,
        }
    }

    /// The first setting named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `EwsUrl`, else `ASUrl` (the same endpoint in Exchange 2007 and later).
    pub fn ews_url(&self) -> Option<&str> {
        self.get("EwsUrl").or_else(|| self.get("ASUrl"))
    }

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("Protocol").open();
        if let Some(t) = &self.protocol_type {
            w.leaf("Type", t.as_str());
        }
        for (name, value) in &self.settings {
            w.leaf(name, value);
        }
        for (name, endpoints) in [("Internal", &self.internal), ("External", &self.external)] {
            let Some(endpoints) = endpoints else { continue };
            w.start(name).open();
            for owa in &endpoints.owa_urls {
                w.start("OWAUrl")
                    .attr_opt("AuthenticationMethod", owa.authentication_method.as_deref())
                    .text(&owa.url);
            }
            for protocol in &endpoints.protocols {
                protocol.write_xml(w);
            }
            w.end(name);
        }
        w.end("Protocol");
    }

    fn read_xml(
        r: &mut XmlReader<'_>,
        element: &Element<'_>,
        nested: bool,
    ) -> Result<Self, ProtoError> {
        let mut out = Self::default();
        while let Some(child) = r.child(element)? {
            match child.local() {
                "Type" => out.protocol_type = Some(ProtocolType::parse(&r.trimmed_str(&child)?)),
                "Internal" | "External" if !nested => {
                    let endpoints = read_endpoints(r, &child)?;
                    if child.local() == "Internal" {
                        out.internal = Some(endpoints);
                    } else {
                        out.external = Some(endpoints);
                    }
                }
                "Internal" | "External" => r.skip(&child)?,
                _ => {
                    let name = child.name()?;
                    let value = r.trimmed(&child)?;
                    out.settings.push((name, value));
                }
            }
        }
        Ok(out)
    }
}

fn read_endpoints(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<PoxWebEndpoints, ProtoError> {
    let mut out = PoxWebEndpoints::default();
    while let Some(child) = r.child(element)? {
        match child.local() {
            "OWAUrl" => {
                let authentication_method = child.attr("AuthenticationMethod")?;
                let url = r.trimmed(&child)?;
                out.owa_urls.push(PoxWebUrl {
                    authentication_method,
                    url,
                });
            }
            "Protocol" => out.protocols.push(PoxProtocol::read_xml(r, &child, true)?),
            _ => r.skip(&child)?,
        }
    }
    Ok(out)
}

/// `Response/Account`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PoxAccount {
    /// `AccountType` (`email`).
    pub account_type: Option<String>,
    /// `Action`.
    pub action: Option<PoxAction>,
    /// `MicrosoftOnline`, as sent (`True` / `False`).
    pub microsoft_online: Option<String>,
    /// `RedirectAddr`, with `redirectAddr`.
    pub redirect_addr: Option<String>,
    /// `RedirectUrl`, with `redirectUrl` (`RedirectURL` is read too).
    pub redirect_url: Option<String>,
    /// `Protocol` blocks.
    pub protocols: Vec<PoxProtocol>,
}

/// `Response/Error`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PoxError {
    /// `Time` attribute.
    pub time: Option<String>,
    /// `Id` attribute.
    pub id: Option<String>,
    /// `ErrorCode` (600 invalid request, 601 provider unavailable, 602 address unknown, 603
    /// server error).
    pub error_code: String,
    /// `Message`.
    pub message: Option<String>,
    /// `DebugData`.
    pub debug_data: Option<String>,
}

/// The POX Autodiscover response.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PoxResponse {
    /// `User`.
    pub user: Option<PoxUser>,
    /// `Account`.
    pub account: Option<PoxAccount>,
    /// `Error`.
    pub error: Option<PoxError>,
}

impl PoxResponse {
    /// A `settings` response with these protocol blocks.
    pub fn settings(user: PoxUser, protocols: Vec<PoxProtocol>) -> Self {
        Self {
            user: Some(user),
            account: Some(PoxAccount {
                account_type: Some("email".to_owned()),
                action: Some(PoxAction::Settings),
                protocols,
                ..PoxAccount::default()
            }),
            error: None,
        }
    }

    /// A `redirectAddr` response.
    pub fn redirect_addr(address: impl Into<String>) -> Self {
        Self {
            account: Some(PoxAccount {
                action: Some(PoxAction::RedirectAddr),
                redirect_addr: Some(address.into()),
                ..PoxAccount::default()
            }),
            ..Self::default()
        }
    }

    /// A `redirectUrl` response.
    pub fn redirect_url(url: impl Into<String>) -> Self {
        Self {
            account: Some(PoxAccount {
                action: Some(PoxAction::RedirectUrl),
                redirect_url: Some(url.into()),
                ..PoxAccount::default()
            }),
            ..Self::default()
        }
    }

    /// An error response.
    pub fn error(code: &str, message: &str) -> Self {
        Self {
            error: Some(PoxError {
                error_code: code.to_owned(),
                message: Some(message.to_owned()),
                ..PoxError::default()
            }),
            ..Self::default()
        }
    }

    /// The first protocol block of this type.
    pub fn protocol(&self, protocol_type: &ProtocolType) -> Option<&PoxProtocol> {
        self.account
            .as_ref()?
            .protocols
            .iter()
            .find(|p| p.protocol_type.as_ref() == Some(protocol_type))
    }

    /// The external EWS URL: `EXPR`'s, else `EXCH`'s.
    pub fn external_ews_url(&self) -> Option<&str> {
        self.protocol(&ProtocolType::Expr)
            .and_then(PoxProtocol::ews_url)
            .or_else(|| self.internal_ews_url())
    }

    /// The internal EWS URL: `EXCH`'s.
    pub fn internal_ews_url(&self) -> Option<&str> {
        self.protocol(&ProtocolType::Exch)
            .and_then(PoxProtocol::ews_url)
    }

    /// Writes the response as Exchange does.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut w = XmlWriter::new();
        w.start("Autodiscover")
            .attr("xmlns", namespaces::POX_RESPONSE)
            .open();
        if let Some(error) = &self.error {
            w.start("Response").open();
            w.start("Error")
                .attr_opt("Time", error.time.as_deref())
                .attr_opt("Id", error.id.as_deref())
                .open();
            w.leaf("ErrorCode", &error.error_code);
            w.leaf_opt("Message", error.message.as_deref());
            w.leaf_opt("DebugData", error.debug_data.as_deref());
            w.end("Error");
        } else {
            w.start("Response")
                .attr("xmlns", namespaces::POX_OUTLOOK_RESPONSE)
                .open();
        }
        if let Some(user) = &self.user {
            w.start("User").open();
            w.leaf_opt("DisplayName", user.display_name.as_deref());
            w.leaf_opt("LegacyDN", user.legacy_dn.as_deref());
            w.leaf_opt(
                "AutoDiscoverSMTPAddress",
                user.autodiscover_smtp_address.as_deref(),
            );
            w.leaf_opt("DeploymentId", user.deployment_id.as_deref());
            w.end("User");
        }
        if let Some(account) = &self.account {
            w.start("Account").open();
            w.leaf_opt("AccountType", account.account_type.as_deref());
            w.leaf_opt("Action", account.action.as_ref().map(PoxAction::as_str));
            w.leaf_opt("MicrosoftOnline", account.microsoft_online.as_deref());
            w.leaf_opt("RedirectAddr", account.redirect_addr.as_deref());
            w.leaf_opt("RedirectUrl", account.redirect_url.as_deref());
            for protocol in &account.protocols {
                protocol.write_xml(&mut w);
            }
            w.end("Account");
        }
        w.end("Response");
        w.end("Autodiscover");
        w.finish()
    }

    /// Reads a response.
    pub fn from_xml(bytes: &[u8]) -> Result<Self, ProtoError> {
        let mut r = XmlReader::new(bytes)?;
        let root = expect_root(&mut r)?;
        let mut out = Self::default();
        let mut has_response = false;
        while let Some(child) = r.child(&root)? {
            if child.local() != "Response" {
                r.skip(&child)?;
                continue;
            }
            has_response = true;
            while let Some(part) = r.child(&child)? {
                match part.local() {
                    "User" => out.user = Some(read_user(&mut r, &part)?),
                    "Account" => out.account = Some(read_account(&mut r, &part)?),
                    "Error" => out.error = Some(read_error(&mut r, &part)?),
                    _ => r.skip(&part)?,
                }
            }
        }
        r.finish()?;
        if !has_response {
            return Err(ProtoError::Missing {
                parent: "Autodiscover",
                missing: "Response",
            });
        }
        Ok(out)
    }
}

fn expect_root<'a>(r: &mut XmlReader<'a>) -> Result<Element<'a>, ProtoError> {
    let root = r.root()?;
    if root.local() != "Autodiscover" || !matches!(root.ns(), Ns::Pox | Ns::Other) {
        return Err(ProtoError::UnexpectedElement {
            expected: "Autodiscover",
            found: root.local().to_owned(),
        });
    }
    Ok(root)
}

fn read_user(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<PoxUser, ProtoError> {
    let mut user = PoxUser::default();
    while let Some(child) = r.child(element)? {
        let slot = match child.local() {
            "DisplayName" => &mut user.display_name,
            "LegacyDN" => &mut user.legacy_dn,
            "AutoDiscoverSMTPAddress" => &mut user.autodiscover_smtp_address,
            "DeploymentId" => &mut user.deployment_id,
            _ => {
                r.skip(&child)?;
                continue;
            }
        };
        *slot = Some(r.trimmed(&child)?);
    }
    Ok(user)
}

fn read_account(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<PoxAccount, ProtoError> {
    let mut account = PoxAccount::default();
    while let Some(child) = r.child(element)? {
        match child.local() {
            "AccountType" => account.account_type = Some(r.trimmed(&child)?),
            "Action" => account.action = Some(PoxAction::parse(&r.trimmed_str(&child)?)),
            "MicrosoftOnline" => account.microsoft_online = Some(r.trimmed(&child)?),
            "RedirectAddr" => account.redirect_addr = Some(r.trimmed(&child)?),
            "RedirectUrl" | "RedirectURL" => account.redirect_url = Some(r.trimmed(&child)?),
            "Protocol" => account
                .protocols
                .push(PoxProtocol::read_xml(r, &child, false)?),
            _ => r.skip(&child)?,
        }
    }
    Ok(account)
}

fn read_error(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<PoxError, ProtoError> {
    let mut error = PoxError {
        time: element.attr("Time")?,
        id: element.attr("Id")?,
        ..PoxError::default()
    };
    while let Some(child) = r.child(element)? {
        match child.local() {
            "ErrorCode" => error.error_code = r.trimmed(&child)?,
            "Message" => error.message = Some(r.text(&child)?),
            "DebugData" => error.debug_data = Some(r.text(&child)?),
            _ => r.skip(&child)?,
        }
    }
    Ok(error)
}
