//! Authenticate the Exchange service account.
//!
//! This crate will hold Basic, NTLM, client-certificate, OAuth2 (password, client credentials,
//! certificate assertion) and passive (authorization code with PKCE) authentication behind one
//! small object-safe trait, with a token cache that refreshes once however many callers wait.
