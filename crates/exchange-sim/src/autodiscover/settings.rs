//! The `GetUserSettings` catalogue: which settings the simulator answers, which are valid
//! names it has no value for (`SettingIsNotAvailable`), and which are not settings at all
//! (`InvalidSetting`).
//!
//! Valid names are those of `UserSettingName` in the EWS Managed API
//! (`Enumerations/UserSettingName.cs`), which mirrors the server's list.

use super::facts::Facts;

/// What the simulator knows about one requested setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The setting's value.
    Value(String),
    /// A valid setting this simulated Exchange has no value for.
    NotAvailable,
    /// Not a setting name.
    Invalid,
}

/// Every setting name Exchange knows.
const VALID: &[&str] = &[
    "UserDisplayName",
    "UserDN",
    "UserDeploymentId",
    "InternalMailboxServer",
    "InternalRpcClientServer",
    "InternalMailboxServerDN",
    "InternalEcpUrl",
    "InternalEcpVoicemailUrl",
    "InternalEcpEmailSubscriptionsUrl",
    "InternalEcpTextMessagingUrl",
    "InternalEcpDeliveryReportUrl",
    "InternalEcpRetentionPolicyTagsUrl",
    "InternalEcpPublishingUrl",
    "InternalEcpPhotoUrl",
    "InternalEcpConnectUrl",
    "InternalEcpTeamMailboxUrl",
    "InternalEcpTeamMailboxCreatingUrl",
    "InternalEcpTeamMailboxEditingUrl",
    "InternalEcpTeamMailboxHidingUrl",
    "InternalEcpExtensionInstallationUrl",
    "InternalEwsUrl",
    "InternalEmwsUrl",
    "InternalOABUrl",
    "InternalPhotosUrl",
    "InternalUMUrl",
    "InternalWebClientUrls",
    "MailboxDN",
    "PublicFolderServer",
    "ActiveDirectoryServer",
    "ExternalMailboxServer",
    "ExternalMailboxServerRequiresSSL",
    "ExternalMailboxServerAuthenticationMethods",
    "EcpVoicemailUrlFragment",
    "EcpEmailSubscriptionsUrlFragment",
    "EcpTextMessagingUrlFragment",
    "EcpDeliveryReportUrlFragment",
    "EcpRetentionPolicyTagsUrlFragment",
    "EcpPublishingUrlFragment",
    "EcpPhotoUrlFragment",
    "EcpConnectUrlFragment",
    "EcpTeamMailboxUrlFragment",
    "EcpTeamMailboxCreatingUrlFragment",
    "EcpTeamMailboxEditingUrlFragment",
    "EcpExtensionInstallationUrlFragment",
    "ExternalEcpUrl",
    "ExternalEcpVoicemailUrl",
    "ExternalEcpEmailSubscriptionsUrl",
    "ExternalEcpTextMessagingUrl",
    "ExternalEcpDeliveryReportUrl",
    "ExternalEcpRetentionPolicyTagsUrl",
    "ExternalEcpPublishingUrl",
    "ExternalEcpPhotoUrl",
    "ExternalEcpConnectUrl",
    "ExternalEcpTeamMailboxUrl",
    "ExternalEcpTeamMailboxCreatingUrl",
    "ExternalEcpTeamMailboxEditingUrl",
    "ExternalEcpTeamMailboxHidingUrl",
    "ExternalEcpExtensionInstallationUrl",
    "ExternalEwsUrl",
    "ExternalEmwsUrl",
    "ExternalOABUrl",
    "ExternalPhotosUrl",
    "ExternalUMUrl",
    "ExternalWebClientUrls",
    "CrossOrganizationSharingEnabled",
    "AlternateMailboxes",
    "CasVersion",
    "EwsSupportedSchemas",
    "InternalPop3Connections",
    "ExternalPop3Connections",
    "InternalImap4Connections",
    "ExternalImap4Connections",
    "InternalSmtpConnections",
    "ExternalSmtpConnections",
    "InternalServerExclusiveConnect",
    "ExternalEwsVersion",
    "MobileMailboxPolicy",
    "DocumentSharingLocations",
    "UserMSOnline",
    "InternalMailboxServerAuthenticationMethods",
    "MailboxVersion",
    "SPMySiteHostURL",
    "SiteMailboxCreationURL",
    "InternalRpcHttpServer",
    "InternalRpcHttpConnectivityRequiresSsl",
    "InternalRpcHttpAuthenticationMethod",
    "ExternalServerExclusiveConnect",
    "ExchangeRpcUrl",
    "ShowGalAsDefaultView",
    "AutoDiscoverSMTPAddress",
    "InteropExternalEwsUrl",
    "InteropExternalEwsVersion",
    "PublicFolderInformation",
    "RedirectUrl",
    "EwsPartnerUrl",
    "CertPrincipalName",
    "GroupingInformation",
];

/// The value of setting `name` for a mailbox. Names match exactly, as Exchange's
/// (case-sensitive) enumeration parsing does.
pub(crate) fn lookup(facts: &Facts, name: &str) -> Lookup {
    let value = match name {
        "UserDisplayName" => facts.display_name.clone(),
        "UserDN" => facts.legacy_dn.clone(),
        "UserDeploymentId" => facts.deployment_id.clone(),
        "AutoDiscoverSMTPAddress" => facts.smtp.clone(),
        "InternalMailboxServer" => super::incoming::host_without_port(&facts.internal_host),
        "InternalMailboxServerDN" => facts.server_dn.clone(),
        "MailboxDN" => facts.mdb_dn.clone(),
        "ActiveDirectoryServer" => facts.active_directory_server.clone(),
        "ExternalMailboxServer" | "PublicFolderServer" => {
            super::incoming::host_without_port(&facts.external_host)
        }
        "ExternalMailboxServerRequiresSSL" => "True".to_owned(),
        "InternalEwsUrl" => facts.internal_ews_url.clone(),
        "ExternalEwsUrl" => facts.external_ews_url.clone(),
        "InternalOABUrl" => Facts::oab_url(&facts.internal_host),
        "ExternalOABUrl" => Facts::oab_url(&facts.external_host),
        "InternalEcpUrl" => Facts::ecp_url(&facts.internal_host),
        "ExternalEcpUrl" => Facts::ecp_url(&facts.external_host),
        "EcpDeliveryReportUrlFragment" => {
            "PersonalSettings/DeliveryReport.aspx?exsvurl=1&IsOWA=<IsOWA>&MsgID=<MsgID>&Mbx=<Mbx>"
                .to_owned()
        }
        "EcpTextMessagingUrlFragment" => "?p=sms/textmessaging.slab&exsvurl=1".to_owned(),
        "EcpPublishingUrlFragment" => {
            "customize/calendarpublishing.slab?exsvurl=1&FldID=<FldID>".to_owned()
        }
        "CasVersion" | "ExternalEwsVersion" => facts.version.cas_version(),
        "EwsSupportedSchemas" => facts.version.supported.to_owned(),
        "UserMSOnline" => if facts.microsoft_online {
            "True"
        } else {
            "False"
        }
        .to_owned(),
        "GroupingInformation" => facts.grouping_information.clone(),
        other if VALID.contains(&other) => return Lookup::NotAvailable,
        _ => return Lookup::Invalid,
    };
    Lookup::Value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiscover::facts::Version;
    use crate::scenario::Profile;

    fn facts() -> Facts {
        Facts {
            smtp: "mara@contoso.com".into(),
            domain: "contoso.com".into(),
            display_name: "Mara Whitley".into(),
            legacy_dn: "/o=x/cn=Recipients/cn=mara".into(),
            deployment_id: "d".into(),
            mailbox_server: "g@contoso.com".into(),
            server_dn: "sdn".into(),
            mdb_dn: "mdn".into(),
            internal_host: "internal.mail.contoso.com:8443".into(),
            external_host: "mail.contoso.com:8443".into(),
            internal_ews_url: "https://internal.mail.contoso.com:8443/EWS/Exchange.asmx".into(),
            external_ews_url: "https://mail.contoso.com:8443/EWS/Exchange.asmx".into(),
            active_directory_server: "dc.contoso.com".into(),
            grouping_information: "CONTOSO-1".into(),
            microsoft_online: false,
            version: Version::of(Profile::Exchange2019),
        }
    }

    #[test]
    fn known_settings_have_values() {
        let f = facts();
        assert_eq!(
            lookup(&f, "UserDisplayName"),
            Lookup::Value("Mara Whitley".into())
        );
        assert_eq!(
            lookup(&f, "GroupingInformation"),
            Lookup::Value("CONTOSO-1".into())
        );
        assert_eq!(
            lookup(&f, "ExternalMailboxServer"),
            Lookup::Value("mail.contoso.com".into())
        );
        assert_eq!(
            lookup(&f, "CasVersion"),
            Lookup::Value("15.02.1544.004".into())
        );
    }

    #[test]
    fn valid_names_without_values_are_not_available_and_others_invalid() {
        let f = facts();
        assert_eq!(lookup(&f, "AlternateMailboxes"), Lookup::NotAvailable);
        assert_eq!(lookup(&f, "NoSuchSetting"), Lookup::Invalid);
        assert_eq!(lookup(&f, "externalewsurl"), Lookup::Invalid);
        assert!(VALID.iter().all(|name| lookup(&f, name) != Lookup::Invalid));
    }
}
