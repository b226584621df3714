//! SOAP Autodiscover: `GetUserSettings` at `/autodiscover/autodiscover.svc`.
//!
//! Spec: [GetUserSettings operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getusersettings-operation-soap).

use crate::error::ProtoError;
use crate::namespaces::{self, Ns};
use crate::soap::SoapFault;
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

const ACTION: &str =
    "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings";
const RESPONSE_ACTION: &str =
    "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse";

wire_enum! {
    /// An Autodiscover error code ([`ErrorCode`]), at response, user and setting level.
    ///
    /// [`ErrorCode`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/errorcode-soap
    #[allow(missing_docs)]
    pub enum AutodiscoverErrorCode default NoError {
        NoError = "NoError",
        RedirectAddress = "RedirectAddress",
        RedirectUrl = "RedirectUrl",
        InvalidUser = "InvalidUser",
        InvalidRequest = "InvalidRequest",
        InvalidSetting = "InvalidSetting",
        SettingIsNotAvailable = "SettingIsNotAvailable",
        ServerBusy = "ServerBusy",
        InvalidDomain = "InvalidDomain",
        NotFederated = "NotFederated",
        InternalServerError = "InternalServerError",
    }
}

/// The `GetUserSettings` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct GetUserSettingsRequest {
    /// `RequestedServerVersion` header (`Exchange2013`).
    pub requested_server_version: Option<String>,
    /// `wsa:To` header: the URL the request is sent to.
    pub to: Option<String>,
    /// `Users/User/Mailbox`.
    pub mailboxes: Vec<String>,
    /// `RequestedSettings/Setting` (`ExternalEwsUrl`, `GroupingInformation`, ...).
    pub settings: Vec<String>,
}

impl GetUserSettingsRequest {
    /// A request for `settings` of one mailbox, sent to `to`.
    pub fn new(mailbox: impl Into<String>, settings: &[&str], to: impl Into<String>) -> Self {
        Self {
            requested_server_version: Some("Exchange2013".to_owned()),
            to: Some(to.into()),
            mailboxes: vec![mailbox.into()],
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Writes the request envelope.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut w = XmlWriter::new();
        w.start("soap:Envelope")
            .attr("xmlns:a", namespaces::AUTODISCOVER)
            .attr("xmlns:wsa", namespaces::ADDRESSING)
            .attr("xmlns:xsi", namespaces::XSI)
            .attr("xmlns:soap", namespaces::SOAP)
            .open();
        w.start("soap:Header").open();
        w.leaf_opt(
            "a:RequestedServerVersion",
            self.requested_server_version.as_deref(),
        );
        w.leaf("wsa:Action", ACTION);
        w.leaf_opt("wsa:To", self.to.as_deref());
        w.end("soap:Header");
        w.start("soap:Body").open();
        w.start("a:GetUserSettingsRequestMessage").open();
        w.start("a:Request").open();
        w.start("a:Users").open();
        for mailbox in &self.mailboxes {
            w.start("a:User").open();
            w.leaf("a:Mailbox", mailbox);
            w.end("a:User");
        }
        w.end("a:Users");
        w.start("a:RequestedSettings").open();
        for setting in &self.settings {
            w.leaf("a:Setting", setting);
        }
        w.end("a:RequestedSettings");
        w.end("a:Request");
        w.end("a:GetUserSettingsRequestMessage");
        w.end("soap:Body");
        w.end("soap:Envelope");
        w.finish()
    }

    /// Reads a request envelope.
    pub fn from_xml(bytes: &[u8]) -> Result<Self, ProtoError> {
        let mut out = Self::default();
        read_autodiscover_envelope(
            bytes,
            "GetUserSettingsRequestMessage",
            &mut out,
            |out, r, header| {
                match header.local() {
                    "RequestedServerVersion" => {
                        out.requested_server_version = Some(r.trimmed(header)?)
                    }
                    "To" => out.to = Some(r.trimmed(header)?),
                    _ => r.skip(header)?,
                }
                Ok(())
            },
            |out, r, message| {
                while let Some(request) = r.child(message)? {
                    if request.local() != "Request" {
                        r.skip(&request)?;
                        continue;
                    }
                    while let Some(part) = r.child(&request)? {
                        match part.local() {
                            "Users" => {
                                while let Some(user) = r.child(&part)? {
                                    while let Some(field) = r.child(&user)? {
                                        if field.local() == "Mailbox" {
                                            out.mailboxes.push(r.trimmed(&field)?);
                                        } else {
                                            r.skip(&field)?;
                                        }
                                    }
                                }
                            }
                            "RequestedSettings" => {
                                while let Some(setting) = r.child(&part)? {
                                    out.settings.push(r.trimmed(&setting)?);
                                }
                            }
                            _ => r.skip(&part)?,
                        }
                    }
                }
                Ok(())
            },
        )?;
        if out.mailboxes.is_empty() {
            return Err(ProtoError::Missing {
                parent: "Users",
                missing: "User/Mailbox",
            });
        }
        Ok(out)
    }
}

/// `ServerVersionInfo` of a SOAP Autodiscover response (child elements, not attributes).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct AutodiscoverServerVersion {
    /// `MajorVersion`.
    pub major_version: Option<u32>,
    /// `MinorVersion`.
    pub minor_version: Option<u32>,
    /// `MajorBuildNumber`.
    pub major_build_number: Option<u32>,
    /// `MinorBuildNumber`.
    pub minor_build_number: Option<u32>,
    /// `Version` (`Exchange2013`).
    pub version: Option<String>,
}

/// A `UserSetting`: its name and, for `StringSetting`, its value.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct UserSetting {
    /// `Name`.
    pub name: String,
    /// `i:type` (`StringSetting`, `WebClientUrlCollectionSetting`, ...).
    pub setting_type: Option<String>,
    /// `Value`, for string settings.
    pub value: Option<String>,
}

impl UserSetting {
    /// A `StringSetting`.
    pub fn string(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            setting_type: Some("StringSetting".to_owned()),
            value: Some(value.to_owned()),
        }
    }
}

/// A `UserSettingError`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct UserSettingError {
    /// `ErrorCode`.
    pub error_code: AutodiscoverErrorCode,
    /// `ErrorMessage`.
    pub error_message: Option<String>,
    /// `SettingName`.
    pub setting_name: String,
}

/// A `UserResponse`: the answer for one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct UserResponse {
    /// `ErrorCode` (`RedirectAddress` and `RedirectUrl` restart discovery).
    pub error_code: AutodiscoverErrorCode,
    /// `ErrorMessage`.
    pub error_message: Option<String>,
    /// `RedirectTarget`: the address or URL of a redirect.
    pub redirect_target: Option<String>,
    /// `UserSettingErrors`.
    pub setting_errors: Vec<UserSettingError>,
    /// `UserSettings`.
    pub settings: Vec<UserSetting>,
}

impl UserResponse {
    /// A successful response with these settings.
    pub fn settings(settings: Vec<UserSetting>) -> Self {
        Self {
            error_message: Some("No error.".to_owned()),
            settings,
            ..Self::default()
        }
    }

    /// A redirect (`RedirectAddress` or `RedirectUrl`) to `target`.
    pub fn redirect(code: AutodiscoverErrorCode, target: impl Into<String>) -> Self {
        let message = match code {
            AutodiscoverErrorCode::RedirectUrl => "Redirection URL.",
            _ => "Redirection address.",
        };
        Self {
            error_code: code,
            error_message: Some(message.to_owned()),
            redirect_target: Some(target.into()),
            ..Self::default()
        }
    }

    /// The value of the string setting `name`.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.value.as_deref())
    }

    /// `ExternalEwsUrl`.
    pub fn external_ews_url(&self) -> Option<&str> {
        self.setting("ExternalEwsUrl")
    }

    /// `InternalEwsUrl`.
    pub fn internal_ews_url(&self) -> Option<&str> {
        self.setting("InternalEwsUrl")
    }

    /// `GroupingInformation`: mailboxes with equal values share a streaming connection.
    pub fn grouping_information(&self) -> Option<&str> {
        self.setting("GroupingInformation")
    }
}

/// The `GetUserSettings` response.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct GetUserSettingsResponse {
    /// `ServerVersionInfo` header.
    pub server_version: Option<AutodiscoverServerVersion>,
    /// Response-level `ErrorCode`.
    pub error_code: AutodiscoverErrorCode,
    /// Response-level `ErrorMessage`.
    pub error_message: Option<String>,
    /// `UserResponses`.
    pub user_responses: Vec<UserResponse>,
}

impl GetUserSettingsResponse {
    /// A response with one user response.
    pub fn single(user: UserResponse) -> Self {
        Self {
            user_responses: vec![user],
            ..Self::default()
        }
    }

    /// Writes the response envelope.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut w = XmlWriter::new();
        w.start("s:Envelope")
            .attr("xmlns:s", namespaces::SOAP)
            .attr("xmlns:a", namespaces::ADDRESSING)
            .open();
        w.start("s:Header").open();
        w.start("a:Action")
            .attr("s:mustUnderstand", "1")
            .text(RESPONSE_ACTION);
        if let Some(version) = &self.server_version {
            w.start("h:ServerVersionInfo")
                .attr("xmlns:h", namespaces::AUTODISCOVER)
                .attr("xmlns:i", namespaces::XSI)
                .open();
            for (name, value) in [
                ("h:MajorVersion", version.major_version),
                ("h:MinorVersion", version.minor_version),
                ("h:MajorBuildNumber", version.major_build_number),
                ("h:MinorBuildNumber", version.minor_build_number),
            ] {
                if let Some(value) = value {
                    w.leaf(name, &value.to_string());
                }
            }
            w.leaf_opt("h:Version", version.version.as_deref());
            w.end("h:ServerVersionInfo");
        }
        w.end("s:Header");
        w.start("s:Body").open();
        w.start("GetUserSettingsResponseMessage")
            .attr("xmlns", namespaces::AUTODISCOVER)
            .open();
        w.start("Response").attr("xmlns:i", namespaces::XSI).open();
        w.leaf("ErrorCode", self.error_code.as_str());
        write_optional_text(&mut w, "ErrorMessage", self.error_message.as_deref());
        w.start("UserResponses").open();
        for user in &self.user_responses {
            w.start("UserResponse").open();
            w.leaf("ErrorCode", user.error_code.as_str());
            write_optional_text(&mut w, "ErrorMessage", user.error_message.as_deref());
            match &user.redirect_target {
                Some(target) => w.leaf("RedirectTarget", target),
                None => w.start("RedirectTarget").attr("i:nil", "true").empty(),
            }
            w.start("UserSettingErrors").open();
            for error in &user.setting_errors {
                w.start("UserSettingError").open();
                w.leaf("ErrorCode", error.error_code.as_str());
                write_optional_text(&mut w, "ErrorMessage", error.error_message.as_deref());
                w.leaf("SettingName", &error.setting_name);
                w.end("UserSettingError");
            }
            w.end("UserSettingErrors");
            w.start("UserSettings").open();
            for setting in &user.settings {
                w.start("UserSetting")
                    .attr_opt("i:type", setting.setting_type.as_deref())
                    .open();
                w.leaf("Name", &setting.name);
                w.leaf_opt("Value", setting.value.as_deref());
                w.end("UserSetting");
            }
            w.end("UserSettings");
            w.end("UserResponse");
        }
        w.end("UserResponses");
        w.end("Response");
        w.end("GetUserSettingsResponseMessage");
        w.end("s:Body");
        w.end("s:Envelope");
        w.finish()
    }

    /// Reads a response envelope; a SOAP fault reads as [`ProtoError::Fault`].
    pub fn from_xml(bytes: &[u8]) -> Result<Self, ProtoError> {
        let mut state = (Self::default(), false);
        read_autodiscover_envelope(
            bytes,
            "GetUserSettingsResponseMessage",
            &mut state,
            |(out, _), r, header| {
                if header.local() == "ServerVersionInfo" {
                    out.server_version = Some(read_server_version(r, header)?);
                } else {
                    r.skip(header)?;
                }
                Ok(())
            },
            |(out, has_response), r, message| {
                while let Some(response) = r.child(message)? {
                    if response.local() != "Response" {
                        r.skip(&response)?;
                        continue;
                    }
                    *has_response = true;
                    while let Some(part) = r.child(&response)? {
                        match part.local() {
                            "ErrorCode" => {
                                out.error_code =
                                    AutodiscoverErrorCode::parse(&r.trimmed_str(&part)?)
                            }
                            "ErrorMessage" => out.error_message = optional_text(r, &part)?,
                            "UserResponses" => {
                                while let Some(user) = r.child(&part)? {
                                    if user.local() == "UserResponse" {
                                        out.user_responses.push(read_user_response(r, &user)?);
                                    } else {
                                        r.skip(&user)?;
                                    }
                                }
                            }
                            _ => r.skip(&part)?,
                        }
                    }
                }
                Ok(())
            },
        )?;
        let (out, has_response) = state;
        if !has_response {
            return Err(ProtoError::Missing {
                parent: "GetUserSettingsResponseMessage",
                missing: "Response",
            });
        }
        Ok(out)
    }
}

/// Writes `<name>text</name>`, or `<name/>` when there is no text (as Exchange does).
fn write_optional_text(w: &mut XmlWriter, name: &str, text: Option<&str>) {
    match text {
        Some(text) if !text.is_empty() => w.leaf(name, text),
        _ => w.start(name).empty(),
    }
}

/// Reads text that may be empty or nil: both read as `None`.
fn optional_text(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<Option<String>, ProtoError> {
    let nil = element.is_nil()?;
    let text = r.text(element)?;
    Ok(if nil || text.is_empty() {
        None
    } else {
        Some(text)
    })
}

fn read_user_response(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<UserResponse, ProtoError> {
    let mut user = UserResponse::default();
    while let Some(part) = r.child(element)? {
        match part.local() {
            "ErrorCode" => user.error_code = AutodiscoverErrorCode::parse(&r.trimmed_str(&part)?),
            "ErrorMessage" => user.error_message = optional_text(r, &part)?,
            "RedirectTarget" => {
                user.redirect_target = optional_text(r, &part)?.map(|t| t.trim().to_owned())
            }
            "UserSettingErrors" => {
                while let Some(error) = r.child(&part)? {
                    let mut out = UserSettingError::default();
                    while let Some(field) = r.child(&error)? {
                        match field.local() {
                            "ErrorCode" => {
                                out.error_code =
                                    AutodiscoverErrorCode::parse(&r.trimmed_str(&field)?)
                            }
                            "ErrorMessage" => out.error_message = optional_text(r, &field)?,
                            "SettingName" => out.setting_name = r.trimmed(&field)?,
                            _ => r.skip(&field)?,
                        }
                    }
                    user.setting_errors.push(out);
                }
            }
            "UserSettings" => {
                while let Some(setting) = r.child(&part)? {
                    let mut out = UserSetting {
                        setting_type: setting.attr("type")?.map(|t| {
                            t.rsplit_once(':')
                                .map_or(t.clone(), |(_, local)| local.to_owned())
                        }),
                        ..UserSetting::default()
                    };
                    while let Some(field) = r.child(&setting)? {
                        match field.local() {
                            "Name" => out.name = r.trimmed(&field)?,
                            "Value" => out.value = Some(r.text(&field)?),
                            _ => r.skip(&field)?,
                        }
                    }
                    user.settings.push(out);
                }
            }
            _ => r.skip(&part)?,
        }
    }
    Ok(user)
}

fn read_server_version(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<AutodiscoverServerVersion, ProtoError> {
    let mut out = AutodiscoverServerVersion::default();
    while let Some(field) = r.child(element)? {
        let slot = match field.local() {
            "MajorVersion" => &mut out.major_version,
            "MinorVersion" => &mut out.minor_version,
            "MajorBuildNumber" => &mut out.major_build_number,
            "MinorBuildNumber" => &mut out.minor_build_number,
            "Version" => {
                out.version = Some(r.trimmed(&field)?);
                continue;
            }
            _ => {
                r.skip(&field)?;
                continue;
            }
        };
        *slot = Some(r.parse(&field, "ServerVersionInfo", "expected a number")?);
    }
    Ok(out)
}

/// Walks a SOAP Autodiscover envelope: `on_header` sees each header block, `on_body` the body
/// element named `body_name`. A fault body reads as [`ProtoError::Fault`].
fn read_autodiscover_envelope<'a, S>(
    bytes: &'a [u8],
    body_name: &'static str,
    state: &mut S,
    mut on_header: impl FnMut(&mut S, &mut XmlReader<'a>, &Element<'a>) -> Result<(), ProtoError>,
    mut on_body: impl FnMut(&mut S, &mut XmlReader<'a>, &Element<'a>) -> Result<(), ProtoError>,
) -> Result<(), ProtoError> {
    let mut r = XmlReader::new(bytes)?;
    let root = r.root()?;
    if root.local() != "Envelope" || root.ns() != Ns::Soap {
        return Err(ProtoError::UnexpectedElement {
            expected: "Envelope",
            found: root.local().to_owned(),
        });
    }
    let mut has_body = false;
    while let Some(child) = r.child(&root)? {
        match child.local() {
            "Header" => {
                while let Some(header) = r.child(&child)? {
                    on_header(state, &mut r, &header)?;
                }
            }
            "Body" => {
                while let Some(body) = r.child(&child)? {
                    if body.local() == "Fault" {
                        let fault = SoapFault::read_xml(&mut r, &body)?;
                        return Err(ProtoError::Fault(Box::new(fault)));
                    }
                    if body.local() != body_name {
                        return Err(ProtoError::UnexpectedElement {
                            expected: body_name,
                            found: body.local().to_owned(),
                        });
                    }
                    has_body = true;
                    on_body(state, &mut r, &body)?;
                }
            }
            _ => r.skip(&child)?,
        }
    }
    r.finish()?;
    if !has_body {
        return Err(ProtoError::Missing {
            parent: "Body",
            missing: body_name,
        });
    }
    Ok(())
}
