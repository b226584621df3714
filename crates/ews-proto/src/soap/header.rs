//! SOAP header blocks: `RequestServerVersion`, `ExchangeImpersonation`, `ServerVersionInfo`.

use crate::error::ProtoError;
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

wire_enum! {
    /// The schema version a request asks for ([`RequestServerVersion`]).
    ///
    /// [`RequestServerVersion`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/requestserverversion
    #[allow(missing_docs)]
    pub enum ExchangeVersion {
        Exchange2007 = "Exchange2007",
        Exchange2007Sp1 = "Exchange2007_SP1",
        Exchange2009 = "Exchange2009",
        Exchange2010 = "Exchange2010",
        Exchange2010Sp1 = "Exchange2010_SP1",
        Exchange2010Sp2 = "Exchange2010_SP2",
        Exchange2012 = "Exchange2012",
        Exchange2013 = "Exchange2013",
        Exchange2013Sp1 = "Exchange2013_SP1",
        Exchange2015 = "Exchange2015",
        Exchange2016 = "Exchange2016",
        V2015_10_05 = "V2015_10_05",
        V2016_01_06 = "V2016_01_06",
        V2016_04_13 = "V2016_04_13",
        V2016_07_13 = "V2016_07_13",
        V2016_10_10 = "V2016_10_10",
    }
}

/// The account a request acts as ([`ConnectingSID`]), for `ExchangeImpersonation`.
///
/// [`ConnectingSID`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectingsid
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectingSid {
    /// `PrimarySmtpAddress`: what a service account usually sends.
    PrimarySmtpAddress(String),
    /// `SmtpAddress`: any proxy address of the mailbox.
    SmtpAddress(String),
    /// `PrincipalName`: the user principal name.
    PrincipalName(String),
    /// `SID`: the security identifier in SDDL form.
    Sid(String),
}

impl ConnectingSid {
    fn element(&self) -> (&'static str, &str) {
        match self {
            Self::PrimarySmtpAddress(v) => ("t:PrimarySmtpAddress", v),
            Self::SmtpAddress(v) => ("t:SmtpAddress", v),
            Self::PrincipalName(v) => ("t:PrincipalName", v),
            Self::Sid(v) => ("t:SID", v),
        }
    }

    /// The address, name or SID, whichever kind it is.
    pub fn value(&self) -> &str {
        self.element().1
    }
}

/// The server's version ([`ServerVersionInfo`]), sent in every response header.
///
/// [`ServerVersionInfo`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/serverversioninfo
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerVersionInfo {
    /// `MajorVersion` (15 for Exchange 2013 and later).
    pub major_version: u32,
    /// `MinorVersion`.
    pub minor_version: u32,
    /// `MajorBuildNumber`.
    pub major_build_number: u32,
    /// `MinorBuildNumber`.
    pub minor_build_number: u32,
    /// `Version`, the schema version name (`V2_6`, `V2017_07_11`, ...), when sent.
    pub version: Option<String>,
}

impl ServerVersionInfo {
    /// A version with these four numbers.
    pub fn new(major: u32, minor: u32, major_build: u32, minor_build: u32) -> Self {
        Self {
            major_version: major,
            minor_version: minor,
            major_build_number: major_build,
            minor_build_number: minor_build,
            version: None,
        }
    }
}

/// The SOAP header blocks EWS uses; each is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SoapHeader {
    /// `t:RequestServerVersion`, sent by clients (and by Exchange in push notifications).
    pub request_server_version: Option<ExchangeVersion>,
    /// `t:ExchangeImpersonation/t:ConnectingSID`: the mailbox a service account acts as.
    pub impersonation: Option<ConnectingSid>,
    /// `t:ServerVersionInfo`, sent by Exchange in responses.
    pub server_version_info: Option<ServerVersionInfo>,
}

impl SoapHeader {
    /// A request header asking for this schema version.
    pub fn request(version: ExchangeVersion) -> Self {
        Self {
            request_server_version: Some(version),
            ..Self::default()
        }
    }

    /// A response header carrying the server's version.
    pub fn response(info: ServerVersionInfo) -> Self {
        Self {
            server_version_info: Some(info),
            ..Self::default()
        }
    }

    /// The same header, impersonating `sid`.
    pub fn impersonating(mut self, sid: ConnectingSid) -> Self {
        self.impersonation = Some(sid);
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.request_server_version.is_none()
            && self.impersonation.is_none()
            && self.server_version_info.is_none()
    }

    pub(crate) fn write_xml(&self, w: &mut XmlWriter) {
        if let Some(version) = &self.request_server_version {
            w.start("t:RequestServerVersion")
                .attr("Version", version.as_str())
                .empty();
        }
        if let Some(sid) = &self.impersonation {
            let (name, value) = sid.element();
            w.start("t:ExchangeImpersonation").open();
            w.start("t:ConnectingSID").open();
            w.leaf(name, value);
            w.end("t:ConnectingSID");
            w.end("t:ExchangeImpersonation");
        }
        if let Some(info) = &self.server_version_info {
            w.start("t:ServerVersionInfo")
                .attr("MajorVersion", &info.major_version.to_string())
                .attr("MinorVersion", &info.minor_version.to_string())
                .attr("MajorBuildNumber", &info.major_build_number.to_string())
                .attr("MinorBuildNumber", &info.minor_build_number.to_string())
                .attr_opt("Version", info.version.as_deref())
                .empty();
        }
    }

    pub(crate) fn read_xml(
        r: &mut XmlReader<'_>,
        header: &Element<'_>,
    ) -> Result<Self, ProtoError> {
        let mut out = Self::default();
        while let Some(child) = r.child(header)? {
            match child.local() {
                "RequestServerVersion" => {
                    let version = child.attr("Version")?.ok_or(ProtoError::Missing {
                        parent: "RequestServerVersion",
                        missing: "Version",
                    })?;
                    out.request_server_version = Some(ExchangeVersion::parse(&version));
                    r.skip(&child)?;
                }
                "ExchangeImpersonation" => out.impersonation = read_impersonation(r, &child)?,
                "ServerVersionInfo" => {
                    out.server_version_info = Some(read_server_version(&child)?);
                    r.skip(&child)?;
                }
                _ => r.skip(&child)?,
            }
        }
        Ok(out)
    }
}

fn read_impersonation(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<Option<ConnectingSid>, ProtoError> {
    let mut sid = None;
    while let Some(child) = r.child(element)? {
        if child.local() != "ConnectingSID" {
            r.skip(&child)?;
            continue;
        }
        while let Some(id) = r.child(&child)? {
            let make: fn(String) -> ConnectingSid = match id.local() {
                "PrimarySmtpAddress" => ConnectingSid::PrimarySmtpAddress,
                "SmtpAddress" => ConnectingSid::SmtpAddress,
                "PrincipalName" => ConnectingSid::PrincipalName,
                "SID" => ConnectingSid::Sid,
                _ => {
                    r.skip(&id)?;
                    continue;
                }
            };
            sid = Some(make(r.trimmed(&id)?));
        }
    }
    if sid.is_none() {
        return Err(ProtoError::Missing {
            parent: "ExchangeImpersonation",
            missing: "ConnectingSID",
        });
    }
    Ok(sid)
}

fn read_server_version(element: &Element<'_>) -> Result<ServerVersionInfo, ProtoError> {
    let number = |name: &'static str| -> Result<u32, ProtoError> {
        match element.attr(name)? {
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| ProtoError::invalid(name, &text, "expected a number")),
            None => Ok(0),
        }
    };
    Ok(ServerVersionInfo {
        major_version: number("MajorVersion")?,
        minor_version: number("MinorVersion")?,
        major_build_number: number("MajorBuildNumber")?,
        minor_build_number: number("MinorBuildNumber")?,
        version: element.attr("Version")?,
    })
}
