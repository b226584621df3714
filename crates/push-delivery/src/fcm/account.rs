//! The Google service-account JSON file: who signs, with which key, and where to exchange the
//! assertion.
//!
//! <https://developers.google.com/identity/protocols/oauth2/service-account#jwt-auth>

use serde::Deserialize;

use crate::{Error, SecretString};

/// The fields of a service-account key file this crate uses.
#[derive(Deserialize)]
pub(crate) struct ServiceAccount {
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    pub(crate) project_id: String,
    pub(crate) client_email: String,
    #[serde(default)]
    pub(crate) private_key_id: Option<String>,
    pub(crate) private_key: SecretString,
    #[serde(default = "default_token_uri")]
    pub(crate) token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &self.private_key)
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

impl ServiceAccount {
    pub(crate) fn parse(json: &str) -> Result<Self, Error> {
        // serde_json's message names the field and position, never the value.
        let account: Self =
            serde_json::from_str(json).map_err(|e| Error::config("service_account_json", e))?;
        if let Some(kind) = &account.kind
            && kind != "service_account"
        {
            return Err(Error::config(
                "service_account_json",
                format!("\"type\" is {kind:?}, not \"service_account\""),
            ));
        }
        if account.project_id.is_empty() || account.client_email.is_empty() {
            return Err(Error::config(
                "service_account_json",
                "project_id and client_email are required",
            ));
        }
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let json = r#"{"type":"service_account","project_id":"p","client_email":"a@p.iam.gserviceaccount.com",
            "private_key_id":"k1","private_key":"-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n"}"#;
        let account = ServiceAccount::parse(json).unwrap();
        assert_eq!(account.token_uri, "https://oauth2.googleapis.com/token");
        let debug = format!("{account:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(debug.contains("a@p.iam"));
    }

    #[test]
    fn refuses_other_files() {
        let err = ServiceAccount::parse(r#"{"type":"authorized_user"}"#).unwrap_err();
        assert!(err.to_string().contains("service_account_json"));
        let err = ServiceAccount::parse("{").unwrap_err();
        assert!(err.to_string().contains("service_account_json"));
        let json = r#"{"type":"authorized_user","project_id":"p","client_email":"e","private_key":"SECRET"}"#;
        let err = ServiceAccount::parse(json).unwrap_err();
        assert!(!err.to_string().contains("SECRET"));
    }
}
