//! SOAP Autodiscover (`GetUserSettings`): settings, setting errors, users, redirects, bad
//! envelopes, and `GroupingInformation` following mailbox moves.

use ews_proto::autodiscover::{AutodiscoverErrorCode, GetUserSettingsRequest};
use exchange_sim::scenario::{Host, HostBehaviour};
use reqwest::StatusCode;

use super::{MARA, post, read_settings, settings_as_svc, svc};
use crate::support;

const PATH: &str = "/autodiscover/autodiscover.svc";
const HOST: &str = "autodiscover.contoso.com";

#[tokio::test]
async fn settings_for_a_user() {
    let sim = support::start().await;
    let wanted = [
        "InternalEwsUrl",
        "ExternalEwsUrl",
        "GroupingInformation",
        "UserDisplayName",
        "UserDeploymentId",
        "CasVersion",
        "EwsSupportedSchemas",
        "ExternalMailboxServer",
        "InternalMailboxServer",
        "ActiveDirectoryServer",
        "MailboxDN",
        "UserDN",
    ];
    let response = settings_as_svc(&sim, HOST, &[MARA], &wanted).await;
    assert_eq!(response.error_code, AutodiscoverErrorCode::NoError);
    let version = response.server_version.as_ref().expect("ServerVersionInfo");
    assert_eq!(version.major_version, Some(15));
    assert!(version.version.is_some());

    let user = &response.user_responses[0];
    assert_eq!(user.error_code, AutodiscoverErrorCode::NoError);
    assert!(user.setting_errors.is_empty(), "{:?}", user.setting_errors);
    let names: Vec<&str> = user.settings.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, wanted);
    assert_eq!(
        user.external_ews_url(),
        Some(sim.ews_url(MARA).expect("URL").as_str())
    );
    assert_eq!(
        user.internal_ews_url(),
        Some(sim.internal_ews_url(MARA).expect("URL").as_str())
    );
    assert_eq!(user.grouping_information(), Some("CONTOSO-1"));
    assert_eq!(user.setting("UserDisplayName"), Some("Mara Whitley"));
    assert_eq!(
        user.setting("ExternalMailboxServer"),
        Some("mail.contoso.com")
    );
    assert!(
        user.setting("CasVersion")
            .is_some_and(|v| v.starts_with("15."))
    );
    assert!(
        user.setting("EwsSupportedSchemas")
            .is_some_and(|v| v.contains("Exchange2013"))
    );
    assert!(user.setting("UserDN").is_some_and(|v| v.starts_with("/o=")));
    assert!(
        user.setting("MailboxDN")
            .is_some_and(|v| v.ends_with("/cn=Microsoft Private MDB"))
    );
}

#[tokio::test]
async fn unknown_settings_and_users_get_their_errors() {
    let sim = support::start().await;
    let response = settings_as_svc(
        &sim,
        HOST,
        &[MARA, "nobody@contoso.com", "elvin@fabrikam.com"],
        &["ExternalEwsUrl", "AlternateMailboxes", "NoSuchSetting"],
    )
    .await;
    assert_eq!(response.error_code, AutodiscoverErrorCode::NoError);
    assert_eq!(response.user_responses.len(), 3);

    let mara = &response.user_responses[0];
    assert_eq!(mara.settings.len(), 1);
    let errors: Vec<_> = mara
        .setting_errors
        .iter()
        .map(|e| (e.setting_name.as_str(), e.error_code.clone()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "AlternateMailboxes",
                AutodiscoverErrorCode::SettingIsNotAvailable
            ),
            ("NoSuchSetting", AutodiscoverErrorCode::InvalidSetting),
        ]
    );

    let nobody = &response.user_responses[1];
    assert_eq!(nobody.error_code, AutodiscoverErrorCode::InvalidUser);
    assert!(
        nobody
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("nobody@contoso.com"))
    );
    assert!(nobody.settings.is_empty());

    let elvin = &response.user_responses[2];
    assert_eq!(elvin.error_code, AutodiscoverErrorCode::NoError);
    assert_eq!(
        elvin.external_ews_url(),
        Some(sim.ews_url("elvin@fabrikam.com").expect("URL").as_str())
    );
}

#[tokio::test]
async fn scripted_hosts_answer_redirect_address_and_redirect_url() {
    let mut scenario = support::scenario();
    let target = "https://autodiscover.fabrikam.com/autodiscover/autodiscover.svc";
    for (name, behaviour) in [
        (
            "autodiscover.contoso.com",
            HostBehaviour::RedirectAddr("mara@fabrikam.com".into()),
        ),
        (
            "autodiscover.fabrikam.com",
            HostBehaviour::RedirectUrl(target.into()),
        ),
    ] {
        let mut host = Host::default();
        host.name = name.into();
        host.behaviour = behaviour;
        scenario.hosts.push(host);
    }
    let sim = support::start_with(scenario).await;

    let response = settings_as_svc(
        &sim,
        "autodiscover.contoso.com",
        &[MARA],
        &["ExternalEwsUrl"],
    )
    .await;
    assert_eq!(response.error_code, AutodiscoverErrorCode::NoError);
    let user = &response.user_responses[0];
    assert_eq!(user.error_code, AutodiscoverErrorCode::RedirectAddress);
    assert_eq!(user.redirect_target.as_deref(), Some("mara@fabrikam.com"));
    assert!(user.settings.is_empty());

    let response = settings_as_svc(
        &sim,
        "autodiscover.fabrikam.com",
        &[MARA],
        &["ExternalEwsUrl"],
    )
    .await;
    let user = &response.user_responses[0];
    assert_eq!(user.error_code, AutodiscoverErrorCode::RedirectUrl);
    assert_eq!(user.redirect_target.as_deref(), Some(target));
}

#[tokio::test]
async fn bad_envelopes_get_a_fault_or_invalid_request() {
    let sim = support::start().await;
    for body in [b"not xml".to_vec(), b"<a/>".to_vec(), Vec::new()] {
        let response = post(&sim, HOST, PATH, body, Some(&svc())).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = response.text().await.expect("body");
        assert!(text.contains("Fault") && text.contains("Client"), "{text}");
    }

    // An envelope without users, one asking for no setting, one with too many users.
    let no_users = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
        <GetUserSettingsRequestMessage xmlns="http://schemas.microsoft.com/exchange/2010/Autodiscover">
        <Request><RequestedSettings><Setting>ExternalEwsUrl</Setting></RequestedSettings></Request>
        </GetUserSettingsRequestMessage></s:Body></s:Envelope>"#;
    let no_settings =
        GetUserSettingsRequest::new(MARA, &[], "https://x/autodiscover/autodiscover.svc");
    let mut too_many = GetUserSettingsRequest::new(MARA, &["ExternalEwsUrl"], "https://x");
    too_many.mailboxes = vec![MARA.to_owned(); 101];
    for body in [no_users.to_vec(), no_settings.to_xml(), too_many.to_xml()] {
        let response = read_settings(post(&sim, HOST, PATH, body, Some(&svc())).await).await;
        assert_eq!(response.error_code, AutodiscoverErrorCode::InvalidRequest);
        assert!(response.user_responses.is_empty());
    }

    // GET is not an operation.
    let get = support::client(&sim)
        .get(super::url(&sim, HOST, PATH))
        .header("Authorization", svc())
        .send()
        .await
        .expect("answered");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn grouping_information_follows_a_mailbox_move() {
    let sim = support::start().await;
    let grouping = async |sim: &exchange_sim::Sim| {
        let response = settings_as_svc(sim, HOST, &[MARA], &["GroupingInformation"]).await;
        response.user_responses[0]
            .grouping_information()
            .map(str::to_owned)
    };
    assert_eq!(grouping(&sim).await.as_deref(), Some("CONTOSO-1"));
    sim.move_mailbox(MARA, "mbx2").expect("move");
    assert_eq!(grouping(&sim).await.as_deref(), Some("CONTOSO-2"));
    assert_eq!(
        sim.grouping_information(MARA).expect("grouping"),
        "CONTOSO-2"
    );
}
