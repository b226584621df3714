//! The settings TOML on arbitrary text: the service's file (parsed, then validated) and a
//! tenant's table as the admin API takes it (parsed, checked, then validated in a service's
//! settings the way the admin API does, without reading the files it names). Errors are
//! fine, panics are not.
#![no_main]

use bems_store::model::TenantId;
use bems_settings::{ServiceSettings, tenant_from_admin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(settings) = ServiceSettings::from_toml_str(text) {
        let _ = settings.validate();
    }
    let id = TenantId::new("contoso").expect("a tenant id");
    if let Ok(tenant) = tenant_from_admin(&id, text) {
        assert_eq!(tenant.id, id);
        let mut settings = ServiceSettings::default();
        settings.replace_tenant(tenant);
        let _ = settings.validate();
    }
});
