//! Integration tests of every authentication method against exchange-sim's identity platform
//! and EWS, over TLS on loopback.

mod basic_and_certificates;
mod concurrency;
mod modern;
mod ntlm;
mod ntlm_acceptor;
mod ntlm_connection;
mod passive;
mod secrets;
mod support;
