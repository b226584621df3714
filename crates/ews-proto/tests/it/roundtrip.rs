//! Every request and response type: write, read back, equal.

use std::fmt::Debug;

use ews_proto::autodiscover::*;
use ews_proto::operations::*;
use ews_proto::soap::{
    ConnectingSid, ExchangeVersion, MessageXml, ResponseClass, ResponseStatus, ServerVersionInfo,
    SoapBody, SoapHeader, read_envelope, write_envelope,
};
use ews_proto::*;

fn round_trip<B: SoapBody + PartialEq + Debug>(header: &SoapHeader, body: &B) -> Vec<u8> {
    let bytes = write_envelope(header, body);
    let envelope = read_envelope::<B>(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
    assert_eq!(&envelope.body, body);
    assert_eq!(&envelope.header, header);
    // Byte-stable: the same value writes the same bytes.
    assert_eq!(write_envelope(&envelope.header, &envelope.body), bytes);
    bytes
}

fn client_header() -> SoapHeader {
    SoapHeader::request(ExchangeVersion::Exchange2013)
        .impersonating(ConnectingSid::PrimarySmtpAddress("mara@contoso.com".into()))
}

fn server_header() -> SoapHeader {
    let mut info = ServerVersionInfo::new(15, 2, 1544, 4);
    info.version = Some("V2017_07_11".into());
    SoapHeader::response(info)
}

fn odd_text() -> String {
    // Markup characters, a line break, a carriage return and non-ASCII survive.
    "a<b>&\"c'\r\nd\t— ü".to_owned()
}

#[test]
fn subscribe_all_kinds() {
    let mailbox_inbox = BaseFolderId::Distinguished {
        id: DistinguishedFolder::Inbox,
        change_key: Some("ck".into()),
        mailbox: Some(EmailAddress::smtp("sadie@contoso.com")),
    };
    let requests = [
        Subscribe::streaming(
            vec![BaseFolderId::inbox()],
            EventType::SUBSCRIBABLE.to_vec(),
        ),
        Subscribe::pull(
            vec![
                mailbox_inbox.clone(),
                BaseFolderId::Folder(FolderId::new("AQMk=").with_change_key("AQ==")),
            ],
            vec![EventType::NewMail],
            1440,
            Some(Watermark::new("AAAAAHgGAAAAAAAAAQ==")),
        ),
        Subscribe::push(
            vec![mailbox_inbox],
            vec![EventType::NewMail, EventType::Modified],
            "https://bems.contoso.com/ews/notify?tenant=a&b=<c>",
            30,
            None,
        ),
        {
            let mut all = Subscribe::streaming(Vec::new(), vec![EventType::NewMail]);
            all.subscribe_to_all_folders = true;
            all
        },
        {
            let mut push = Subscribe::push(
                vec![BaseFolderId::inbox()],
                vec![EventType::Created],
                "https://x/",
                1,
                Some(Watermark::new("w")),
            );
            if let SubscriptionKind::Push { caller_data, .. } = &mut push.kind {
                *caller_data = Some(odd_text());
            }
            push
        },
    ];
    for request in &requests {
        round_trip(&client_header(), request);
        round_trip(&SoapHeader::default(), &Request::Subscribe(request.clone()));
    }
}

#[test]
fn impersonation_kinds() {
    for sid in [
        ConnectingSid::PrimarySmtpAddress("a@b.c".into()),
        ConnectingSid::SmtpAddress("alias@b.c".into()),
        ConnectingSid::PrincipalName("a@corp.b.c".into()),
        ConnectingSid::Sid("S-1-5-21-1-2-3-1001".into()),
    ] {
        let header = SoapHeader::request(ExchangeVersion::Exchange2010Sp1).impersonating(sid);
        round_trip(&header, &Unsubscribe::new(SubscriptionId::new("x")));
    }
}

#[test]
fn other_requests() {
    let header = client_header();
    round_trip(
        &header,
        &GetEvents::new(SubscriptionId::new("f6bc"), Watermark::new("AAAA==")),
    );
    round_trip(
        &header,
        &GetStreamingEvents::new(
            (0..200)
                .map(|i| SubscriptionId::new(format!("id-{i}")))
                .collect(),
            30,
        ),
    );
    round_trip(&header, &Unsubscribe::new(SubscriptionId::new("e6fb")));
    let mut get_folder = GetFolder::new(vec![BaseFolderId::inbox()]);
    get_folder
        .additional_properties
        .push("folder:UnreadCount".into());
    round_trip(&header, &get_folder);
    round_trip(&header, &ResolveNames::directory(odd_text()));
    let mut resolve = ResolveNames::directory("smith");
    resolve.return_full_contact_data = false;
    resolve.search_scope = None;
    resolve.contact_data_shape = Some("AllProperties".into());
    round_trip(&header, &resolve);
    round_trip(
        &header,
        &GetUserPhoto::new("mara@contoso.com", UserPhotoSize::HR96x96),
    );
    round_trip(
        &header,
        &SendNotificationResult::new(SubscriptionStatus::Ok),
    );
    round_trip(
        &header,
        &SendNotificationResult::new(SubscriptionStatus::Unsubscribe),
    );
}

fn sample_events() -> Vec<Event> {
    let item = |id: &str| {
        Some(ChangedObject::Item(
            ItemId::new(id).with_change_key("CQAAAA=="),
        ))
    };
    let mut new_mail = Event::new(EventType::NewMail);
    new_mail.watermark = Some(Watermark::new("W1"));
    new_mail.timestamp = Some("2026-11-29T10:00:00Z".into());
    new_mail.object = item("AAMk1");
    new_mail.parent_folder_id = Some(FolderId::new("inbox-id"));
    let mut modified = Event::new(EventType::Modified);
    modified.object = Some(ChangedObject::Folder(FolderId::new("inbox-id")));
    modified.parent_folder_id = Some(FolderId::new("root-id"));
    modified.unread_count = Some(7);
    let mut moved = Event::new(EventType::Moved);
    moved.object = item("AAMk2");
    moved.parent_folder_id = Some(FolderId::new("deleted-id"));
    moved.old_object = item("AAMk1");
    moved.old_parent_folder_id = Some(FolderId::new("inbox-id"));
    let mut copied = moved.clone();
    copied.kind = EventType::Copied;
    copied.old_object = Some(ChangedObject::Folder(FolderId::new("f-old")));
    vec![
        new_mail,
        modified,
        moved,
        copied,
        Event::status(Some(Watermark::new("W9"))),
    ]
}

fn sample_notification() -> Notification {
    let mut notification = Notification::new(SubscriptionId::new("sub-1"));
    notification.previous_watermark = Some(Watermark::new("W0"));
    notification.more_events = Some(true);
    notification.events = sample_events();
    notification
}

#[test]
fn responses() {
    let header = server_header();
    round_trip(
        &header,
        &SubscribeResponse::new(vec![
            SubscribeResponseMessage::success(SubscriptionId::new("s"), Some(Watermark::new("w"))),
            SubscribeResponseMessage::error(ResponseStatus::error(
                ResponseCode::ErrorImpersonateUserDenied,
                "The account does not have permission to impersonate the requested user.",
            )),
        ]),
    );
    round_trip(
        &header,
        &GetEventsResponse::single(GetEventsResponseMessage::success(sample_notification())),
    );
    let mut busy = ResponseStatus::error(ResponseCode::ErrorServerBusy, &odd_text());
    busy.message_xml = Some(MessageXml::back_off(std::time::Duration::from_millis(5000)));
    round_trip(
        &header,
        &GetEventsResponse::single(GetEventsResponseMessage::error(busy)),
    );
    let mut stream = GetStreamingEventsResponseMessage::notifications(vec![
        sample_notification(),
        sample_notification(),
    ]);
    stream.connection_status = Some(ConnectionStatus::Ok);
    round_trip(&header, &GetStreamingEventsResponse::single(stream));
    let mut failed = GetStreamingEventsResponseMessage::error(ResponseStatus::error(
        ResponseCode::ErrorSubscriptionNotFound,
        "The specified subscription was not found.",
    ));
    failed.error_subscription_ids = vec![SubscriptionId::new("a"), SubscriptionId::new("b")];
    failed.connection_status = Some(ConnectionStatus::Closed);
    round_trip(&header, &GetStreamingEventsResponse::single(failed));
    round_trip(
        &header,
        &UnsubscribeResponse::single(UnsubscribeResponseMessage::new(ResponseStatus::success())),
    );
    round_trip(
        &SoapHeader::request(ExchangeVersion::Exchange2016),
        &SendNotification::single(SendNotificationResponseMessage::success(
            sample_notification(),
        )),
    );
    let mut inbox = Folder::mail(FolderId::new("inbox-id").with_change_key("AQ=="), "Inbox");
    inbox.total_count = Some(12);
    inbox.child_folder_count = Some(0);
    inbox.unread_count = Some(3);
    round_trip(
        &header,
        &GetFolderResponse::single(GetFolderResponseMessage::success(inbox)),
    );
    let mut resolved = ResolveNamesResponseMessage::default();
    resolved.status.class = ResponseClass::Warning;
    resolved.status.code = ResponseCode::ErrorNameResolutionMultipleResults;
    resolved.total_items_in_view = Some(2);
    resolved.includes_last_item_in_range = Some(true);
    let mut contact = Contact::default();
    contact.display_name = Some("Mara Whitley".into());
    contact.given_name = Some("Mara".into());
    contact.surname = Some("Whitley".into());
    contact.job_title = Some(odd_text());
    contact.department = Some("Sales".into());
    contact.company_name = Some("Contoso".into());
    contact.has_picture = Some(true);
    contact.email_addresses = vec![ContactEmail::default()];
    contact.email_addresses[0].key = "EmailAddress1".into();
    contact.email_addresses[0].address = "SMTP:mara@contoso.com".into();
    let mut mailbox = EmailAddress::smtp("mara@contoso.com");
    mailbox.name = Some("Mara Whitley".into());
    mailbox.routing_type = Some("SMTP".into());
    mailbox.mailbox_type = Some("Mailbox".into());
    resolved.resolutions = vec![
        Resolution::new(mailbox.clone(), Some(contact)),
        Resolution::new(mailbox, None),
    ];
    round_trip(&header, &ResolveNamesResponse::single(resolved));
    round_trip(&header, &GetUserPhotoResponse::photo((0..=255).collect()));
}

#[test]
fn autodiscover_requests() {
    let pox = PoxRequest::new("mara@contoso.com");
    assert_eq!(PoxRequest::from_xml(&pox.to_xml()).unwrap(), pox);
    let soap = GetUserSettingsRequest::new(
        "mara@contoso.com",
        &["ExternalEwsUrl", "InternalEwsUrl", "GroupingInformation"],
        "https://autodiscover.contoso.com/autodiscover/autodiscover.svc",
    );
    assert_eq!(
        GetUserSettingsRequest::from_xml(&soap.to_xml()).unwrap(),
        soap
    );
}

#[test]
fn autodiscover_responses() {
    let mut user = PoxUser::default();
    user.display_name = Some("Mara".into());
    user.autodiscover_smtp_address = Some("mara@contoso.com".into());
    let settings = PoxResponse::settings(
        user,
        vec![
            PoxProtocol::new(
                ProtocolType::Exch,
                &[("EwsUrl", "https://int/EWS/Exchange.asmx")],
            ),
            PoxProtocol::new(
                ProtocolType::Expr,
                &[("EwsUrl", "https://ext/EWS/Exchange.asmx")],
            ),
        ],
    );
    for response in [
        settings,
        PoxResponse::redirect_addr("elvin@mail.contoso.com"),
        PoxResponse::redirect_url("https://autodiscover.contoso.com/autodiscover/autodiscover.xml"),
        PoxResponse::error("602", "The e-mail address cannot be found."),
    ] {
        assert_eq!(PoxResponse::from_xml(&response.to_xml()).unwrap(), response);
    }
    let mut settings = UserResponse::settings(vec![
        UserSetting::string("ExternalEwsUrl", "https://ext/EWS/Exchange.asmx"),
        UserSetting::string("GroupingInformation", "NAMPR06"),
    ]);
    settings.setting_errors.push(UserSettingError::default());
    settings.setting_errors[0].error_code = AutodiscoverErrorCode::SettingIsNotAvailable;
    settings.setting_errors[0].setting_name = "InternalEwsUrl".into();
    settings.setting_errors[0].error_message = Some("Not available".into());
    for response in [
        GetUserSettingsResponse::single(settings),
        GetUserSettingsResponse::single(UserResponse::redirect(
            AutodiscoverErrorCode::RedirectUrl,
            "https://x/autodiscover/autodiscover.svc",
        )),
    ] {
        assert_eq!(
            GetUserSettingsResponse::from_xml(&response.to_xml()).unwrap(),
            response
        );
    }
}
