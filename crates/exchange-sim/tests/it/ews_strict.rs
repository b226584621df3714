//! The simulator's strict request reader over the wire: one refused request per class of
//! refusal, each with Exchange's answer (HTTP status, response code, and for schema
//! violations the line and position of the offending node), and every request vector
//! accepted.

use crate::ews::MARA;
use crate::support::{self, Answer, Ews};

const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
const T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

/// A request whose body starts on line 5, each body line at column 1.
fn request(version: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <s:Envelope xmlns:s=\"{SOAP}\" xmlns:m=\"{M}\" xmlns:t=\"{T}\">\n\
         <s:Header><t:RequestServerVersion Version=\"{version}\"/></s:Header>\n\
         <s:Body>\n\
         {body}\n\
         </s:Body>\n\
         </s:Envelope>"
    )
}

fn subscribe(folder_ids: &str, event_types: &str) -> String {
    format!(
        "<m:Subscribe>\n\
         <m:StreamingSubscriptionRequest>\n\
         {folder_ids}\n\
         {event_types}\n\
         </m:StreamingSubscriptionRequest>\n\
         </m:Subscribe>"
    )
}

const INBOX: &str = r#"<t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>"#;
const NEW_MAIL: &str = "<t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes>";

/// What a SOAP fault says: faultcode, e:ResponseCode, and t:MessageXml's line, position and
/// violation when present.
#[derive(Debug)]
struct Fault {
    code: String,
    fault_string: Option<String>,
    response_code: Option<String>,
    message_xml: Option<(u32, u32, String)>,
}

fn fault(answer: &Answer) -> Fault {
    assert_eq!(answer.status, 500, "{}", answer.text());
    let text = answer.text();
    let doc = roxmltree::Document::parse(&text).expect("the fault is XML");
    let find = |ns: Option<&str>, local: &str| {
        doc.descendants()
            .find(|n| n.tag_name().name() == local && n.tag_name().namespace() == ns)
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    let envelope = doc.root_element();
    assert_eq!(envelope.tag_name().namespace(), Some(SOAP), "{text}");
    let errors = Some("http://schemas.microsoft.com/exchange/services/2006/errors");
    let message_xml = find(Some(T), "LineNumber").map(|line| {
        (
            line.parse().expect("LineNumber"),
            find(Some(T), "LinePosition")
                .and_then(|p| p.parse().ok())
                .expect("LinePosition"),
            find(Some(T), "Violation").expect("Violation"),
        )
    });
    Fault {
        code: find(None, "faultcode").expect("faultcode"),
        fault_string: find(None, "faultstring"),
        response_code: find(errors, "ResponseCode"),
        message_xml,
    }
}

fn schema_violation(answer: &Answer) -> (u32, u32, String) {
    let f = fault(answer);
    assert_eq!(f.code, "a:ErrorSchemaValidation", "{f:?}");
    assert_eq!(f.response_code.as_deref(), Some("ErrorSchemaValidation"));
    let violation = f.message_xml.expect("t:MessageXml");
    // The faultstring carries the same violation after Exchange's lead-in.
    assert_eq!(
        f.fault_string,
        Some(format!(
            "The request failed schema validation: {}",
            violation.2
        )),
        "{}",
        answer.text()
    );
    violation
}

async fn mara(sim: &exchange_sim::Sim) -> Ews<'static> {
    let mut ews = Ews::new(sim, MARA);
    ews.basic = Some((MARA, "Mara-Pa55"));
    ews
}

#[tokio::test]
async fn children_out_of_order_are_a_schema_violation() {
    let sim = support::start().await;
    let answer = mara(&sim)
        .await
        .post(request("Exchange2013", &subscribe(NEW_MAIL, INBOX)))
        .await;
    assert_eq!(
        schema_violation(&answer),
        (
            8,
            2,
            format!(
                "The element 'StreamingSubscriptionRequest' in namespace '{M}' has invalid child element 'FolderIds' in namespace '{T}'."
            )
        )
    );
}

#[tokio::test]
async fn a_missing_required_element_is_a_schema_violation() {
    let sim = support::start().await;
    let answer = mara(&sim)
        .await
        .post(request("Exchange2013", &subscribe(INBOX, "")))
        .await;
    // Reported at the end tag of the incomplete element (line 9: `</m:StreamingSubscriptionRequest>`).
    assert_eq!(
        schema_violation(&answer),
        (
            9,
            3,
            format!(
                "The element 'StreamingSubscriptionRequest' in namespace '{M}' has incomplete content. List of possible elements expected: 'EventTypes' in namespace '{T}'."
            )
        )
    );
}

#[tokio::test]
async fn a_missing_required_attribute_is_a_schema_violation() {
    let sim = support::start().await;
    let folder = "<t:FolderIds><t:DistinguishedFolderId/></t:FolderIds>";
    let answer = mara(&sim)
        .await
        .post(request("Exchange2013", &subscribe(folder, NEW_MAIL)))
        .await;
    assert_eq!(
        schema_violation(&answer),
        (7, 15, "The required attribute 'Id' is missing.".to_owned())
    );
}

#[tokio::test]
async fn an_unknown_distinguished_folder_is_a_schema_violation() {
    let sim = support::start().await;
    let folder = r#"<t:FolderIds><t:DistinguishedFolderId Id="nosuchfolder"/></t:FolderIds>"#;
    let answer = mara(&sim)
        .await
        .post(request("Exchange2013", &subscribe(folder, NEW_MAIL)))
        .await;
    assert_eq!(
        schema_violation(&answer),
        (
            7,
            39,
            format!(
                "The 'Id' attribute is invalid - The value 'nosuchfolder' is invalid according to its datatype '{T}:DistinguishedFolderIdNameType' - The Enumeration constraint failed."
            )
        )
    );
}

#[tokio::test]
async fn an_unknown_event_type_is_a_schema_violation() {
    let sim = support::start().await;
    let events = "<t:EventTypes><t:EventType>NewMail</t:EventType></t:EventTypes>";
    let answer = mara(&sim)
        .await
        .post(request("Exchange2013", &subscribe(INBOX, events)))
        .await;
    // At the element's end tag, where .NET judges its value.
    assert_eq!(
        schema_violation(&answer),
        (
            8,
            37,
            format!(
                "The '{T}:EventType' element is invalid - The value 'NewMail' is invalid according to its datatype '{T}:NotificationEventTypeType' - The Enumeration constraint failed."
            )
        )
    );
}

#[tokio::test]
async fn an_unknown_server_version_is_refused_as_invalid() {
    let sim = support::start().await;
    let ews = mara(&sim).await;
    let answer = ews
        .post(request("Exchange2019", &subscribe(INBOX, NEW_MAIL)))
        .await;
    let f = fault(&answer);
    assert_eq!(f.code, "a:ErrorInvalidServerVersion", "{f:?}");
    assert_eq!(
        f.response_code.as_deref(),
        Some("ErrorInvalidServerVersion")
    );
    assert!(f.message_xml.is_none());
    // The same request with a version Exchange 2019 knows is served.
    let ok = ews
        .post(request("Exchange2016", &subscribe(INBOX, NEW_MAIL)))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[tokio::test]
async fn exchange_2013_does_not_know_exchange_2016() {
    let mut scenario = support::scenario();
    scenario.profile = exchange_sim::scenario::Profile::Exchange2013;
    let sim = support::start_with(scenario).await;
    let answer = mara(&sim)
        .await
        .post(request("Exchange2016", &subscribe(INBOX, NEW_MAIL)))
        .await;
    assert_eq!(fault(&answer).code, "a:ErrorInvalidServerVersion");
}

#[tokio::test]
async fn an_operation_the_simulator_does_not_serve_is_an_invalid_request() {
    let sim = support::start().await;
    let ews = mara(&sim).await;
    // FindItem is valid EWS; the simulator does not serve it.
    let find_item = "<m:FindItem Traversal=\"Shallow\">\n\
        <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>\n\
        <m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds>\n\
        </m:FindItem>";
    let f = fault(&ews.post(request("Exchange2013", find_item)).await);
    assert_eq!(f.code, "a:ErrorInvalidRequest", "{f:?}");
    assert_eq!(f.response_code.as_deref(), Some("ErrorInvalidRequest"));
    // A body that is no EWS operation at all.
    let f = fault(&ews.post(request("Exchange2013", "<m:Nonsense/>")).await);
    assert_eq!(f.response_code.as_deref(), Some("ErrorInvalidRequest"));
    // An unserved operation that is also invalid fails validation first, as in Exchange.
    let answer = ews
        .post(request(
            "Exchange2013",
            "<m:FindItem Traversal=\"Shallow\"/>",
        ))
        .await;
    assert_eq!(
        schema_violation(&answer),
        (
            5,
            2,
            format!(
                "The element 'FindItem' in namespace '{M}' has incomplete content. List of possible elements expected: 'ItemShape' in namespace '{M}'."
            )
        )
    );
}

#[tokio::test]
async fn a_soap_12_envelope_is_a_version_mismatch() {
    let sim = support::start().await;
    let body = request("Exchange2013", &subscribe(INBOX, NEW_MAIL))
        .replace(SOAP, "http://www.w3.org/2003/05/soap-envelope");
    let f = fault(&mara(&sim).await.post(body).await);
    assert_eq!(f.code, "s:VersionMismatch", "{f:?}");
    assert_eq!(f.response_code, None);
}

#[tokio::test]
async fn soap_12_media_type_is_unsupported() {
    let sim = support::start().await;
    let ews = mara(&sim).await;
    let response = ews
        .client
        .post(&ews.url)
        .basic_auth(MARA, Some("Mara-Pa55"))
        .header("Content-Type", "application/soap+xml; charset=utf-8")
        .body(request("Exchange2013", &subscribe(INBOX, NEW_MAIL)))
        .send()
        .await
        .expect("EWS answers");
    assert_eq!(response.status().as_u16(), 415);
}

#[tokio::test]
async fn xml_that_is_not_well_formed_is_refused_where_reading_stopped() {
    let sim = support::start().await;
    let body = request("Exchange2013", &subscribe(INBOX, NEW_MAIL))
        .replace("</m:Subscribe>", "</m:Subscribed>");
    let (line, position, _) = schema_violation(&mara(&sim).await.post(body).await);
    assert_eq!((line, position), (10, 1));
}

/// Every request in the shared vectors is valid EWS: none is refused by the reader (the
/// answers themselves are the vector replays' business).
#[tokio::test]
async fn every_request_vector_passes_the_strict_reader() {
    let sim = support::start().await;
    let ews = mara(&sim).await.header("X-AnchorMailbox", MARA);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/ews");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("vectors/ews")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("-request.xml") && !n.starts_with("getstreamingevents"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let answer = ews.post(support::vector(&format!("ews/{name}"))).await;
        let text = answer.text();
        for refusal in [
            "ErrorSchemaValidation",
            "ErrorInvalidRequest",
            "ErrorInvalidServerVersion",
        ] {
            assert!(!text.contains(refusal), "{name}: {text}");
        }
        assert_eq!(answer.status, 200, "{name}: {text}");
    }
}

#[tokio::test]
async fn an_unknown_header_that_must_be_understood_is_refused() {
    let sim = support::start().await;
    let body = request("Exchange2013", &subscribe(INBOX, NEW_MAIL)).replace(
        "</s:Header>",
        "<x:Trace xmlns:x=\"urn:example\" s:mustUnderstand=\"1\">on</x:Trace></s:Header>",
    );
    let f = fault(&mara(&sim).await.post(body).await);
    assert_eq!(f.code, "s:MustUnderstand", "{f:?}");
    // Without mustUnderstand the same header is ignored, as SOAP allows.
    let ignored = request("Exchange2013", &subscribe(INBOX, NEW_MAIL)).replace(
        "</s:Header>",
        "<x:Trace xmlns:x=\"urn:example\">on</x:Trace></s:Header>",
    );
    let answer = mara(&sim).await.post(ignored).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}
