//! `notify`, through its public API.

use bems_service::notify::*;
use bems_store::model::TenantId;

#[test]
fn collapse_ids_are_per_mailbox_and_short() {
    let contoso = TenantId::new("contoso").unwrap();
    let a = collapse_id(&contoso, "Mara@contoso.com");
    assert_eq!(a, collapse_id(&contoso, "mara@contoso.com"));
    assert_ne!(a, collapse_id(&contoso, "sadie@contoso.com"));
    assert_ne!(
        a,
        collapse_id(&TenantId::new("fabrikam").unwrap(), "mara@contoso.com")
    );
    assert!(a.len() <= 64 && !a.contains("mara"));
}

#[test]
fn text_is_localized_and_counts() {
    assert_eq!(text("de-CH", 1).0, "Neue E-Mail");
    assert_eq!(text("fr", 3).1, "Vous avez 3 nouveaux messages");
    assert_eq!(
        text("xx", 2),
        ("New mail".into(), "You have 2 new messages".into())
    );
    assert_eq!(text("en_GB", 0).1, "You have a new message");
}
