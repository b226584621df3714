//! The validator on small made-up schemas, then on Microsoft's.

use std::path::Path;

use axum::http::HeaderMap;
use roxmltree::Document;

use super::schema::{QName, Schema};
use super::validate::Validator;
use super::{RequestRefusal, SCHEMA, check, check_envelope};
use crate::scenario::Profile;

const NS: &str = "urn:test";

fn schema(body: &str) -> Schema {
    let src = format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:test"
             targetNamespace="urn:test" elementFormDefault="qualified">{body}</xs:schema>"#
    );
    Schema::compile(&[&src]).expect("compiles")
}

/// Validates `instance` (its root against the global element of that name): `Ok`, or
/// (line, position, violation).
fn judge(schema: &Schema, instance: &str) -> Result<(), (u32, u32, String)> {
    let doc = Document::parse(instance).expect("well-formed");
    let root = doc.root_element();
    let decl = schema.global_elements[&QName::new(NS, root.tag_name().name())];
    let v = Validator {
        schema,
        src: instance,
    };
    v.element(root, decl, 0).map_err(|e| {
        let p = doc.text_pos_at(e.offset);
        (p.row, p.col, e.text)
    })
}

const SEQ: &str = r#"
  <xs:element name="Root">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="A" type="xs:int"/>
        <xs:element name="B" type="xs:string" minOccurs="0"/>
        <xs:element name="C" type="xs:boolean" maxOccurs="2"/>
      </xs:sequence>
      <xs:attribute name="Kind" type="t:Kind" use="required"/>
    </xs:complexType>
  </xs:element>
  <xs:simpleType name="Kind">
    <xs:restriction base="xs:string">
      <xs:enumeration value="one"/>
      <xs:enumeration value="two"/>
    </xs:restriction>
  </xs:simpleType>"#;

#[test]
fn a_sequence_in_order_is_valid() {
    let s = schema(SEQ);
    let ok = r#"<Root xmlns="urn:test" Kind="one"><A>1</A><C>true</C><C>0</C></Root>"#;
    assert_eq!(judge(&s, ok), Ok(()));
}

#[test]
fn a_child_out_of_order_is_named_with_what_was_possible() {
    let s = schema(SEQ);
    let bad = "<Root xmlns=\"urn:test\" Kind=\"one\">\n  <C>true</C><A>1</A></Root>";
    assert_eq!(
        judge(&s, bad),
        Err((
            2,
            4,
            "The element 'Root' in namespace 'urn:test' has invalid child element 'C' in namespace 'urn:test'. List of possible elements expected: 'A' in namespace 'urn:test'.".to_owned()
        ))
    );
    // After A, both the optional B and the required C are possible.
    let bad = r#"<Root xmlns="urn:test" Kind="one"><A>1</A><A>2</A></Root>"#;
    let (_, col, text) = judge(&s, bad).expect_err("refused");
    assert_eq!(col, 44);
    assert!(
        text.ends_with("List of possible elements expected: 'B, C' in namespace 'urn:test'."),
        "{text}"
    );
    // A third C is one too many.
    let bad = r#"<Root xmlns="urn:test" Kind="one"><A>1</A><C>1</C><C>1</C><C>1</C></Root>"#;
    let (_, _, text) = judge(&s, bad).expect_err("refused");
    assert_eq!(
        text,
        "The element 'Root' in namespace 'urn:test' has invalid child element 'C' in namespace 'urn:test'."
    );
}

#[test]
fn missing_content_is_reported_at_the_end_tag() {
    let s = schema(SEQ);
    let bad = r#"<Root xmlns="urn:test" Kind="one"><A>1</A></Root>"#;
    assert_eq!(
        judge(&s, bad),
        Err((
            1,
            45,
            "The element 'Root' in namespace 'urn:test' has incomplete content. List of possible elements expected: 'B, C' in namespace 'urn:test'.".to_owned()
        ))
    );
}

#[test]
fn attributes_are_checked_for_presence_declaration_and_value() {
    let s = schema(SEQ);
    let missing = r#"<Root xmlns="urn:test"><A>1</A><C>1</C></Root>"#;
    assert_eq!(
        judge(&s, missing),
        Err((1, 2, "The required attribute 'Kind' is missing.".to_owned()))
    );
    let undeclared = r#"<Root xmlns="urn:test" Kind="one" Other="x"><A>1</A><C>1</C></Root>"#;
    assert_eq!(
        judge(&s, undeclared),
        Err((1, 35, "The 'Other' attribute is not declared.".to_owned()))
    );
    let bad = r#"<Root xmlns="urn:test" Kind="three"><A>1</A><C>1</C></Root>"#;
    assert_eq!(
        judge(&s, bad),
        Err((
            1,
            24,
            "The 'Kind' attribute is invalid - The value 'three' is invalid according to its datatype 'urn:test:Kind' - The Enumeration constraint failed.".to_owned()
        ))
    );
}

#[test]
fn element_values_are_checked_against_their_type() {
    let s = schema(SEQ);
    let bad = r#"<Root xmlns="urn:test" Kind="one"><A>x</A><C>1</C></Root>"#;
    assert_eq!(
        judge(&s, bad),
        Err((
            1,
            41,
            "The 'urn:test:A' element is invalid - The value 'x' is invalid according to its datatype 'http://www.w3.org/2001/XMLSchema:int' - The string 'x' is not a valid Int32 value.".to_owned()
        ))
    );
    let text = r#"<Root xmlns="urn:test" Kind="one">stray<A>1</A><C>1</C></Root>"#;
    let (_, col, msg) = judge(&s, text).expect_err("refused");
    assert_eq!(col, 35);
    assert!(
        msg.starts_with("The element 'Root' in namespace 'urn:test' cannot contain text."),
        "{msg}"
    );
}

/// The shape of `ArrayOfTransitionsType`: not deterministic, still matched exactly.
#[test]
fn a_model_that_is_not_deterministic_is_matched() {
    let s = schema(
        r#"
  <xs:element name="Root">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="A" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element name="A" type="xs:int"/>
        <xs:element name="B" type="xs:string" minOccurs="0"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>"#,
    );
    assert_eq!(
        judge(&s, r#"<Root xmlns="urn:test"><A>x</A><A>1</A></Root>"#),
        Ok(())
    );
    assert_eq!(
        judge(&s, r#"<Root xmlns="urn:test"><A>1</A><B/></Root>"#),
        Ok(())
    );
    assert!(judge(&s, r#"<Root xmlns="urn:test"><B/></Root>"#).is_err());
    assert!(judge(&s, r#"<Root xmlns="urn:test"></Root>"#).is_err());
}

const DERIVED: &str = r#"
  <xs:complexType name="Base" abstract="true">
    <xs:sequence><xs:element name="Id" type="xs:string"/></xs:sequence>
    <xs:attribute name="Tag" type="xs:string"/>
  </xs:complexType>
  <xs:complexType name="Derived">
    <xs:complexContent>
      <xs:extension base="t:Base">
        <xs:sequence><xs:element name="Extra" type="xs:int"/></xs:sequence>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="Other">
    <xs:sequence><xs:element name="Id" type="xs:string"/></xs:sequence>
  </xs:complexType>
  <xs:element name="Head" type="t:Base" abstract="true"/>
  <xs:element name="Member" type="t:Derived" substitutionGroup="t:Head"/>
  <xs:element name="Holder">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="t:Head" maxOccurs="unbounded"/>
        <xs:element name="Slot" type="t:Base" minOccurs="0"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>"#;

#[test]
fn an_extension_has_its_base_content_first_and_substitutes_stand_for_their_head() {
    let s = schema(DERIVED);
    let ok =
        r#"<Holder xmlns="urn:test"><Member Tag="x"><Id>1</Id><Extra>2</Extra></Member></Holder>"#;
    assert_eq!(judge(&s, ok), Ok(()));
    let order = r#"<Holder xmlns="urn:test"><Member><Extra>2</Extra><Id>1</Id></Member></Holder>"#;
    assert!(judge(&s, order).is_err());
    let head = r#"<Holder xmlns="urn:test"><Head><Id>1</Id></Head></Holder>"#;
    let (_, _, text) = judge(&s, head).expect_err("an abstract head is refused");
    assert!(
        text.ends_with("List of possible elements expected: 'Member' in namespace 'urn:test'."),
        "{text}"
    );
}

#[test]
fn xsi_type_must_name_a_derived_type() {
    let s = schema(DERIVED);
    let ok = r#"<Holder xmlns="urn:test" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Member><Id>1</Id><Extra>2</Extra></Member><Slot xsi:type="Derived"><Id>1</Id><Extra>3</Extra></Slot></Holder>"#;
    assert_eq!(judge(&s, ok), Ok(()));
    let abstract_ = r#"<Holder xmlns="urn:test"><Member><Id>1</Id><Extra>2</Extra></Member><Slot><Id>1</Id></Slot></Holder>"#;
    let (_, _, text) = judge(&s, abstract_).expect_err("abstract type");
    assert_eq!(
        text,
        "The element 'urn:test:Slot' is abstract or its type is abstract."
    );
    let unrelated = r#"<Holder xmlns="urn:test" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Member><Id>1</Id><Extra>2</Extra></Member><Slot xsi:type="Other"><Id>1</Id></Slot></Holder>"#;
    let (_, _, text) = judge(&s, unrelated).expect_err("not derived");
    assert!(
        text.starts_with("The xsi:type attribute value 'urn:test:Other' is not valid"),
        "{text}"
    );
}

#[test]
fn all_groups_take_any_order_once_each() {
    let s = schema(
        r#"
  <xs:element name="Root">
    <xs:complexType>
      <xs:all>
        <xs:element name="A" type="xs:int"/>
        <xs:element name="B" type="xs:int" minOccurs="0"/>
      </xs:all>
    </xs:complexType>
  </xs:element>"#,
    );
    assert_eq!(
        judge(&s, r#"<Root xmlns="urn:test"><B>1</B><A>2</A></Root>"#),
        Ok(())
    );
    assert!(judge(&s, r#"<Root xmlns="urn:test"><A>1</A><A>2</A></Root>"#).is_err());
    let (_, _, text) =
        judge(&s, r#"<Root xmlns="urn:test"><B>1</B></Root>"#).expect_err("A missing");
    assert!(text.contains("has incomplete content"), "{text}");
}

#[test]
fn lists_unions_patterns_and_lengths() {
    let s = schema(
        r#"
  <xs:simpleType name="Hex"><xs:restriction base="xs:string"><xs:pattern value="(0x|0X)[0-9A-Fa-f]{1,4}"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="Tag"><xs:union memberTypes="xs:unsignedShort t:Hex"/></xs:simpleType>
  <xs:simpleType name="Days"><xs:list itemType="t:Day"/></xs:simpleType>
  <xs:simpleType name="Day"><xs:restriction base="xs:string"><xs:enumeration value="Monday"/><xs:enumeration value="Tuesday"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="NonEmpty"><xs:restriction base="xs:string"><xs:minLength value="1"/></xs:restriction></xs:simpleType>
  <xs:element name="Tag" type="t:Tag"/>
  <xs:element name="Days" type="t:Days"/>
  <xs:element name="Name" type="t:NonEmpty"/>"#,
    );
    assert_eq!(judge(&s, r#"<Tag xmlns="urn:test">0x3fa4</Tag>"#), Ok(()));
    assert_eq!(judge(&s, r#"<Tag xmlns="urn:test">65535</Tag>"#), Ok(()));
    let (_, _, text) = judge(&s, r#"<Tag xmlns="urn:test">0xZZ</Tag>"#).expect_err("neither");
    assert!(
        text.ends_with(
            "The value '0xZZ' is not valid according to any of the memberTypes of the union."
        ),
        "{text}"
    );
    assert_eq!(
        judge(&s, r#"<Days xmlns="urn:test"> Monday  Tuesday </Days>"#),
        Ok(())
    );
    assert!(judge(&s, r#"<Days xmlns="urn:test">Monday Sunday</Days>"#).is_err());
    let (_, _, text) = judge(&s, r#"<Name xmlns="urn:test"></Name>"#).expect_err("empty");
    assert!(
        text.ends_with("The actual length is less than the MinLength value."),
        "{text}"
    );
}

#[test]
fn microsofts_schema_compiles() {
    let schema = SCHEMA.as_ref().expect("the EWS schema compiles");
    for name in [
        "Subscribe",
        "GetEvents",
        "GetStreamingEvents",
        "GetFolder",
        "FindFolder",
    ] {
        assert!(
            schema
                .global_elements
                .contains_key(&QName::new(super::MESSAGES, name)),
            "{name}"
        );
    }
}

#[test]
fn every_request_vector_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/ews");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("vectors/ews") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        if !name.ends_with("-request.xml") {
            continue;
        }
        let body = std::fs::read(&path).expect("read");
        let result = check(Profile::Exchange2019, &HeaderMap::new(), &body);
        assert!(result.is_ok(), "{name}: {result:?}");
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} request vectors");
}

#[test]
fn a_soap_12_envelope_is_a_version_mismatch() {
    let schema = SCHEMA.as_ref().expect("compiles");
    let body =
        br#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>"#;
    assert_eq!(
        check_envelope(schema, Profile::Exchange2019, body),
        Err(RequestRefusal::VersionMismatch(super::SOAP12.to_owned()))
    );
}

/// Writes a request envelope under a header.
type Writer = Box<dyn Fn(&ews_proto::soap::SoapHeader) -> Vec<u8>>;

/// Every request shape ews-proto writes (the client crates send nothing else) is valid EWS:
/// each operation with its options, under every `RequestServerVersion` and impersonation kind.
#[test]
fn every_request_ews_proto_writes_validates() {
    use ews_proto::operations::*;
    use ews_proto::soap::{ConnectingSid, ExchangeVersion, SoapBody, SoapHeader, write_envelope};
    use ews_proto::{
        BaseFolderId, DistinguishedFolder, EmailAddress, EventType, FolderId, SubscriptionId,
        Watermark,
    };

    let schema = SCHEMA.as_ref().expect("compiles");
    let judge = |what: &str, bytes: Vec<u8>| {
        let result = check_envelope(schema, Profile::Exchange2019, &bytes);
        assert!(
            result.is_ok(),
            "{what}: {result:?}\n{}",
            String::from_utf8_lossy(&bytes)
        );
    };
    let events = vec![
        EventType::NewMail,
        EventType::Created,
        EventType::Deleted,
        EventType::Modified,
        EventType::Moved,
        EventType::Copied,
        EventType::FreeBusyChanged,
    ];
    let mut mailbox = EmailAddress::smtp("mara@contoso.com");
    mailbox.name = Some("Mara".to_owned());
    mailbox.routing_type = Some("SMTP".to_owned());
    mailbox.mailbox_type = Some("Mailbox".to_owned());
    let folders = vec![
        BaseFolderId::inbox(),
        BaseFolderId::distinguished(DistinguishedFolder::Root),
        BaseFolderId::Distinguished {
            id: DistinguishedFolder::MsgFolderRoot,
            change_key: Some("AQAAAA==".to_owned()),
            mailbox: Some(mailbox),
        },
        BaseFolderId::Folder(FolderId::new("AAMkAGI2").with_change_key("AQAAABYA")),
    ];
    let watermark = Some(Watermark::new("AAAAAMAGAAAAAAAAAQ=="));
    let mut all_folders = Subscribe::streaming(Vec::new(), events.clone());
    all_folders.subscribe_to_all_folders = true;
    let mut bodies: Vec<(String, Writer)> = Vec::new();
    let mut add = |what: &str, body: Writer| bodies.push((what.to_owned(), body));
    fn boxed<B: SoapBody + 'static>(b: B) -> Writer {
        Box::new(move |h| write_envelope(h, &b))
    }
    add(
        "streaming",
        boxed(Subscribe::streaming(folders.clone(), events.clone())),
    );
    add("all folders", boxed(all_folders));
    add(
        "pull",
        boxed(Subscribe::pull(folders.clone(), events.clone(), 10, None)),
    );
    add(
        "pull from a watermark",
        boxed(Subscribe::pull(
            folders.clone(),
            events.clone(),
            1440,
            watermark.clone(),
        )),
    );
    add(
        "push",
        boxed(Subscribe::push(
            folders.clone(),
            events.clone(),
            "https://bems.contoso.com/ews",
            30,
            None,
        )),
    );
    add(
        "push from a watermark",
        boxed(Subscribe::push(
            folders.clone(),
            events.clone(),
            "https://bems.contoso.com/ews",
            1,
            watermark.clone(),
        )),
    );
    add(
        "get events",
        boxed(GetEvents::new(
            SubscriptionId::new("f6bc657d"),
            Watermark::new("AAAAAMAGAAAAAAAAAQ=="),
        )),
    );
    add(
        "get streaming events",
        boxed(GetStreamingEvents::new(
            (0..3)
                .map(|i| SubscriptionId::new(format!("id{i}")))
                .collect(),
            30,
        )),
    );
    add(
        "unsubscribe",
        boxed(Unsubscribe::new(SubscriptionId::new("f6bc657d"))),
    );
    for shape in [
        BaseShape::IdOnly,
        BaseShape::Default,
        BaseShape::AllProperties,
    ] {
        let mut get = GetFolder::new(folders.clone());
        get.shape = shape;
        get.additional_properties = vec![
            "folder:DisplayName".to_owned(),
            "folder:UnreadCount".to_owned(),
        ];
        add("get folder", boxed(get));
    }
    for scope in [
        None,
        Some(SearchScope::ActiveDirectory),
        Some(SearchScope::ContactsActiveDirectory),
    ] {
        let mut resolve = ResolveNames::directory("mara");
        resolve.return_full_contact_data = true;
        resolve.search_scope = scope;
        resolve.contact_data_shape = Some("AllProperties".to_owned());
        add("resolve names", boxed(resolve));
    }
    add(
        "resolve names (plain)",
        boxed(ResolveNames::directory("Mara Example")),
    );
    for size in [UserPhotoSize::HR48x48, UserPhotoSize::HR648x648] {
        let mut photo = GetUserPhoto::new("mara@contoso.com", size);
        photo.type_requested = Some("UserPhoto".to_owned());
        add("get user photo", boxed(photo));
    }
    let versions = [
        ExchangeVersion::Exchange2007Sp1,
        ExchangeVersion::Exchange2010Sp2,
        ExchangeVersion::Exchange2013,
        ExchangeVersion::Exchange2013Sp1,
        ExchangeVersion::Exchange2016,
        ExchangeVersion::V2016_10_10,
    ];
    let sids = [
        None,
        Some(ConnectingSid::PrimarySmtpAddress(
            "mara@contoso.com".to_owned(),
        )),
        Some(ConnectingSid::SmtpAddress("mara@contoso.com".to_owned())),
        Some(ConnectingSid::PrincipalName("mara@contoso.com".to_owned())),
        Some(ConnectingSid::Sid("S-1-5-21-1-2-3-1104".to_owned())),
    ];
    for (what, body) in &bodies {
        for version in &versions {
            for sid in &sids {
                let mut header = SoapHeader::request(version.clone());
                if let Some(sid) = sid {
                    header = header.impersonating(sid.clone());
                }
                judge(&format!("{what}, {version:?}, {sid:?}"), body(&header));
            }
        }
    }
    // StatusEvent cannot be subscribed to: the schema's NotificationEventTypeType lacks it.
    let status = write_envelope(
        &SoapHeader::request(ExchangeVersion::Exchange2013),
        &Subscribe::streaming(vec![BaseFolderId::inbox()], vec![EventType::Status]),
    );
    assert!(matches!(
        check_envelope(schema, Profile::Exchange2019, &status),
        Err(RequestRefusal::SchemaViolation { .. })
    ));
}

fn refusal(body: &str) -> RequestRefusal {
    let schema = SCHEMA.as_ref().expect("compiles");
    check_envelope(schema, Profile::Exchange2019, body.as_bytes()).expect_err("refused")
}

fn envelope(header: &str, body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:m=\"{}\" xmlns:t=\"{}\">\n<s:Header>{header}</s:Header>\n<s:Body>{body}</s:Body>\n</s:Envelope>",
        super::MESSAGES,
        super::TYPES
    )
}

const UNSUBSCRIBE: &str = "<m:Unsubscribe><m:SubscriptionId>abc</m:SubscriptionId></m:Unsubscribe>";

#[test]
fn declared_headers_are_judged_and_others_ignored() {
    // A complete set of Exchange's request headers.
    let headers = r#"<t:RequestServerVersion Version="Exchange2013" s:mustUnderstand="1"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>mara@contoso.com</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation><t:MailboxCulture>en-US</t:MailboxCulture><t:TimeZoneContext><t:TimeZoneDefinition Id="UTC"/></t:TimeZoneContext><t:DateTimePrecision>Seconds</t:DateTimePrecision><x:Trace xmlns:x="urn:other">on</x:Trace>"#;
    let schema = SCHEMA.as_ref().expect("compiles");
    let ok = envelope(headers, UNSUBSCRIBE);
    assert_eq!(
        check_envelope(schema, Profile::Exchange2019, ok.as_bytes()),
        Ok("Unsubscribe".to_owned())
    );
    // An unknown header that must be understood.
    let must = r#"<x:Trace xmlns:x="urn:other" s:mustUnderstand="1">on</x:Trace>"#;
    assert_eq!(
        refusal(&envelope(must, UNSUBSCRIBE)),
        RequestRefusal::MustUnderstand {
            local: "Trace".to_owned(),
            namespace: "urn:other".to_owned()
        }
    );
    // ConnectingSID without an address.
    match refusal(&envelope(
        "<t:ExchangeImpersonation><t:ConnectingSID/></t:ExchangeImpersonation>",
        UNSUBSCRIBE,
    )) {
        RequestRefusal::SchemaViolation {
            line, violation, ..
        } => {
            assert_eq!(line, 2);
            assert!(
                violation.starts_with("The element 'ConnectingSID' in namespace"),
                "{violation}"
            );
            assert!(violation.contains("has incomplete content"), "{violation}");
        }
        other => panic!("{other:?}"),
    }
    match refusal(&envelope(
        "<t:DateTimePrecision>Minutes</t:DateTimePrecision>",
        UNSUBSCRIBE,
    )) {
        RequestRefusal::SchemaViolation { violation, .. } => {
            assert!(
                violation.ends_with("The Enumeration constraint failed."),
                "{violation}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The version attribute is required.
    match refusal(&envelope("<t:RequestServerVersion/>", UNSUBSCRIBE)) {
        RequestRefusal::SchemaViolation { violation, .. } => {
            assert_eq!(violation, "The required attribute 'Version' is missing.");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_envelope_is_soap_11s() {
    let no_body = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\n<s:Header/>\n</s:Envelope>";
    match refusal(no_body) {
        RequestRefusal::SchemaViolation {
            line,
            position,
            violation,
        } => {
            assert_eq!((line, position), (3, 3));
            assert!(violation.ends_with("List of possible elements expected: 'Body' in namespace 'http://schemas.xmlsoap.org/soap/envelope/'."), "{violation}");
        }
        other => panic!("{other:?}"),
    }
    let header_last = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/><s:Header/></s:Envelope>";
    assert!(
        matches!(
            refusal(header_last),
            RequestRefusal::SchemaViolation { position: 75, .. }
        ),
        "{:?}",
        refusal(header_last)
    );
    let two = envelope("", &format!("{UNSUBSCRIBE}{UNSUBSCRIBE}"));
    assert!(matches!(refusal(&two), RequestRefusal::InvalidRequest(_)));
    assert!(matches!(
        refusal(&envelope("", "")),
        RequestRefusal::InvalidRequest(_)
    ));
    // A response element is no operation.
    let response = envelope("", "<m:UnsubscribeResponse/>");
    assert!(matches!(
        refusal(&response),
        RequestRefusal::InvalidRequest(_)
    ));
    assert!(matches!(refusal("<Envelope/>"), RequestRefusal::VersionMismatch(ns) if ns.is_empty()));
    assert!(matches!(
        refusal("<!DOCTYPE x []><x/>"),
        RequestRefusal::Malformed { .. }
    ));
    assert!(matches!(
        refusal("<a><b></a>"),
        RequestRefusal::Malformed { line: 1, .. }
    ));
}

#[test]
fn the_curl_examples_are_valid_requests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/curl");
    for name in ["subscribe-streaming.xml", "get-streaming-events.xml"] {
        let body = std::fs::read(dir.join(name)).expect("example");
        let result = check(Profile::Exchange2019, &HeaderMap::new(), &body);
        assert!(result.is_ok(), "{name}: {result:?}");
    }
}

/// Every prefix of a valid request, and the request with each byte replaced by markup, is
/// judged without a panic; none of the damaged ones is accepted as the original operation
/// unless it is still well-formed and valid.
#[test]
fn damaged_requests_are_judged_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/ews");
    let original = std::fs::read(dir.join("subscribe-push-request.xml")).expect("vector");
    let mut refused = 0;
    for cut in 0..original.len() {
        if check(Profile::Exchange2019, &HeaderMap::new(), &original[..cut]).is_err() {
            refused += 1;
        }
    }
    // Only the prefixes that end after the closing tag (trailing white space) are whole.
    assert!(
        refused >= original.len() - 2,
        "{refused} of {}",
        original.len()
    );
    for at in 0..original.len() {
        for byte in [b'<', b'>', b'"', 0xC3, b'&'] {
            let mut damaged = original.clone();
            damaged[at] = byte;
            let _ = check(Profile::Exchange2019, &HeaderMap::new(), &damaged);
        }
    }
}

/// A full time zone, as the EWS Managed API sends it in `TimeZoneContext`: its transitions
/// are `ArrayOfTransitionsType`, the model libxml2 refuses as not deterministic; transitions
/// out of the first three particles' order are still valid through `Transition`'s
/// substitution group.
#[test]
fn time_zone_transitions_are_matched_though_not_deterministic() {
    let schema = SCHEMA.as_ref().expect("compiles");
    let day = |to: &str, month: u32| {
        format!(
            "<t:RecurringDayTransition><t:To Kind=\"Period\">{to}</t:To><t:TimeOffset>PT2H</t:TimeOffset>\
             <t:Month>{month}</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek><t:Occurrence>-1</t:Occurrence>\
             </t:RecurringDayTransition>"
        )
    };
    let absolute = "<t:AbsoluteDateTransition><t:To Kind=\"Group\">1</t:To><t:DateTime>2007-01-01T00:00:00</t:DateTime></t:AbsoluteDateTransition>";
    let zone = |transitions: &str| {
        format!(
            "<t:TimeZoneContext><t:TimeZoneDefinition Id=\"W. Europe Standard Time\" Name=\"(UTC+01:00) Amsterdam\">\
             <t:Periods><t:Period Bias=\"-PT1H\" Name=\"Standard\" Id=\"std\"/><t:Period Bias=\"-PT2H\" Name=\"Daylight\" Id=\"dst\"/></t:Periods>\
             <t:TransitionsGroups><t:TransitionsGroup Id=\"0\">{}{}</t:TransitionsGroup></t:TransitionsGroups>\
             <t:Transitions>{transitions}</t:Transitions>\
             </t:TimeZoneDefinition></t:TimeZoneContext>",
            day("dst", 3),
            day("std", 10)
        )
    };
    let valid = [
        "<t:Transition><t:To Kind=\"Group\">0</t:To></t:Transition>".to_owned(),
        format!("{absolute}{}", day("dst", 3)),
        // Out of the particles' order: only `Transition*` takes these.
        format!("{}{absolute}", day("dst", 3)),
    ];
    for transitions in valid {
        let body = envelope(&zone(&transitions), UNSUBSCRIBE);
        let result = check_envelope(schema, Profile::Exchange2019, body.as_bytes());
        assert_eq!(result, Ok("Unsubscribe".to_owned()), "{transitions}");
    }
    // A transition whose content is wrong is still refused, at the right element.
    let bad = "<t:RecurringDayTransition><t:To Kind=\"Period\">dst</t:To><t:Month>3</t:Month></t:RecurringDayTransition>";
    match refusal(&envelope(&zone(bad), UNSUBSCRIBE)) {
        RequestRefusal::SchemaViolation { violation, .. } => assert!(
            violation.contains("has invalid child element 'Month'")
                && violation.ends_with("List of possible elements expected: 'TimeOffset' in namespace 'http://schemas.microsoft.com/exchange/services/2006/types'."),
            "{violation}"
        ),
        other => panic!("{other:?}"),
    }
}

/// `FindMessageTrackingReport`'s content is an `xs:all`: any order, each at most once, the
/// required ones present. It passes validation and is then refused as not served.
#[test]
fn an_all_group_in_the_real_schema() {
    let in_any_order = "<m:FindMessageTrackingReport><m:Domain>contoso.com</m:Domain>\
        <m:Subject>hello</m:Subject><m:Scope>Organization</m:Scope></m:FindMessageTrackingReport>";
    assert!(matches!(
        refusal(&envelope("", in_any_order)),
        RequestRefusal::InvalidRequest(reason) if reason.contains("does not serve FindMessageTrackingReport")
    ));
    let twice = "<m:FindMessageTrackingReport><m:Domain>contoso.com</m:Domain>\
        <m:Scope>Organization</m:Scope><m:Domain>fabrikam.com</m:Domain></m:FindMessageTrackingReport>";
    match refusal(&envelope("", twice)) {
        RequestRefusal::SchemaViolation { violation, .. } => {
            assert!(
                violation.contains("has invalid child element 'Domain'"),
                "{violation}"
            );
        }
        other => panic!("{other:?}"),
    }
    let no_scope = "<m:FindMessageTrackingReport><m:Domain>contoso.com</m:Domain></m:FindMessageTrackingReport>";
    match refusal(&envelope("", no_scope)) {
        RequestRefusal::SchemaViolation { violation, .. } => assert!(
            violation.contains("has incomplete content") && violation.contains("'Scope"),
            "{violation}"
        ),
        other => panic!("{other:?}"),
    }
}
