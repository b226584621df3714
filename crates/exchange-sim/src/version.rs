//! The build of the simulated Exchange, one per profile. One server has one version: EWS's
//! `ServerVersionInfo` header, SOAP Autodiscover's `ServerVersionInfo`, POX Autodiscover's
//! `ServerVersion` and the `CasVersion` / `ExternalEwsVersion` settings all come from this
//! table, so a client that compares them (or picks its EWS schema from Autodiscover) sees one
//! Exchange.
//!
//! Builds: <https://learn.microsoft.com/en-us/exchange/new-features/build-numbers-and-release-dates>.

use crate::scenario::Profile;

/// The version of the simulated Exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) build: u32,
    pub(crate) revision: u32,
    /// EWS `ServerVersionInfo/@Version`: the schema version the server speaks.
    pub(crate) ews_schema: &'static str,
    /// SOAP Autodiscover `ServerVersionInfo/Version` (an `ExchangeVersion` name).
    pub(crate) schema: &'static str,
    /// The `EwsSupportedSchemas` setting.
    pub(crate) supported: &'static str,
}

const SCHEMAS_2013: &str = "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, Exchange2013, Exchange2013_SP1";
const SCHEMAS_2016: &str = "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, \
Exchange2013, Exchange2013_SP1, Exchange2015, Exchange2016";

impl Version {
    /// Exchange 2013 CU23, 2016 CU23, 2019 CU14, and a recent Exchange Online build.
    pub(crate) fn of(profile: Profile) -> Self {
        let (major, minor, build, revision, ews_schema, schema, supported) = match profile {
            Profile::ExchangeOnline => (
                15,
                20,
                8769,
                24,
                "V2018_01_08",
                "Exchange2015",
                SCHEMAS_2016,
            ),
            Profile::Exchange2019 => (15, 2, 1544, 4, "V2017_07_11", "Exchange2015", SCHEMAS_2016),
            Profile::Exchange2016 => (15, 1, 2507, 6, "V2017_07_11", "Exchange2015", SCHEMAS_2016),
            Profile::Exchange2013 => (15, 0, 1497, 2, "V2_23", "Exchange2013_SP1", SCHEMAS_2013),
        };
        Self {
            major,
            minor,
            build,
            revision,
            ews_schema,
            schema,
            supported,
        }
    }

    /// `CasVersion` as Exchange writes it: `15.02.1544.004`.
    pub(crate) fn cas_version(&self) -> String {
        format!(
            "{}.{:02}.{:04}.{:03}",
            self.major, self.minor, self.build, self.revision
        )
    }

    /// POX `ServerVersion`: `0x70000000 | major << 22 | minor << 16 | 0x8000 | build`, in hex.
    pub(crate) fn pox_server_version(&self) -> String {
        let value = 0x7000_0000u32
            | (self.major & 0x3f) << 22
            | (self.minor & 0x3f) << 16
            | 0x8000
            | (self.build & 0x7fff);
        format!("{value:08X}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_version_matches_the_documented_sample() {
        // The POX settings vector: 15.0.516 is 73C08204.
        let v = Version {
            major: 15,
            minor: 0,
            build: 516,
            revision: 0,
            ews_schema: "",
            schema: "",
            supported: "",
        };
        assert_eq!(v.pox_server_version(), "73C08204");
        let exchange_2019 = Version::of(Profile::Exchange2019);
        assert_eq!(exchange_2019.pox_server_version(), "73C28608");
        assert_eq!(exchange_2019.cas_version(), "15.02.1544.004");
    }
}
