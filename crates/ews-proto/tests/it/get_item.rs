//! `GetItem` for new-mail details: the request a client writes (checked against Microsoft's
//! schema and read back by the server side), and answers in the documented shape, mixed,
//! unusual and broken.
//!
//! Spec: <https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitem-operation>.
//! The operation page's sample answer was not available to copy as a vector, so the answers
//! here are written for these tests, in the shape the GetItem, GetItemResponseMessage, Items,
//! Message, From and Mailbox element pages and `types.xsd` give, with the error text Exchange
//! sends for `ErrorItemNotFound`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ews_proto::call::read_answer;
use ews_proto::operations::*;
use ews_proto::soap::{
    ExchangeVersion, ResponseClass, ResponseStatus, ServerVersionInfo, SoapHeader, read_envelope,
    write_envelope,
};
use ews_proto::{EmailAddress, FolderId, Importance, ItemId, ProtoError, ResponseCode};

const SOAP_OPEN: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header>
    <h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4"
      xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/>
  </s:Header>
  <s:Body>
    <m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
        xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
      <m:ResponseMessages>"#;
const SOAP_CLOSE: &str = r#"
      </m:ResponseMessages>
    </m:GetItemResponse>
  </s:Body>
</s:Envelope>"#;

/// A successful message with one `t:Message`, as `GetItem::summaries` is answered.
const MESSAGE: &str = r#"
        <m:GetItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:Items>
            <t:Message>
              <t:ItemId Id="AAMkAGI2TG93AAA=" ChangeKey="CQAAABYAAAA"/>
              <t:ParentFolderId Id="AAMkAGI2AQAuAAA=" ChangeKey="AQAAAA=="/>
              <t:Subject>Quarterly numbers &amp; plan</t:Subject>
              <t:DateTimeReceived>2024-05-01T08:30:12Z</t:DateTimeReceived>
              <t:Importance>High</t:Importance>
              <t:From>
                <t:Mailbox>
                  <t:Name>Sadie Daniels</t:Name>
                  <t:EmailAddress>sadie@contoso.com</t:EmailAddress>
                  <t:RoutingType>SMTP</t:RoutingType>
                  <t:MailboxType>Mailbox</t:MailboxType>
                </t:Mailbox>
              </t:From>
            </t:Message>
          </m:Items>
        </m:GetItemResponseMessage>"#;

/// The message for an id whose item is gone, as Exchange words it.
const NOT_FOUND: &str = r#"
        <m:GetItemResponseMessage ResponseClass="Error">
          <m:MessageText>The specified object was not found in the store.</m:MessageText>
          <m:ResponseCode>ErrorItemNotFound</m:ResponseCode>
          <m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>
          <m:Items/>
        </m:GetItemResponseMessage>"#;

/// An invitation, with the properties a meeting request has beyond `MessageType`'s.
const MEETING_REQUEST: &str = r#"
        <m:GetItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:Items>
            <t:MeetingRequest>
              <t:ItemId Id="AAMkMR=" ChangeKey="DwAAAA=="/>
              <t:ParentFolderId Id="AAMkAGI2AQAuAAA=" ChangeKey="AQAAAA=="/>
              <t:Subject>Design review</t:Subject>
              <t:DateTimeReceived>2024-05-01T09:00:00Z</t:DateTimeReceived>
              <t:Importance>Normal</t:Importance>
              <t:ResponseObjects><t:AcceptItem/><t:DeclineItem/></t:ResponseObjects>
              <t:From><t:Mailbox><t:Name>Mara Lopez</t:Name><t:EmailAddress>mara@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:From>
              <t:IsRead>false</t:IsRead>
              <t:AssociatedCalendarItemId Id="AAMkCAL=" ChangeKey="DwAAAB=="/>
              <t:MeetingRequestType>NewMeetingRequest</t:MeetingRequestType>
              <t:Start>2024-05-02T14:00:00Z</t:Start>
              <t:Location>Room 4</t:Location>
            </t:MeetingRequest>
          </m:Items>
        </m:GetItemResponseMessage>"#;

fn answer(messages: &[&str]) -> Vec<u8> {
    format!("{SOAP_OPEN}{}{SOAP_CLOSE}", messages.concat()).into_bytes()
}

fn read(bytes: &[u8]) -> GetItemResponse {
    let response = read_envelope::<GetItemResponse>(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
        .body;
    // What reads writes and reads back to the same value.
    let written = write_envelope(&SoapHeader::default(), &response);
    assert_eq!(
        read_envelope::<GetItemResponse>(&written).unwrap().body,
        response
    );
    response
}

fn ids() -> Vec<ItemId> {
    vec![
        ItemId::new("AAMkAGI2TG93AAA=").with_change_key("CQAAABYAAAA"),
        ItemId::new("AAMkGone="),
    ]
}

fn sadie() -> EmailAddress {
    let mut sadie = EmailAddress::smtp("sadie@contoso.com");
    sadie.name = Some("Sadie Daniels".into());
    sadie.routing_type = Some("SMTP".into());
    sadie.mailbox_type = Some("Mailbox".into());
    sadie
}

/// A summary as the server side builds it, with every field set.
fn summary(kind: ItemKind, id: &str) -> ItemSummary {
    let mut item = ItemSummary::new(kind, ItemId::new(id).with_change_key("CQAAAB"));
    item.parent_folder = Some(FolderId::new("AAMkInbox=").with_change_key("AQAAAA=="));
    item.subject = Some("Quarterly numbers & <plan>".into());
    item.received = Some("2024-05-01T08:30:12Z".into());
    item.importance = Some(Importance::High);
    item.from = Some(sadie());
    item
}

#[test]
fn summaries_writes_id_only_with_the_five_properties_and_the_ids_in_order() {
    let bytes = write_envelope(
        &SoapHeader::request(ExchangeVersion::Exchange2013),
        &GetItem::summaries(ids()),
    );
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(concat!(
            "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>",
            r#"<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="message:From"/>"#,
            r#"<t:FieldURI FieldURI="item:Importance"/><t:FieldURI FieldURI="item:DateTimeReceived"/>"#,
            r#"<t:FieldURI FieldURI="item:ParentFolderId"/></t:AdditionalProperties></m:ItemShape>"#,
            r#"<m:ItemIds><t:ItemId Id="AAMkAGI2TG93AAA=" ChangeKey="CQAAABYAAAA"/>"#,
            r#"<t:ItemId Id="AAMkGone="/></m:ItemIds></m:GetItem>"#,
        )),
        "{text}"
    );
}

#[test]
fn the_request_round_trips_through_the_server_reader() {
    let header = SoapHeader::request(ExchangeVersion::Exchange2013);
    let mut general = GetItem::new(BaseShape::Default, vec![ItemId::new("a&<b>")]);
    general.additional_properties = vec![
        PropertyPath::field("item:Body"),
        PropertyPath::Indexed {
            field_uri: "message:InternetMessageHeader".into(),
            field_index: "X-Priority".into(),
        },
        PropertyPath::Extended(ExtendedFieldUri::tag("0x1081", "Integer")),
    ];
    for request in [GetItem::summaries(ids()), general] {
        let bytes = write_envelope(&header, &request);
        let envelope = read_envelope::<Request>(&bytes).unwrap();
        assert_eq!(envelope.body.name(), "GetItem");
        assert_eq!(envelope.body, Request::GetItem(request.clone()));
        assert_eq!(envelope.header, header);
        // Byte-stable through the server's dispatch type.
        assert_eq!(write_envelope(&envelope.header, &envelope.body), bytes);
    }
}

#[test]
fn the_server_reader_takes_any_prefix_and_other_shape_options() {
    // Default namespace for messages, options this crate does not model, an unknown id kind.
    let body = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
        xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Body>
      <GetItem xmlns="http://schemas.microsoft.com/exchange/services/2006/messages">
        <ItemShape><t:BaseShape> AllProperties </t:BaseShape><t:BodyType>Text</t:BodyType>
          <t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:Future/></t:AdditionalProperties>
        </ItemShape>
        <ItemIds><t:ItemId Id="x" ChangeKey="y"/><t:FutureId/><t:ItemId Id="z"/></ItemIds>
      </GetItem></soap:Body></soap:Envelope>"#;
    let Request::GetItem(request) = read_envelope::<Request>(body).unwrap().body else {
        panic!("not GetItem");
    };
    assert_eq!(request.shape, BaseShape::AllProperties);
    assert_eq!(
        request.additional_properties,
        vec![PropertyPath::field("item:Subject")]
    );
    assert_eq!(
        request.item_ids,
        vec![ItemId::new("x").with_change_key("y"), ItemId::new("z")]
    );
}

#[test]
fn the_server_reader_refuses_what_it_cannot_answer_item_for_item() {
    let request = |inner: &str| {
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetItem>{inner}</GetItem></s:Body></s:Envelope>"#
        )
    };
    let cases = [
        // Answering occurrences as if they were not asked about would shift every answer.
        (
            r#"<ItemShape><BaseShape>IdOnly</BaseShape></ItemShape><ItemIds><ItemId Id="a"/><OccurrenceItemId RecurringMasterId="m" InstanceIndex="1"/></ItemIds>"#,
            "OccurrenceItemId",
        ),
        (
            r#"<ItemShape><BaseShape>IdOnly</BaseShape></ItemShape><ItemIds><RecurringMasterItemId OccurrenceId="o"/></ItemIds>"#,
            "RecurringMasterItemId",
        ),
        (r#"<ItemIds><ItemId Id="a"/></ItemIds>"#, "BaseShape"),
        (
            "<ItemShape><BaseShape>IdOnly</BaseShape></ItemShape>",
            "ItemIds",
        ),
        (
            r#"<ItemShape><BaseShape>IdOnly</BaseShape></ItemShape><ItemIds><ItemId ChangeKey="c"/></ItemIds>"#,
            "Id attribute",
        ),
    ];
    for (inner, named) in cases {
        let error = read_envelope::<Request>(request(inner).as_bytes()).unwrap_err();
        assert!(error.to_string().contains(named), "{inner}: {error}");
    }
}

#[test]
fn a_documented_answer_reads_into_the_summary() {
    let response = read_answer::<GetItem>(200, &answer(&[MESSAGE])).unwrap();
    assert_eq!(response.messages.len(), 1);
    let message = &response.messages[0];
    assert!(message.status.is_success());
    let item = message.item().expect("a success carries the item");
    assert_eq!(item.kind, ItemKind::Message);
    assert_eq!(
        item.id,
        ItemId::new("AAMkAGI2TG93AAA=").with_change_key("CQAAABYAAAA")
    );
    assert_eq!(
        item.parent_folder,
        Some(FolderId::new("AAMkAGI2AQAuAAA=").with_change_key("AQAAAA=="))
    );
    assert_eq!(item.subject.as_deref(), Some("Quarterly numbers & plan"));
    assert_eq!(item.received.as_deref(), Some("2024-05-01T08:30:12Z"));
    assert_eq!(item.importance, Some(Importance::High));
    assert_eq!(item.from, Some(sadie()));
    assert_eq!(item.sender_address(), Some("sadie@contoso.com"));
    // And as the value the round trip keeps.
    assert_eq!(read(&answer(&[MESSAGE])), response);
}

#[test]
fn a_success_and_an_item_not_found_read_in_request_order() {
    let response = read(&answer(&[MESSAGE, NOT_FOUND]));
    let [found, gone] = response.messages.as_slice() else {
        panic!("{response:?}");
    };
    assert_eq!(
        found.item().map(|i| i.id.id.as_str()),
        Some("AAMkAGI2TG93AAA=")
    );
    assert_eq!(gone.status.class, ResponseClass::Error);
    assert_eq!(gone.status.code, ResponseCode::ErrorItemNotFound);
    assert_eq!(
        gone.status.message_text.as_deref(),
        Some("The specified object was not found in the store.")
    );
    assert!(gone.items.is_empty());
    assert_eq!(gone.item(), None);
    // The other order stays the other order.
    let reversed = read(&answer(&[NOT_FOUND, MESSAGE]));
    assert_eq!(reversed.messages[0], *gone);
    assert_eq!(reversed.messages[1], *found);
}

#[test]
fn a_meeting_request_reads_with_its_own_properties_skipped() {
    let response = read(&answer(&[MEETING_REQUEST]));
    let item = response.messages[0].item().unwrap();
    assert_eq!(item.kind, ItemKind::MeetingRequest);
    assert_eq!(item.id, ItemId::new("AAMkMR=").with_change_key("DwAAAA=="));
    assert_eq!(item.subject.as_deref(), Some("Design review"));
    assert_eq!(item.importance, Some(Importance::Normal));
    assert_eq!(item.sender_address(), Some("mara@contoso.com"));
    assert_eq!(
        item.from.as_ref().and_then(|f| f.name.as_deref()),
        Some("Mara Lopez")
    );
}

#[test]
fn every_item_element_reads_and_from_only_where_the_schema_has_it() {
    let kinds = [
        ("Item", ItemKind::Item, false),
        ("Message", ItemKind::Message, true),
        ("CalendarItem", ItemKind::CalendarItem, false),
        ("Contact", ItemKind::Contact, false),
        ("DistributionList", ItemKind::DistributionList, false),
        ("MeetingMessage", ItemKind::MeetingMessage, true),
        ("MeetingRequest", ItemKind::MeetingRequest, true),
        ("MeetingResponse", ItemKind::MeetingResponse, true),
        ("MeetingCancellation", ItemKind::MeetingCancellation, true),
        ("Task", ItemKind::Task, false),
        ("PostItem", ItemKind::PostItem, false),
        ("RoleMember", ItemKind::RoleMember, false),
        ("Network", ItemKind::Network, false),
        ("Person", ItemKind::Person, false),
        ("FutureItem", ItemKind::Unknown("FutureItem".into()), true),
    ];
    for (element, kind, has_from) in kinds {
        let message = format!(
            r#"<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:{element}><t:Unheard>x<t:Deeper/></t:Unheard><t:ItemId Id="{element}-id"/><t:Subject> s </t:Subject><t:From><t:Mailbox><t:EmailAddress>a@b.c</t:EmailAddress></t:Mailbox></t:From></t:{element}></m:Items></m:GetItemResponseMessage>"#
        );
        let response = read(&answer(&[&message]));
        let item = response.messages[0].item().unwrap();
        assert_eq!(item.kind, kind, "{element}");
        assert_eq!(item.id.id, format!("{element}-id"));
        assert_eq!(item.subject.as_deref(), Some(" s "), "{element}");
        assert_eq!(item.sender_address().is_some(), has_from, "{element}");
    }
}

#[test]
fn an_unknown_importance_is_kept_as_sent() {
    let message = MESSAGE.replace(">High<", ">Urgent<");
    let response = read(&answer(&[&message]));
    let importance = response.messages[0].item().unwrap().importance.clone();
    assert_eq!(importance, Some(Importance::Unknown("Urgent".into())));
    assert!(importance.unwrap().is_unknown());
    assert_eq!(Importance::parse("Low"), Importance::Low);
}

#[test]
fn what_a_server_writes_reads_back_byte_stable() {
    let mut info = ServerVersionInfo::new(15, 2, 1544, 4);
    info.version = Some("V2017_07_11".into());
    let header = SoapHeader::response(info);
    let mut calendar = summary(ItemKind::CalendarItem, "cal");
    calendar.from = None; // CalendarItemType has no From.
    let response = GetItemResponse::new(vec![
        GetItemResponseMessage::success(summary(ItemKind::Message, "msg")),
        GetItemResponseMessage::error(ResponseStatus::error(
            ResponseCode::ErrorItemNotFound,
            "The specified object was not found in the store.",
        )),
        GetItemResponseMessage::success(summary(ItemKind::MeetingRequest, "mr")),
        GetItemResponseMessage::success(calendar),
        GetItemResponseMessage::success(ItemSummary::new(ItemKind::Message, ItemId::new("bare"))),
    ]);
    let bytes = write_envelope(&header, &response);
    let envelope = read_envelope::<GetItemResponse>(&bytes).unwrap();
    assert_eq!(envelope.body, response);
    assert_eq!(write_envelope(&envelope.header, &envelope.body), bytes);
    let text = String::from_utf8(bytes).unwrap();
    // An error still carries the `Items` the schema requires.
    assert!(text.contains("<m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items></m:Items>"), "{text}");
}

#[test]
fn from_on_a_kind_without_it_is_neither_read_nor_written() {
    let task = summary(ItemKind::Task, "task");
    let bytes = write_envelope(
        &SoapHeader::default(),
        &GetItemResponse::single(GetItemResponseMessage::success(task)),
    );
    assert!(!String::from_utf8_lossy(&bytes).contains("<t:From>"));
    let read_back = read_envelope::<GetItemResponse>(&bytes).unwrap().body;
    assert_eq!(read_back.messages[0].items[0].from, None);
}

#[test]
fn broken_answers_are_errors_naming_the_fault() {
    let cases: &[(&str, &str)] = &[
        (
            r#"<t:Message><t:Subject>no id</t:Subject></t:Message>"#,
            "ItemId",
        ),
        (
            r#"<t:Message><t:ItemId ChangeKey="c"/></t:Message>"#,
            "Id attribute",
        ),
        (
            r#"<t:Message><t:ItemId Id="a"/><t:ParentFolderId/></t:Message>"#,
            "Id attribute",
        ),
        (
            r#"<t:Message><t:ItemId Id="a"/><t:Subject>a&#1;b</t:Subject></t:Message>"#,
            "character",
        ),
        (
            r#"<t:Message><t:ItemId Id="a"/><t:Subject>&bogus;</t:Subject></t:Message>"#,
            "entity",
        ),
        (r#"<t:Message><t:ItemId Id="a"/></t:Mess>"#, "malformed"),
    ];
    for (item, named) in cases {
        let message = format!(
            r#"<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>{item}</m:Items></m:GetItemResponseMessage>"#
        );
        let error = read_envelope::<GetItemResponse>(&answer(&[&message])).unwrap_err();
        assert!(error.to_string().contains(named), "{item}: {error}");
    }
    // Another operation's answer is not a GetItem answer.
    let other = answer(&[MESSAGE]);
    let other = String::from_utf8(other)
        .unwrap()
        .replace("GetItemResponse>", "GetFolderResponse>");
    let other = other.replace("<m:GetItemResponse ", "<m:GetFolderResponse ");
    assert!(matches!(
        read_envelope::<GetItemResponse>(other.as_bytes()),
        Err(ProtoError::UnexpectedElement { .. })
    ));
}

/// Every proper prefix of an answer is an error; flipped bytes never panic.
#[test]
fn truncated_and_damaged_answers_never_panic() {
    let bytes = answer(&[MESSAGE, NOT_FOUND, MEETING_REQUEST]);
    let end = bytes.trim_ascii_end().len();
    for cut in 0..end {
        assert!(
            read_envelope::<GetItemResponse>(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let request = write_envelope(&SoapHeader::default(), &GetItem::summaries(ids()));
    for cut in 0..request.len() {
        assert!(
            read_envelope::<Request>(&request[..cut]).is_err(),
            "cut {cut}"
        );
    }
    for source in [&bytes, &request] {
        let mut copy = source.clone();
        for i in 0..copy.len() {
            for flip in [0x01u8, 0x20, 0x80] {
                copy[i] ^= flip;
                let _ = read_envelope::<GetItemResponse>(&copy);
                let _ = read_envelope::<Request>(&copy);
                copy[i] ^= flip;
            }
        }
    }
}

/// The written request, and answers as a server writes them, are valid per Microsoft's EWS
/// schema, judged by the repository's schema check (`scripts/ews-schema/validate.py`, Python's
/// `xmlschema`, the schema in `crates/exchange-sim/schema`, the same files as the shared
/// `vectors/schema`). Two broken documents must be judged invalid for what is broken in them,
/// so a check that judges nothing cannot pass.
#[test]
fn written_request_and_answers_are_valid_per_microsofts_schema() {
    let Some(python) = schema_checker() else {
        return;
    };
    let request_header = SoapHeader::request(ExchangeVersion::Exchange2013);
    let mut unknown_field = GetItem::summaries(ids());
    unknown_field
        .additional_properties
        .push(PropertyPath::field("item:NoSuchField"));
    let mut bad_time = summary(ItemKind::Message, "t");
    bad_time.received = Some("yesterday".into());
    let mut calendar = summary(ItemKind::CalendarItem, "cal");
    calendar.from = None;
    let answer = GetItemResponse::new(vec![
        GetItemResponseMessage::success(summary(ItemKind::Message, "msg")),
        GetItemResponseMessage::error(ResponseStatus::error(
            ResponseCode::ErrorItemNotFound,
            "The specified object was not found in the store.",
        )),
        GetItemResponseMessage::success(summary(ItemKind::MeetingRequest, "mr")),
        GetItemResponseMessage::success(calendar),
    ]);
    let documents = [
        (
            "request",
            write_envelope(&request_header, &GetItem::summaries(ids())),
            None,
        ),
        (
            "answer",
            write_envelope(&SoapHeader::default(), &answer),
            None,
        ),
        (
            "unknown-field",
            write_envelope(&request_header, &unknown_field),
            Some("'item:NoSuchField'"),
        ),
        (
            "bad-time",
            write_envelope(
                &SoapHeader::default(),
                &GetItemResponse::single(GetItemResponseMessage::success(bad_time)),
            ),
            Some("t:DateTimeReceived"),
        ),
    ];
    let verdicts = judge(&python, &documents);
    for ((name, bytes, violation), verdict) in documents.iter().zip(&verdicts) {
        let judged_right = match violation {
            None => verdict == "VALID",
            Some(named) => verdict.starts_with("INVALID ") && verdict.contains(named),
        };
        assert!(
            judged_right,
            "{name}: expected {violation:?}, got {verdict}\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// `python3` when it and `xmlschema` are installed; otherwise a note on stderr and `None`,
/// unless `BEMS_REQUIRE_SERVICES=1` (as `scripts/test` sets it): then the test fails.
fn schema_checker() -> Option<PathBuf> {
    let found = Command::new("python3")
        .args(["-c", "import xmlschema"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(PathBuf::from("python3"));
    }
    if std::env::var("BEMS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!(
            "BEMS_REQUIRE_SERVICES=1 but python3 with xmlschema is missing: \
             pip install -r scripts/ews-schema/requirements.txt"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "note: EWS schema check SKIPPED: python3 with xmlschema is not installed"
    );
    None
}

/// One verdict per document: `VALID`, or `INVALID` and the first violation.
fn judge(python: &Path, documents: &[(&str, Vec<u8>, Option<&str>)]) -> Vec<String> {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ews-schema");
    let dir = std::env::temp_dir().join(format!("ews-proto-get-item-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for (name, bytes, _) in documents {
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, bytes).unwrap();
        paths.push(path);
    }
    let output = Command::new(python)
        .arg("-c")
        .arg(concat!(
            "import sys\n",
            "sys.path.insert(0, sys.argv[1])\n",
            "import validate\n",
            "checker = validate.Checker(validate.load_schema())\n",
            "for path in sys.argv[2:]:\n",
            "    violation, _ = checker.envelope(open(path, 'rb').read())\n",
            "    print('VALID' if violation is None else 'INVALID ' + ' '.join(violation.split()))\n",
        ))
        .arg(&scripts)
        .args(&paths)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "schema check failed to run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(verdicts.len(), documents.len(), "{verdicts:?}");
    verdicts
}
