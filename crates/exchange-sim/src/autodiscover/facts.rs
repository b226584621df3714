//! What Autodiscover says about a mailbox, shared by the POX and SOAP answers: names, legacy
//! DNs, GUIDs, URLs, grouping and the version of the simulated Exchange.
//!
//! GUIDs and DNs are derived from the scenario (SHA-1 of a fixed seed), so they are stable
//! across runs. `GroupingInformation` is read from the mailbox's current server, so it follows
//! [`Sim::move_mailbox`](crate::Sim::move_mailbox).

use sha1::{Digest as _, Sha1};

use crate::scenario::Profile;
use crate::sim::Ctx;
pub(crate) use crate::version::Version;

/// The organisation part of every legacy DN.
const ORG: &str = "/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)";

/// Everything Autodiscover answers about one mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub(crate) smtp: String,
    /// The mail domain, lower-cased.
    pub(crate) domain: String,
    pub(crate) display_name: String,
    pub(crate) legacy_dn: String,
    pub(crate) deployment_id: String,
    /// `<mailbox guid>@<domain>`, the `Server` of Exchange 2013 and later.
    pub(crate) mailbox_server: String,
    pub(crate) server_dn: String,
    pub(crate) mdb_dn: String,
    pub(crate) internal_host: String,
    pub(crate) external_host: String,
    pub(crate) internal_ews_url: String,
    pub(crate) external_ews_url: String,
    pub(crate) active_directory_server: String,
    pub(crate) grouping_information: String,
    pub(crate) microsoft_online: bool,
    pub(crate) version: Version,
}

impl Facts {
    /// The facts of the mailbox with this address, if it exists.
    pub(crate) fn for_address(ctx: &Ctx, address: &str) -> Option<Self> {
        let world = &ctx.world;
        let index = world.directory.user_by_smtp(address)?;
        let user = world.directory.users.get(index)?;
        let (local, domain_name) = user.smtp.rsplit_once('@')?;
        let domain = world
            .scenario
            .domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(domain_name))?;
        let domain_name = domain.name.to_ascii_lowercase();
        let mailbox_guid = guid(&format!("mailbox:{}", user.smtp.to_ascii_lowercase()));
        let mailbox_server = format!("{mailbox_guid}@{domain_name}");
        let server_dn = format!("{ORG}/cn=Configuration/cn=Servers/cn={mailbox_server}");
        let recipient =
            guid(&format!("recipient:{}", user.smtp.to_ascii_lowercase())).replace('-', "");
        let display_name = if user.display_name.is_empty() {
            local.to_owned()
        } else {
            user.display_name.clone()
        };
        Some(Self {
            smtp: user.smtp.clone(),
            domain: domain_name.clone(),
            display_name,
            legacy_dn: format!("{ORG}/cn=Recipients/cn={recipient}-{local}"),
            deployment_id: deployment_id(ctx),
            mdb_dn: format!("{server_dn}/cn=Microsoft Private MDB"),
            server_dn,
            mailbox_server,
            internal_host: world.authority(&domain.internal_host()),
            external_host: world.authority(&domain.external_host()),
            internal_ews_url: world.internal_ews_url(index),
            external_ews_url: world.external_ews_url(index),
            active_directory_server: format!("dc.{domain_name}"),
            grouping_information: world.grouping_information(index),
            microsoft_online: world.scenario.profile == Profile::ExchangeOnline,
            version: Version::of(world.scenario.profile),
        })
    }

    /// The OWA URL on `host` (an authority from this struct).
    pub(crate) fn owa_url(host: &str) -> String {
        format!("https://{host}/owa/")
    }

    /// The ECP URL on `host`.
    pub(crate) fn ecp_url(host: &str) -> String {
        format!("https://{host}/ecp/")
    }

    /// The OAB URL on `host`.
    pub(crate) fn oab_url(host: &str) -> String {
        format!("https://{host}/OAB/{}/", guid("oab"))
    }
}

/// The organisation's deployment id: one GUID per simulated organisation.
pub(crate) fn deployment_id(ctx: &Ctx) -> String {
    guid(&format!("deployment:{}", ctx.world.scenario.tenant))
}

/// A stable name-based GUID (SHA-1, version 5 layout) for `seed`.
pub(crate) fn guid(seed: &str) -> String {
    let digest = Sha1::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_stable_and_well_formed() {
        let a = guid("mailbox:mara@contoso.com");
        assert_eq!(a, guid("mailbox:mara@contoso.com"));
        assert_ne!(a, guid("mailbox:sadie@contoso.com"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'5');
        assert!(a.split('-').map(str::len).eq([8, 4, 4, 4, 12]));
    }
}
