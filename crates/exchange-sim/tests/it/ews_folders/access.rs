//! Delegate access (FullAccess and folder permissions) and a service account without a
//! mailbox, as Exchange documents them.

use ews_proto::operations::{Subscribe, SubscribeResponse};
use ews_proto::{BaseFolderId, EventType, ResponseCode};
use exchange_sim::FolderKind;

use super::*;

#[tokio::test]
async fn delegate_access_with_full_access_reaches_the_mailbox_and_without_it_does_not() {
    let sim = support::start_with(delegating()).await;
    let sadie_inbox = all_folders(&sim, SADIE).await[&FolderKind::Inbox]
        .id
        .clone();
    // Mara, signed in as herself, holds FullAccess on Sadie's mailbox.
    let mara = as_user(&sim, SADIE, MARA_LOGON);
    let answer = mara
        .post(envelope(
            "",
            &get_folder("Default", &distinguished("inbox", Some(SADIE))),
        ))
        .await;
    let message = messages(&answer).remove(0);
    assert_eq!(message.code, "NoError");
    assert_eq!(message.folders[0].id, sadie_inbox);
    let by_id = format!(
        "<t:FolderId Id=\"{}\"/>",
        sadie_inbox.clone().unwrap_or_default()
    );
    let answer = mara.post(envelope("", &get_folder("IdOnly", &by_id))).await;
    assert_eq!(messages(&answer)[0].code, "NoError");
    let answer = mara
        .post(envelope(
            "",
            &find_folder("Shallow", "", &distinguished("msgfolderroot", Some(SADIE))),
        ))
        .await;
    assert_eq!(
        messages(&answer)[0].folders.len(),
        FolderKind::MsgFolderRoot.children().count()
    );
    // Sadie holds nothing on Mara's mailbox: not found, as Exchange answers delegates.
    let sadie = as_user(&sim, MARA, SADIE_LOGON);
    let answer = sadie
        .post(envelope(
            "",
            &get_folder("Default", &distinguished("inbox", Some(MARA))),
        ))
        .await;
    assert_eq!(messages(&answer)[0].code, "ErrorFolderNotFound");
    // Impersonation rights are not delegate rights: the service account with
    // ApplicationImpersonation gets nothing by naming a mailbox without the header.
    let svc = Ews::new(&sim, MARA);
    let answer = svc
        .post(envelope(
            "",
            &get_folder("Default", &distinguished("inbox", Some(MARA))),
        ))
        .await;
    assert_eq!(messages(&answer)[0].code, "ErrorFolderNotFound");
    let answer = sadie
        .post(envelope(
            "",
            &get_folder(
                "Default",
                &distinguished("inbox", Some("nobody@contoso.com")),
            ),
        ))
        .await;
    assert_eq!(messages(&answer)[0].code, "ErrorNonExistentMailbox");
    // Subscriptions are the owner's: delegate access is refused, by name or by id.
    let by_name = BaseFolderId::Distinguished {
        id: ews_proto::DistinguishedFolder::Inbox,
        change_key: None,
        mailbox: Some(ews_proto::EmailAddress::smtp(SADIE)),
    };
    let by_id = BaseFolderId::Folder(ews_proto::FolderId::new(sadie_inbox.unwrap_or_default()));
    for folder in [by_name, by_id] {
        let request = Subscribe::pull(vec![folder], vec![EventType::NewMail], 10, None);
        let body = ews_proto::soap::write_envelope(
            &ews_proto::soap::SoapHeader::request(ews_proto::soap::ExchangeVersion::Exchange2013),
            &request,
        );
        let answer = mara.post(body).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let parsed = ews_proto::soap::read_envelope::<SubscribeResponse>(&answer.body);
        let status = parsed.expect("parses").body.into_first().expect("m").status;
        assert_eq!(
            status.code,
            ResponseCode::ErrorSubscriptionDelegateAccessNotSupported
        );
    }
}

#[tokio::test]
async fn a_service_account_without_a_mailbox_must_name_one() {
    let sim = support::start_with(delegating()).await;
    let plain = as_user(&sim, SADIE, PLAIN);
    let answer = plain
        .post(envelope(
            "",
            &get_folder("Default", &distinguished("inbox", None)),
        ))
        .await;
    let message = messages(&answer).remove(0);
    assert_eq!(
        (message.class.as_str(), message.code.as_str()),
        ("Error", "ErrorMissingEmailAddress")
    );
    let answer = plain
        .post(envelope(
            "",
            &get_folder("Default", &distinguished("inbox", Some(SADIE))),
        ))
        .await;
    assert_eq!(messages(&answer)[0].code, "NoError", "FullAccess on Sadie");
    let answer = plain
        .post(envelope(
            "",
            &get_folder("Default", &distinguished("inbox", Some(MARA))),
        ))
        .await;
    assert_eq!(
        messages(&answer)[0].code,
        "ErrorFolderNotFound",
        "nothing on Mara"
    );
    // The account with impersonation rights and no mailbox acts as the impersonated owner.
    let svc = Ews::new(&sim, MARA);
    let answer = svc
        .post(envelope(
            &impersonating(MARA),
            &get_folder("Default", &distinguished("inbox", None)),
        ))
        .await;
    assert_eq!(messages(&answer)[0].code, "NoError");
    let answer = svc
        .post(envelope(
            &impersonating(MARA),
            &get_folder("Default", &distinguished("inbox", Some(MARA))),
        ))
        .await;
    assert_eq!(
        messages(&answer)[0].code,
        "NoError",
        "impersonating, the owner's own mailbox"
    );
}

#[tokio::test]
async fn a_delegate_with_folder_permissions_reaches_those_folders_only() {
    let sim = support::start_with(delegating()).await;
    let sadie = as_user(&sim, ALFRED, SADIE_LOGON);
    let get = |name: &str| {
        envelope(
            "",
            &get_folder("Default", &distinguished(name, Some(ALFRED))),
        )
    };
    let codes = [
        ("inbox", "NoError"),
        ("contacts", "NoError"),
        ("calendar", "ErrorFolderNotFound"),
        ("root", "ErrorFolderNotFound"),
    ];
    for (name, code) in codes {
        assert_eq!(
            messages(&sadie.post(get(name)).await)[0].code,
            code,
            "{name}"
        );
    }
    let shallow = |name: &str| {
        envelope(
            "",
            &find_folder("Shallow", "", &distinguished(name, Some(ALFRED))),
        )
    };
    let contacts = messages(&sadie.post(shallow("contacts")).await).remove(0);
    let names: Vec<_> = contacts
        .folders
        .iter()
        .filter_map(|f| f.name.clone())
        .collect();
    assert_eq!(names, ["Recipient Cache"], "only the subfolders granted");
    let top = messages(&sadie.post(shallow("msgfolderroot")).await).remove(0);
    assert_eq!(top.code, "ErrorFolderNotFound");
}

#[tokio::test]
async fn a_service_account_without_a_mailbox_cannot_subscribe_without_impersonation() {
    let sim = support::start_with(delegating()).await;
    let plain = as_user(&sim, SADIE, PLAIN);
    let cases = [
        (
            BaseFolderId::inbox(),
            ResponseCode::ErrorMissingEmailAddress,
        ),
        (
            BaseFolderId::Distinguished {
                id: ews_proto::DistinguishedFolder::Inbox,
                change_key: None,
                mailbox: Some(ews_proto::EmailAddress::smtp(SADIE)),
            },
            ResponseCode::ErrorSubscriptionDelegateAccessNotSupported,
        ),
    ];
    for (folder, code) in cases {
        let request = Subscribe::pull(vec![folder], vec![EventType::NewMail], 10, None);
        let body = ews_proto::soap::write_envelope(
            &ews_proto::soap::SoapHeader::request(ews_proto::soap::ExchangeVersion::Exchange2013),
            &request,
        );
        let answer = plain.post(body).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let parsed = ews_proto::soap::read_envelope::<SubscribeResponse>(&answer.body);
        let status = parsed.expect("parses").body.into_first().expect("m").status;
        assert_eq!(status.code, code);
    }
}
