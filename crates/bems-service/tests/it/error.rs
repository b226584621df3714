//! Start errors name the setting, the file and the tenant.

use bems_service::error::StartError;
use bems_store::model::TenantId;

#[test]
fn errors_name_the_setting_the_file_and_the_tenant() {
    let read = StartError::Read {
        field: "push.apns.key_file",
        path: "/etc/bems/AuthKey.p8".into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    };
    assert_eq!(
        read.to_string(),
        "push.apns.key_file: cannot read /etc/bems/AuthKey.p8: entity not found"
    );
    let tenant = TenantId::new("contoso").unwrap_or_else(|e| panic!("{e}"));
    let nested = StartError::part("autodiscover", "no DNS server").of_tenant(&tenant, "connection");
    assert_eq!(
        nested.to_string(),
        "tenant contoso: connection: autodiscover: no DNS server"
    );
    assert!(std::error::Error::source(&nested).is_some());
}
