//! `ResolveNames`: look up people in the directory and contacts (Directory Lookup).
//!
//! Spec: [ResolveNames operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/resolvenames-operation).

use super::{Operation, messages_action, response_messages, status_accessors};
use crate::error::ProtoError;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus};
use crate::types::EmailAddress;
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

wire_enum! {
    /// Where to search ([`ResolveNamesSearchScopeType`]).
    ///
    /// [`ResolveNamesSearchScopeType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/resolvenames
    pub enum SearchScope {
        /// The directory only.
        ActiveDirectory = "ActiveDirectory",
        /// The directory, then contacts.
        ActiveDirectoryContacts = "ActiveDirectoryContacts",
        /// Contacts only.
        Contacts = "Contacts",
        /// Contacts, then the directory.
        ContactsActiveDirectory = "ContactsActiveDirectory",
    }
}

/// The `ResolveNames` request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ResolveNames {
    /// `UnresolvedEntry`: the text to resolve (a name or address prefix).
    pub unresolved_entry: String,
    /// `ReturnFullContactData` attribute: include directory contact data.
    pub return_full_contact_data: bool,
    /// `SearchScope` attribute.
    pub search_scope: Option<SearchScope>,
    /// `ContactDataShape` attribute (`IdOnly`, `Default`, `AllProperties`).
    pub contact_data_shape: Option<String>,
}

impl ResolveNames {
    /// Resolve `entry` in the directory with full contact data.
    pub fn directory(entry: impl Into<String>) -> Self {
        Self {
            unresolved_entry: entry.into(),
            return_full_contact_data: true,
            search_scope: Some(SearchScope::ActiveDirectory),
            contact_data_shape: None,
        }
    }
}

impl Operation for ResolveNames {
    type Response = ResolveNamesResponse;
    const NAME: &'static str = "ResolveNames";
    const SOAP_ACTION: &'static str = messages_action!("ResolveNames");
}

impl Body for ResolveNames {
    const ELEMENT: &'static str = "ResolveNames";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:ResolveNames")
            .attr(
                "ReturnFullContactData",
                if self.return_full_contact_data {
                    "true"
                } else {
                    "false"
                },
            )
            .attr_opt(
                "SearchScope",
                self.search_scope.as_ref().map(SearchScope::as_str),
            )
            .attr_opt("ContactDataShape", self.contact_data_shape.as_deref())
            .open();
        w.leaf("m:UnresolvedEntry", &self.unresolved_entry);
        w.end("m:ResolveNames");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let full = element
            .attr("ReturnFullContactData")?
            .ok_or(ProtoError::Missing {
                parent: "ResolveNames",
                missing: "ReturnFullContactData attribute",
            })?;
        let return_full_contact_data = crate::xml::parse_bool(&full).ok_or_else(|| {
            ProtoError::invalid("ReturnFullContactData", &full, "expected true or false")
        })?;
        let search_scope = element.attr("SearchScope")?.map(|s| SearchScope::parse(&s));
        let contact_data_shape = element.attr("ContactDataShape")?;
        let mut entry = None;
        while let Some(child) = r.child(element)? {
            if child.local() == "UnresolvedEntry" {
                entry = Some(r.text(&child)?);
            } else {
                r.skip(&child)?;
            }
        }
        Ok(Self {
            unresolved_entry: entry.ok_or(ProtoError::Missing {
                parent: "ResolveNames",
                missing: "UnresolvedEntry",
            })?,
            return_full_contact_data,
            search_scope,
            contact_data_shape,
        })
    }
}

/// One `EmailAddresses/Entry` of a contact.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ContactEmail {
    /// `Key` attribute (`EmailAddress1` ...).
    pub key: String,
    /// The address, as sent (`SMTP:` prefixes are kept).
    pub address: String,
}

/// Directory contact data of a resolution ([`Contact`]).
///
/// [`Contact`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/contact
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Contact {
    /// `DisplayName`.
    pub display_name: Option<String>,
    /// `GivenName`.
    pub given_name: Option<String>,
    /// `Surname`.
    pub surname: Option<String>,
    /// `JobTitle`.
    pub job_title: Option<String>,
    /// `Department`.
    pub department: Option<String>,
    /// `CompanyName`.
    pub company_name: Option<String>,
    /// `EmailAddresses`.
    pub email_addresses: Vec<ContactEmail>,
    /// `HasPicture` (Exchange 2010 and later).
    pub has_picture: Option<bool>,
}

impl Contact {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("t:Contact").open();
        w.leaf_opt("t:DisplayName", self.display_name.as_deref());
        w.leaf_opt("t:GivenName", self.given_name.as_deref());
        w.leaf_opt("t:CompanyName", self.company_name.as_deref());
        if !self.email_addresses.is_empty() {
            w.start("t:EmailAddresses").open();
            for email in &self.email_addresses {
                w.start("t:Entry")
                    .attr("Key", &email.key)
                    .text(&email.address);
            }
            w.end("t:EmailAddresses");
        }
        w.leaf_opt("t:Department", self.department.as_deref());
        w.leaf_opt("t:JobTitle", self.job_title.as_deref());
        w.leaf_opt("t:Surname", self.surname.as_deref());
        if let Some(has_picture) = self.has_picture {
            w.leaf("t:HasPicture", if has_picture { "true" } else { "false" });
        }
        w.end("t:Contact");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut out = Self::default();
        while let Some(child) = r.child(element)? {
            let slot = match child.local() {
                "DisplayName" => &mut out.display_name,
                "GivenName" => &mut out.given_name,
                "Surname" => &mut out.surname,
                "JobTitle" => &mut out.job_title,
                "Department" => &mut out.department,
                "CompanyName" => &mut out.company_name,
                "HasPicture" => {
                    out.has_picture = Some(r.boolean(&child, "HasPicture")?);
                    continue;
                }
                "EmailAddresses" => {
                    while let Some(entry) = r.child(&child)? {
                        let key = entry.attr("Key")?.unwrap_or_default();
                        let address = r.trimmed(&entry)?;
                        out.email_addresses.push(ContactEmail { key, address });
                    }
                    continue;
                }
                _ => {
                    r.skip(&child)?;
                    continue;
                }
            };
            *slot = Some(r.text(&child)?);
        }
        Ok(out)
    }
}

/// One match ([`Resolution`]): the mailbox and, when asked for, its contact data.
///
/// [`Resolution`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/resolution
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Resolution {
    /// `Mailbox`.
    pub mailbox: EmailAddress,
    /// `Contact`.
    pub contact: Option<Contact>,
}

impl Resolution {
    /// A resolution of this mailbox with contact data.
    pub fn new(mailbox: EmailAddress, contact: Option<Contact>) -> Self {
        Self { mailbox, contact }
    }
}

/// One `ResolveNamesResponseMessage`.
///
/// Several matches come with class `Warning` and `ErrorNameResolutionMultipleResults`; no
/// match is `ErrorNameResolutionNoResults`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ResolveNamesResponseMessage {
    /// Class, code and text.
    pub status: ResponseStatus,
    /// `ResolutionSet/Resolution`.
    pub resolutions: Vec<Resolution>,
    /// `ResolutionSet/@TotalItemsInView`.
    pub total_items_in_view: Option<u32>,
    /// `ResolutionSet/@IncludesLastItemInRange`.
    pub includes_last_item_in_range: Option<bool>,
}

impl MessageFields for ResolveNamesResponseMessage {
    status_accessors!();

    fn write_fields(&self, w: &mut XmlWriter) {
        if self.resolutions.is_empty() && self.total_items_in_view.is_none() {
            return;
        }
        let total = self
            .total_items_in_view
            .unwrap_or(u32::try_from(self.resolutions.len()).unwrap_or(u32::MAX))
            .to_string();
        let last = self.includes_last_item_in_range.unwrap_or(true);
        w.start("m:ResolutionSet")
            .attr("TotalItemsInView", &total)
            .attr(
                "IncludesLastItemInRange",
                if last { "true" } else { "false" },
            )
            .open();
        for resolution in &self.resolutions {
            w.start("t:Resolution").open();
            resolution.mailbox.write_xml(w, "t:Mailbox");
            if let Some(contact) = &resolution.contact {
                contact.write_xml(w);
            }
            w.end("t:Resolution");
        }
        w.end("m:ResolutionSet");
    }

    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        if child.local() != "ResolutionSet" {
            return Ok(false);
        }
        if let Some(total) = child.attr("TotalItemsInView")? {
            self.total_items_in_view = Some(total.trim().parse().map_err(|_| {
                ProtoError::invalid("TotalItemsInView", &total, "expected a count")
            })?);
        }
        if let Some(last) = child.attr("IncludesLastItemInRange")? {
            self.includes_last_item_in_range = crate::xml::parse_bool(&last);
        }
        while let Some(resolution) = r.child(child)? {
            if resolution.local() != "Resolution" {
                r.skip(&resolution)?;
                continue;
            }
            let mut out = Resolution::default();
            while let Some(part) = r.child(&resolution)? {
                match part.local() {
                    "Mailbox" => out.mailbox = EmailAddress::read_xml(r, &part)?,
                    "Contact" => out.contact = Some(Contact::read_xml(r, &part)?),
                    _ => r.skip(&part)?,
                }
            }
            self.resolutions.push(out);
        }
        Ok(true)
    }
}

response_messages! {
    /// The `ResolveNamesResponse`.
    ResolveNamesResponse = "ResolveNamesResponse",
    ResolveNamesResponseMessage = "ResolveNamesResponseMessage"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `services.wsdl`: `<soap:operation soapAction=".../messages/ResolveNames"/>`.
    #[test]
    fn its_soap_action_is_the_one_services_wsdl_binds() {
        assert_eq!(
            ResolveNames::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/ResolveNames"
        );
        assert_eq!(ResolveNames::NAME, "ResolveNames");
    }
}
