//! TLS to PostgreSQL, against the throwaway cluster of `scripts/postgres/start.sh` (`ssl = on`,
//! a certificate for 127.0.0.1 and localhost by a CA of its own): `BEMS_POSTGRES_TLS_URL`
//! (`sslmode=require`) and `BEMS_POSTGRES_CA` (the CA's PEM file). Without them the tests are
//! skipped with a note, unless `BEMS_REQUIRE_SERVICES=1`.

use bems_store::conformance::scratch::{Scratch, admin_client, scratch};
use bems_store::{PostgresOptions, PostgresStore, StoreError, TenantStore};

use super::{contoso, key};

/// The server's password in the URLs: never to be shown.
const PASSWORD: &str = "Bems-Postgres-Pa55";

/// A scratch database reached over TLS.
struct TlsScratch {
    /// Its URL with `sslmode=require`.
    url: String,
    /// Its URL without TLS (`BEMS_POSTGRES_URL`'s, `sslmode=disable`).
    plain_url: String,
    /// The PEM of the CA of the server's certificate.
    ca_pem: String,
    _scratch: Scratch,
}

/// A scratch database and its TLS URL; `None` (with a note naming `test`) when TLS is not
/// asked for, or a panic when it is required (`BEMS_REQUIRE_SERVICES=1`) and missing.
async fn tls_scratch(test: &str) -> Option<TlsScratch> {
    let (Ok(tls_url), Ok(ca)) = (
        std::env::var("BEMS_POSTGRES_TLS_URL"),
        std::env::var("BEMS_POSTGRES_CA"),
    ) else {
        if std::env::var("BEMS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!(
                "BEMS_REQUIRE_SERVICES=1 but BEMS_POSTGRES_TLS_URL or BEMS_POSTGRES_CA is not \
                 set: run eval \"$(scripts/postgres/start.sh)\" first"
            );
        }
        eprintln!(
            "note: {test} SKIPPED: BEMS_POSTGRES_TLS_URL/BEMS_POSTGRES_CA are not set (see \
             scripts/postgres/start.sh)"
        );
        return None;
    };
    let ca_pem = std::fs::read_to_string(&ca)
        .unwrap_or_else(|e| panic!("BEMS_POSTGRES_CA={ca} cannot be read: {e}"));
    let (plain_url, scratch) = scratch(test).await?;
    let database = database_of(&plain_url);
    let url = with_database(&tls_url, database);
    Some(TlsScratch {
        url,
        plain_url,
        ca_pem,
        _scratch: scratch,
    })
}

/// The database a `postgres://` URL names.
fn database_of(url: &str) -> &str {
    let path = url.split_once("://").unwrap().1.split_once('/').unwrap().1;
    path.split_once('?').map_or(path, |(database, _)| database)
}

/// `url` naming `database`.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let query = path.split_once('?').map(|(_, q)| q);
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// Whether the connections to `database` speak TLS, by `application_name` prefix:
/// (the pool's, the listening connection's) counts of (with TLS, without).
async fn tls_of_connections(plain_url: &str, database: &str) -> Vec<(String, bool)> {
    let client = admin_client(plain_url).await;
    let rows = client
        .query(
            "SELECT coalesce(a.application_name, ''), s.ssl FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.pid <> pg_backend_pid() \
             ORDER BY 1, 2",
            &[&database],
        )
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

/// The error of a connection expected to fail, checked not to show the password.
fn refused(result: Result<PostgresStore, StoreError>) -> String {
    let error = match result {
        Ok(store) => panic!("connected though it should not: {store:?}"),
        Err(error) => error,
    };
    assert!(
        matches!(error, StoreError::Connect { .. }),
        "a Connect error: {error:?}"
    );
    let shown = format!("{error} / {error:?}");
    assert!(!shown.contains(PASSWORD), "the password is shown: {shown}");
    eprintln!("refused as expected: {error}");
    error.to_string()
}

#[tokio::test]
async fn require_with_the_ca_encrypts_the_pool_and_the_listener() {
    let Some(db) = tls_scratch("postgres::tls::require_with_the_ca").await else {
        return;
    };
    let options = PostgresOptions::default().trusting(db.ca_pem.clone());
    let store = PostgresStore::connect_with(&db.url, key(), options)
        .await
        .unwrap();
    store
        .put_tenant(&contoso(), "{\"tls\":true}")
        .await
        .unwrap();
    assert_eq!(
        store.tenant(&contoso()).await.unwrap().as_deref(),
        Some("{\"tls\":true}")
    );
    let connections = tls_of_connections(&db.plain_url, database_of(&db.url)).await;
    assert!(
        connections.contains(&("bems-store tenant changes".to_owned(), true)),
        "the listening connection speaks TLS: {connections:?}"
    );
    assert!(
        connections.len() >= 2 && connections.iter().all(|(_, ssl)| *ssl),
        "every connection of the store speaks TLS: {connections:?}"
    );
}

#[tokio::test]
async fn a_certificate_of_an_unknown_ca_is_refused() {
    let Some(db) = tls_scratch("postgres::tls::unknown_ca").await else {
        return;
    };
    let error = refused(PostgresStore::connect(&db.url, key()).await);
    assert!(
        error.contains("certificate is not trusted (unknown issuer)"),
        "names the certificate: {error}"
    );
    // `prefer` (the default) does not go on unverified either.
    let prefer = db.url.replace("sslmode=require", "sslmode=prefer");
    let error = refused(PostgresStore::connect(&prefer, key()).await);
    assert!(
        error.contains("certificate is not trusted"),
        "names the certificate: {error}"
    );
    // Another CA does not help.
    let other = PostgresOptions::default().trusting(OTHER_CA);
    let error = refused(PostgresStore::connect_with(&db.url, key(), other).await);
    assert!(
        error.contains("certificate is not trusted"),
        "names the certificate: {error}"
    );
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let Some(db) = tls_scratch("postgres::tls::name_mismatch").await else {
        return;
    };
    // The certificate names 127.0.0.1 and localhost: the same server reached as
    // db.example (its address given apart) does not pass.
    let elsewhere = db
        .url
        .replace("@127.0.0.1:", "@db.example:")
        .replace("sslmode=require", "sslmode=require&hostaddr=127.0.0.1");
    assert_ne!(elsewhere, db.url);
    let options = PostgresOptions::default().trusting(db.ca_pem.clone());
    let error = refused(PostgresStore::connect_with(&elsewhere, key(), options).await);
    assert!(
        error.contains("name mismatch")
            && error.contains("names localhost, 127.0.0.1, not the URL's host db.example"),
        "names the mismatch: {error}"
    );
}

#[tokio::test]
async fn sslmode_disable_stays_plain() {
    let Some(db) = tls_scratch("postgres::tls::disable").await else {
        return;
    };
    let plain = db.url.replace("sslmode=require", "sslmode=disable");
    let store = PostgresStore::connect(&plain, key()).await.unwrap();
    store.put_tenant(&contoso(), "{}").await.unwrap();
    assert_eq!(
        store.tenant(&contoso()).await.unwrap().as_deref(),
        Some("{}")
    );
    let connections = tls_of_connections(&db.plain_url, database_of(&db.url)).await;
    assert!(
        !connections.is_empty() && connections.iter().all(|(_, ssl)| !*ssl),
        "no connection speaks TLS: {connections:?}"
    );
}

#[tokio::test]
async fn a_bad_trusted_ca_is_refused_before_connecting() {
    let Some(db) = tls_scratch("postgres::tls::bad_ca").await else {
        return;
    };
    let options = PostgresOptions::default().trusting("-----BEGIN NOTHING-----");
    let error = refused(PostgresStore::connect_with(&db.url, key(), options).await);
    assert!(
        error.contains("trusted_ca_pem entry 0"),
        "names the entry: {error}"
    );
}

/// A CA that issued nothing the server has (made once with openssl, EC P-256).
const OTHER_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkDCCATegAwIBAgIUOCnfvAFOOTxrxDSblGHrCCLVWpEwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSYmVtcyB0ZXN0IG90aGVyIENBMCAXDTI2MTIwNzExNTE1NloY
DzIxMjYxMTEzMTE1MTU2WjAdMRswGQYDVQQDDBJiZW1zIHRlc3Qgb3RoZXIgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATYIdVUrV/eZxc4PVSabIH4Lpzs73vy
Mi9LUG9RG6P60GaC2IwDSKj4nWV4Mw4tsTLX064Be9Qm/Rx/m++zmoiHo1MwUTAd
BgNVHQ4EFgQUUlT8qx1HRn9nEnMkPNsCXgVuRB0wHwYDVR0jBBgwFoAUUlT8qx1H
Rn9nEnMkPNsCXgVuRB0wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBE
AiA/SDlJqPg3kzq8GG2XIQ3NVEt8/S0vJCzvzcyqZvBH1QIgZnbN4EfBEnaZCSw9
pHqccIOfOXBeeOu7i6VrD19MwoM=
-----END CERTIFICATE-----
";
