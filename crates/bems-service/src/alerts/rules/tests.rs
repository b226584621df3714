use super::*;

fn ts(text: &str) -> Timestamp {
    text.parse().expect("test timestamp")
}

fn rules(json: &str) -> AlertRules {
    match AlertRules::from_json(json) {
        Ok(rules) => rules,
        Err(err) => panic!("{json} refused: {err}"),
    }
}

fn refused(json: &str) -> String {
    match AlertRules::from_json(json) {
        Ok(_) => panic!("{json} accepted"),
        Err(err) => err.to_string(),
    }
}

fn from(sender: &str) -> MailFacts<'_> {
    MailFacts::new(Some(sender), false)
}

const ANON: MailFacts<'static> = MailFacts {
    from: None,
    important: false,
};

/// A plausible EWS folder id (base64, padded).
const FOLDER_ID: &str = "AAMkADk0ZDQ4YjI5LTc3ZWMtNDAxMy1hNzBmLWE3ZDk4MzBkYTdjNgAuAAAAAAA=";

fn is_quiet(rules: &AlertRules, at: &str) -> bool {
    rules
        .quiet_hours()
        .is_some_and(|quiet| quiet.contains(ts(at)))
}

fn quiet(from: &str, to: &str, days: &str, zone: &str) -> AlertRules {
    rules(&format!(
        r#"{{"quiet_hours": {{"from": "{from}", "to": "{to}", "days": {days}, "time_zone": "{zone}"}}}}"#
    ))
}

#[test]
fn empty_document_is_no_rules() {
    let rules = rules("{}");
    assert!(rules.folders().is_empty());
    assert!(!rules.important() && rules.quiet_hours().is_none() && rules.mute().is_none());
    let now = ts("2026-12-09T08:00:00Z");
    assert_eq!(rules.evaluate(&from("ceo@contoso.com"), now), Level::Normal);
    assert_eq!(
        rules.evaluate(&MailFacts::new(None, true), now),
        Level::Normal
    );
    // null is the same as leaving the key out.
    let nulls =
        r#"{"vip": null, "important": null, "folders": null, "quiet_hours": null, "mute": null}"#;
    let nulls = AlertRules::from_json(nulls).expect("nulls");
    assert_eq!(
        nulls.evaluate(&MailFacts::new(None, true), now),
        Level::Normal
    );
    assert!(nulls.mute().is_none() && nulls.quiet_hours().is_none());
}

#[test]
fn full_example_reads_every_rule() {
    let doc = format!(
        r#"{{"vip": ["ceo@contoso.com", "@board.contoso.com"], "important": true,
            "folders": ["inbox", "sentitems", "{FOLDER_ID}"],
            "quiet_hours": {{"from": "22:00", "to": "07:00",
                "days": ["mon","tue","wed","thu","fri","sat","sun"],
                "time_zone": "Europe/Zurich", "vip_break_through": false}},
            "mute": {{"until": "2026-12-09T08:00:00Z"}}}}"#
    );
    let rules = rules(&doc);
    assert_eq!(
        rules.folders(),
        [
            FolderName::Distinguished(DistinguishedFolder::SentItems),
            FolderName::Id(FOLDER_ID.to_owned()),
        ]
    );
    assert!(rules.important());
    let quiet = rules.quiet_hours().expect("quiet hours");
    assert_eq!(
        (quiet.from(), quiet.to()),
        (Time::constant(22, 0, 0, 0), Time::constant(7, 0, 0, 0))
    );
    assert_eq!(quiet.time_zone().1, "Europe/Zurich");
    assert!(!quiet.vip_break_through());
    assert!(DAYS.iter().all(|(_, day)| quiet.starts_on(*day)));
    assert_eq!(rules.mute(), Some(Mute::Until(ts("2026-12-09T08:00:00Z"))));
    // Muted before 08:00Z; after it, 10:00 in Zurich is outside quiet hours.
    assert_eq!(
        rules.evaluate(&from("ceo@contoso.com"), ts("2026-12-09T07:59:59Z")),
        Level::Silent
    );
    assert_eq!(
        rules.evaluate(&from("ceo@contoso.com"), ts("2026-12-09T09:00:00Z")),
        Level::Raised
    );
    assert_eq!(
        rules.evaluate(&from("x@fabrikam.com"), ts("2026-12-09T09:00:00Z")),
        Level::Normal
    );
    assert_eq!(
        rules.folders()[1].to_base_folder_id(),
        BaseFolderId::Folder(FolderId::new(FOLDER_ID))
    );
}

#[test]
fn vip_matches_addresses_and_exact_domains_in_any_case() {
    let rules = rules(r#"{"vip": ["CEO@Contoso.com", "@board.contoso.com"]}"#);
    assert!(rules.is_vip("ceo@contoso.com"));
    assert!(rules.is_vip("Ceo@CONTOSO.COM"));
    assert!(rules.is_vip("x@board.contoso.com"));
    assert!(rules.is_vip("X@Board.Contoso.Com"));
    assert!(!rules.is_vip("x@notboard.contoso.com"));
    assert!(!rules.is_vip("x@sub.board.contoso.com"));
    assert!(!rules.is_vip("cfo@contoso.com"));
    assert!(!rules.is_vip("board.contoso.com"));
    assert!(!rules.is_vip("ceo@contoso.com.evil.example"));
    let now = ts("2026-12-09T08:00:00Z");
    assert_eq!(
        rules.evaluate(&from("x@board.contoso.com"), now),
        Level::Raised
    );
    assert_eq!(
        rules.evaluate(&ANON, now),
        Level::Normal,
        "an unknown sender is never VIP"
    );
}

#[test]
fn vip_errors_name_the_entry() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"vip": "ceo@contoso.com"}"#,
            "vip: expected an array, found a string",
        ),
        (
            r#"{"vip": [42]}"#,
            "vip[0]: expected a string, found a number",
        ),
        (
            r#"{"vip": ["a@b.c", ""]}"#,
            "vip[1]: empty; give an address or @domain",
        ),
        (
            r#"{"vip": ["ceo contoso.com"]}"#,
            r#"vip[0]: "ceo contoso.com" contains a space or control character"#,
        ),
        (
            r#"{"vip": ["ceo@contoso.com\n"]}"#,
            r#"vip[0]: "ceo@contoso.com\n" contains a space or control character"#,
        ),
        (
            r#"{"vip": ["ceo.contoso.com"]}"#,
            r#"vip[0]: "ceo.contoso.com" has no @ (an address, or @domain)"#,
        ),
        (
            r#"{"vip": ["a@b@c.com"]}"#,
            r#"vip[0]: "a@b@c.com" has more than one @"#,
        ),
        (
            r#"{"vip": ["ceo@"]}"#,
            r#"vip[0]: "ceo@" has no valid domain after @"#,
        ),
        (
            r#"{"vip": ["@"]}"#,
            r#"vip[0]: "@" has no valid domain after @"#,
        ),
        (
            r#"{"vip": ["@contoso..com"]}"#,
            r#"vip[0]: "@contoso..com" has no valid domain after @"#,
        ),
        (
            r#"{"vip": ["ceo@contoso.com."]}"#,
            r#"vip[0]: "ceo@contoso.com." has no valid domain after @"#,
        ),
        (
            r#"{"vip": ["Ceo <ceo@contoso.com>"]}"#,
            r#"vip[0]: "Ceo <ceo@contoso.com>" contains a space or control character"#,
        ),
        (
            r#"{"vip": ["a@b.com,c@d.com"]}"#,
            r#"vip[0]: "a@b.com,c@d.com" is not one bare address or @domain"#,
        ),
        (
            r#"{"vip": ["ceo@contoso.com", "CEO@CONTOSO.COM"]}"#,
            r#"vip[1]: "CEO@CONTOSO.COM" repeats vip[0]"#,
        ),
    ];
    for (doc, expected) in cases {
        assert_eq!(refused(doc), *expected, "{doc}");
    }
    let long = format!(
        r#"{{"vip": ["{}@contoso.com"]}}"#,
        "a".repeat(MAX_VIP_CHARS)
    );
    assert_eq!(
        refused(&long),
        "vip[0]: 332 characters, more than the 320 allowed"
    );
    let longest = format!(
        r#"{{"vip": ["{}@contoso.com"]}}"#,
        "a".repeat(MAX_VIP_CHARS - 12)
    );
    assert!(
        AlertRules::from_json(&longest).is_ok(),
        "320 characters is allowed"
    );
    let list = |n: usize| {
        let entries: Vec<String> = (0..n).map(|i| format!("\"u{i}@contoso.com\"")).collect();
        format!(r#"{{"vip": [{}]}}"#, entries.join(","))
    };
    assert!(rules(&list(MAX_VIP)).is_vip("u199@contoso.com"));
    assert_eq!(
        refused(&list(MAX_VIP + 1)),
        "vip: 201 entries, more than the 200 allowed"
    );
}

#[test]
fn important_raises_only_when_asked() {
    let now = ts("2026-12-09T08:00:00Z");
    let on = rules(r#"{"important": true}"#);
    let off = rules(r#"{"important": false}"#);
    let important = MailFacts::new(Some("x@fabrikam.com"), true);
    assert_eq!(on.evaluate(&important, now), Level::Raised);
    assert_eq!(on.evaluate(&from("x@fabrikam.com"), now), Level::Normal);
    assert_eq!(off.evaluate(&important, now), Level::Normal);
    assert_eq!(
        refused(r#"{"important": "yes"}"#),
        "important: expected true/false, found a string"
    );
    assert_eq!(
        refused(r#"{"important": 1}"#),
        "important: expected true/false, found a number"
    );
}

#[test]
fn folders_accept_mail_folders_and_ids_only() {
    let rules = rules(&format!(
        r#"{{"folders": ["junkemail", "inbox", "deleteditems", "{FOLDER_ID}"]}}"#
    ));
    let names: Vec<&str> = rules.folders().iter().map(FolderName::as_str).collect();
    assert_eq!(
        names,
        ["junkemail", "deleteditems", FOLDER_ID],
        "inbox is ignored"
    );
    let allowed = "(inbox, sentitems, deleteditems, junkemail, or a folder id)";
    let cases = [
        (
            r#"{"folders": ["calendar"]}"#.to_owned(),
            format!(
                r#"folders[0]: "calendar" is not a mail folder this service watches {allowed}"#
            ),
        ),
        (
            r#"{"folders": ["Inbox"]}"#.to_owned(),
            format!(r#"folders[0]: "Inbox": folder names are lower-case {allowed}"#),
        ),
        (
            r#"{"folders": ["Junk"]}"#.to_owned(),
            format!(
                r#"folders[0]: "Junk" is not a folder id (24 to 512 characters) nor a name {allowed}"#
            ),
        ),
        (
            r#"{"folders": ["AAMkADk0ZDQ4YjI5LTc3ZWMtNDAx!!"]}"#.to_owned(),
            format!(
                r#"folders[0]: "AAMkADk0ZDQ4YjI5LTc3ZWMtNDAx!!" is not a folder id (base64) nor a name {allowed}"#
            ),
        ),
        (
            format!(r#"{{"folders": ["{}"]}}"#, "A".repeat(516)),
            format!(
                r#"folders[0]: "{}"... is not a folder id (24 to 512 characters) nor a name {allowed}"#,
                "A".repeat(64)
            ),
        ),
        (
            r#"{"folders": ["sentitems", "sentitems"]}"#.to_owned(),
            r#"folders[1]: "sentitems" repeats folders[0]"#.to_owned(),
        ),
        (
            r#"{"folders": ["inbox", "inbox"]}"#.to_owned(),
            r#"folders[1]: "inbox" repeats folders[0]"#.to_owned(),
        ),
        (
            r#"{"folders": [null]}"#.to_owned(),
            "folders[0]: expected a string, found null".to_owned(),
        ),
        (
            r#"{"folders": {"inbox": true}}"#.to_owned(),
            "folders: expected an array, found an object".to_owned(),
        ),
    ];
    for (doc, expected) in cases {
        assert_eq!(refused(&doc), expected, "{doc}");
    }
    // 512 characters of base64 is the longest id.
    assert!(AlertRules::from_json(&format!(r#"{{"folders": ["{}"]}}"#, "A".repeat(512))).is_ok());
}

#[test]
fn at_most_nineteen_folders_besides_the_inbox() {
    let id = |i: usize| {
        base64::engine::general_purpose::STANDARD.encode(format!("folder-{i:02}-of-the-mailbox"))
    };
    let ids = |n: usize| -> Vec<String> { (0..n).map(|i| format!("\"{}\"", id(i))).collect() };
    let doc = |entries: Vec<String>| format!(r#"{{"folders": [{}]}}"#, entries.join(","));
    assert_eq!(rules(&doc(ids(19))).folders().len(), 19);
    let mut with_inbox = ids(19);
    with_inbox.push("\"inbox\"".into());
    assert_eq!(
        rules(&doc(with_inbox)).folders().len(),
        19,
        "the inbox does not count"
    );
    let expected = "folders: 20 folders, more than the 19 allowed besides the inbox";
    assert_eq!(refused(&doc(ids(20))), expected);
    assert_eq!(
        refused(&doc(ids(21))),
        "folders: 21 folders, more than the 19 allowed besides the inbox"
    );
}

#[test]
fn quiet_hours_errors_name_the_key() {
    let qh = |body: &str| format!(r#"{{"quiet_hours": {{{body}}}}}"#);
    let zone = r#""time_zone": "Europe/Zurich""#;
    let cases = [
        (
            qh(&format!(r#""from": "25:00", "to": "07:00", {zone}"#)),
            r#"quiet_hours.from: "25:00" is not a time HH:MM"#,
        ),
        (
            qh(&format!(r#""from": "7:00", "to": "08:00", {zone}"#)),
            r#"quiet_hours.from: "7:00" is not a time HH:MM"#,
        ),
        (
            qh(&format!(r#""from": "22:00", "to": "07:60", {zone}"#)),
            r#"quiet_hours.to: "07:60" is not a time HH:MM"#,
        ),
        (
            qh(&format!(r#""from": "22:00", "to": "07:00:00", {zone}"#)),
            r#"quiet_hours.to: "07:00:00" is not a time HH:MM"#,
        ),
        (
            qh(&format!(r#""from": "２２:00", "to": "07:00", {zone}"#)),
            r#"quiet_hours.from: "２２:00" is not a time HH:MM"#,
        ),
        (
            qh(&format!(r#""from": 22, "to": "07:00", {zone}"#)),
            "quiet_hours.from: expected a string, found a number",
        ),
        (
            qh(&format!(r#""from": "22:00", "to": "22:00", {zone}"#)),
            "quiet_hours.to: the same as quiet_hours.from: a span must not be empty nor a whole day",
        ),
        (
            qh(&format!(r#""to": "07:00", {zone}"#)),
            "quiet_hours.from: required",
        ),
        (
            qh(&format!(r#""from": "22:00", {zone}"#)),
            "quiet_hours.to: required",
        ),
        (
            qh(r#""from": "22:00", "to": "07:00""#),
            r#"quiet_hours.time_zone: required (an IANA name such as "Europe/Zurich")"#,
        ),
        (
            qh(r#""from": "22:00", "to": "07:00", "time_zone": "Europe/Zürich""#),
            r#"quiet_hours.time_zone: "Europe/Zürich" is not an IANA time zone name (such as "Europe/Zurich")"#,
        ),
        (
            qh(r#""from": "22:00", "to": "07:00", "time_zone": "Mars/Olympus""#),
            r#"quiet_hours.time_zone: "Mars/Olympus" is not an IANA time zone name (such as "Europe/Zurich")"#,
        ),
        (
            qh(r#""from": "22:00", "to": "07:00", "time_zone": "../../etc/passwd""#),
            r#"quiet_hours.time_zone: "../../etc/passwd" is not an IANA time zone name (such as "Europe/Zurich")"#,
        ),
        (
            qh(&format!(
                r#""from": "22:00", "to": "07:00", "days": ["Mon"], {zone}"#
            )),
            r#"quiet_hours.days[0]: "Mon" is not a day (mon, tue, wed, thu, fri, sat, sun)"#,
        ),
        (
            qh(&format!(
                r#""from": "22:00", "to": "07:00", "days": ["mon", "mon"], {zone}"#
            )),
            r#"quiet_hours.days[1]: "mon" is listed twice"#,
        ),
        (
            qh(&format!(
                r#""from": "22:00", "to": "07:00", "days": [], {zone}"#
            )),
            "quiet_hours.days: empty; list at least one day, or remove quiet_hours",
        ),
        (
            qh(&format!(
                r#""from": "22:00", "to": "07:00", "days": "mon", {zone}"#
            )),
            "quiet_hours.days: expected an array, found a string",
        ),
        (
            qh(&format!(
                r#""from": "22:00", "to": "07:00", "vip_break_through": "no", {zone}"#
            )),
            "quiet_hours.vip_break_through: expected true/false, found a string",
        ),
        (
            qh(&format!(r#""from": "22:00", "until": "07:00", {zone}"#)),
            "quiet_hours.until: unknown key (expected from, to, days, time_zone, vip_break_through)",
        ),
        (
            r#"{"quiet_hours": ["22:00", "07:00"]}"#.to_owned(),
            "quiet_hours: expected an object, found an array",
        ),
    ];
    for (doc, expected) in cases {
        assert_eq!(refused(&doc), expected, "{doc}");
    }
}

#[test]
fn quiet_hours_over_midnight_with_boundaries() {
    // Zurich in December is UTC+1. 2026-12-04 is a Friday.
    let rules = quiet("22:00", "07:00", "[\"fri\"]", "Europe/Zurich");
    let mail = from("x@fabrikam.com");
    let level = |at: &str| rules.evaluate(&mail, ts(at));
    assert_eq!(level("2026-12-04T20:59:59Z"), Level::Normal, "Fri 21:59:59");
    assert_eq!(
        level("2026-12-04T21:00:00Z"),
        Level::Silent,
        "Fri 22:00: from is inclusive"
    );
    assert_eq!(
        level("2026-12-04T23:30:00Z"),
        Level::Silent,
        "Sat 00:30 belongs to Friday's span"
    );
    assert_eq!(level("2026-12-05T05:59:59Z"), Level::Silent, "Sat 06:59:59");
    assert_eq!(
        level("2026-12-05T06:00:00Z"),
        Level::Normal,
        "Sat 07:00: to is exclusive"
    );
    assert_eq!(
        level("2026-12-05T21:30:00Z"),
        Level::Normal,
        "Sat 22:30: Saturday is not listed"
    );
    assert_eq!(
        level("2026-12-06T05:00:00Z"),
        Level::Normal,
        "Sun 06:00: Saturday's span is not"
    );
    // A span within one day.
    let day = quiet("12:00", "13:30", "[\"fri\"]", "Europe/Zurich");
    assert!(!is_quiet(&day, "2026-12-04T10:59:00Z"));
    assert!(is_quiet(&day, "2026-12-04T11:00:00Z"));
    assert!(is_quiet(&day, "2026-12-04T12:29:59Z"));
    assert!(!is_quiet(&day, "2026-12-04T12:30:00Z"));
    assert!(!is_quiet(&day, "2026-12-05T11:30:00Z"), "Saturday");
}

#[test]
fn days_default_to_every_day() {
    let rules = quiet("22:00", "07:00", "null", "UTC");
    for day in 1..=7 {
        let evening = format!("2026-12-{:02}T23:00:00Z", day);
        assert!(is_quiet(&rules, &evening), "{evening}");
        let noon = format!("2026-12-{:02}T12:00:00Z", day);
        assert!(!is_quiet(&rules, &noon), "{noon}");
    }
}

#[test]
fn quiet_hours_follow_the_spring_change_in_zurich() {
    // 2026-03-29 (Sunday) 02:00 CET becomes 03:00 CEST, at 01:00Z.
    let night = quiet("22:00", "07:00", "[\"sat\"]", "Europe/Zurich");
    assert!(is_quiet(&night, "2026-03-28T21:00:00Z"), "Sat 22:00 CET");
    assert!(
        is_quiet(&night, "2026-03-29T04:59:59Z"),
        "Sun 06:59:59 CEST"
    );
    assert!(
        !is_quiet(&night, "2026-03-29T05:00:00Z"),
        "Sun 07:00 CEST, not 06:00 CET"
    );
    // A start inside the gap (02:30 does not exist) moves forward by the gap: 03:30 CEST.
    let gap = quiet("02:30", "06:00", "[\"sun\"]", "Europe/Zurich");
    assert!(!is_quiet(&gap, "2026-03-29T01:15:00Z"), "03:15 CEST");
    assert!(is_quiet(&gap, "2026-03-29T01:30:00Z"), "03:30 CEST");
    assert!(!is_quiet(&gap, "2026-03-29T04:00:00Z"), "06:00 CEST");
    // An end inside the gap moves forward too.
    let end_in_gap = quiet("01:00", "02:30", "[\"sun\"]", "Europe/Zurich");
    assert!(is_quiet(&end_in_gap, "2026-03-29T00:59:00Z"), "01:59 CET");
    assert!(is_quiet(&end_in_gap, "2026-03-29T01:29:00Z"), "03:29 CEST");
    assert!(!is_quiet(&end_in_gap, "2026-03-29T01:30:00Z"), "03:30 CEST");
}

#[test]
fn quiet_hours_follow_the_autumn_change_in_zurich() {
    // 2026-10-25 (Sunday) 03:00 CEST becomes 02:00 CET, at 01:00Z: 02:00-03:00 happens twice.
    let night = quiet("22:00", "07:00", "[\"sat\"]", "Europe/Zurich");
    assert!(
        !is_quiet(&night, "2026-10-24T19:59:59Z"),
        "Sat 21:59:59 CEST"
    );
    assert!(is_quiet(&night, "2026-10-24T20:00:00Z"), "Sat 22:00 CEST");
    assert!(is_quiet(&night, "2026-10-25T05:59:59Z"), "Sun 06:59:59 CET");
    assert!(!is_quiet(&night, "2026-10-25T06:00:00Z"), "Sun 07:00 CET");
    // An end in the fold is its first occurrence; the span does not come back at 02:00 CET.
    let fold = quiet("23:00", "02:30", "[\"sat\"]", "Europe/Zurich");
    assert!(is_quiet(&fold, "2026-10-25T00:29:59Z"), "02:29:59 CEST");
    assert!(!is_quiet(&fold, "2026-10-25T00:30:00Z"), "02:30 CEST");
    assert!(
        !is_quiet(&fold, "2026-10-25T01:15:00Z"),
        "02:15 CET, second pass"
    );
    // A start in the fold is its first occurrence.
    let start = quiet("02:30", "05:00", "[\"sun\"]", "Europe/Zurich");
    assert!(!is_quiet(&start, "2026-10-25T00:29:59Z"), "02:29:59 CEST");
    assert!(is_quiet(&start, "2026-10-25T00:30:00Z"), "02:30 CEST");
    assert!(is_quiet(&start, "2026-10-25T01:15:00Z"), "02:15 CET");
    assert!(!is_quiet(&start, "2026-10-25T04:00:00Z"), "05:00 CET");
}

#[test]
fn quiet_hours_far_from_utc_use_the_local_day() {
    // Auckland in December is UTC+13: Monday 22:00 NZDT is Monday 09:00Z. 2026-12-07 is a Monday.
    let rules = quiet("22:00", "07:00", "[\"mon\"]", "Pacific/Auckland");
    assert!(
        !is_quiet(&rules, "2026-12-07T08:59:59Z"),
        "Mon 21:59:59 NZDT"
    );
    assert!(is_quiet(&rules, "2026-12-07T09:00:00Z"), "Mon 22:00 NZDT");
    assert!(
        is_quiet(&rules, "2026-12-07T17:59:59Z"),
        "Tue 06:59:59 NZDT"
    );
    assert!(!is_quiet(&rules, "2026-12-07T18:00:00Z"), "Tue 07:00 NZDT");
    assert!(
        !is_quiet(&rules, "2026-12-08T09:30:00Z"),
        "Tue 22:30 NZDT: not listed"
    );
    // Tuesday 06:00 NZDT is still Monday 17:00 in UTC: the local day decides, not the UTC one.
    let morning = quiet("06:00", "09:00", "[\"tue\"]", "Pacific/Auckland");
    assert!(is_quiet(&morning, "2026-12-07T17:00:00Z"), "Tue 06:00 NZDT");
    assert!(
        !is_quiet(&morning, "2026-12-08T17:00:00Z"),
        "Wed 06:00 NZDT"
    );
    assert!(
        !is_quiet(&morning, "2026-12-06T17:00:00Z"),
        "Mon 06:00 NZDT"
    );
}

#[test]
fn quiet_hours_silence_all_but_vips_who_break_through() {
    let doc = |through: bool| {
        format!(
            r#"{{"vip": ["ceo@contoso.com"], "important": true, "quiet_hours": {{"from": "22:00",
                "to": "07:00", "time_zone": "UTC", "vip_break_through": {through}}}}}"#
        )
    };
    let night = ts("2026-12-09T23:00:00Z");
    let ceo = from("ceo@contoso.com");
    let important = MailFacts::new(Some("x@fabrikam.com"), true);
    let strict = rules(&doc(false));
    assert_eq!(strict.evaluate(&ceo, night), Level::Silent);
    assert_eq!(strict.evaluate(&important, night), Level::Silent);
    let through = rules(&doc(true));
    assert_eq!(through.evaluate(&ceo, night), Level::Raised);
    assert_eq!(
        through.evaluate(&important, night),
        Level::Silent,
        "Important is not VIP"
    );
    assert_eq!(through.evaluate(&ANON, night), Level::Silent);
    assert_eq!(
        through.evaluate(&important, ts("2026-12-09T12:00:00Z")),
        Level::Raised
    );
}

#[test]
fn mute_is_absolute_until_it_ends() {
    let doc = |mute: &str| {
        format!(
            r#"{{"vip": ["ceo@contoso.com"], "quiet_hours": {{"from": "22:00", "to": "07:00",
                "time_zone": "UTC", "vip_break_through": true}}, "mute": {mute}}}"#
        )
    };
    let ceo = from("ceo@contoso.com");
    let now = ts("2026-12-09T12:00:00Z");
    let until = rules(&doc(r#"{"until": "2026-12-09T12:00:00+01:00"}"#));
    assert_eq!(
        until.evaluate(&ceo, ts("2026-12-09T10:59:59Z")),
        Level::Silent
    );
    assert_eq!(
        until.evaluate(&ceo, ts("2026-12-09T11:00:00Z")),
        Level::Raised,
        "until is exclusive"
    );
    let past = rules(&doc(r#"{"until": "2020-01-01T00:00:00Z"}"#));
    assert_eq!(
        past.evaluate(&ceo, now),
        Level::Raised,
        "a mute in the past mutes nothing"
    );
    let always = rules(&doc(r#"{"always": true}"#));
    assert_eq!(always.evaluate(&ceo, now), Level::Silent);
    assert_eq!(
        always.evaluate(&ceo, ts("2026-12-09T23:00:00Z")),
        Level::Silent,
        "over break-through"
    );
    assert_eq!(always.mute(), Some(Mute::Always));
    let fraction = rules(r#"{"mute": {"until": "2026-12-09T08:00:00.5z"}}"#);
    assert_eq!(
        fraction.mute(),
        Some(Mute::Until(ts("2026-12-09T08:00:00.5Z")))
    );
}

#[test]
fn mute_errors_name_the_key() {
    let rfc = "is not an RFC 3339 date-time with offset";
    let cases = [
        (
            r#"{"mute": {}}"#.to_owned(),
            "mute: give until (RFC 3339) or always: true".to_owned(),
        ),
        (
            r#"{"mute": {"always": false}}"#.to_owned(),
            "mute.always: must be true; to unmute, remove mute".to_owned(),
        ),
        (
            r#"{"mute": {"always": "true"}}"#.to_owned(),
            "mute.always: expected true/false, found a string".to_owned(),
        ),
        (
            r#"{"mute": {"always": true, "until": "2026-12-09T08:00:00Z"}}"#.to_owned(),
            "mute: give either until or always, not both".to_owned(),
        ),
        (
            r#"{"mute": {"until": "2026-12-09T08:00:00"}}"#.to_owned(),
            format!(r#"mute.until: "2026-12-09T08:00:00" {rfc}"#),
        ),
        (
            r#"{"mute": {"until": "2026-12-09"}}"#.to_owned(),
            format!(r#"mute.until: "2026-12-09" {rfc}"#),
        ),
        (
            r#"{"mute": {"until": "2026-12-09 08:00:00Z"}}"#.to_owned(),
            format!(r#"mute.until: "2026-12-09 08:00:00Z" {rfc}"#),
        ),
        (
            r#"{"mute": {"until": "2026-13-09T08:00:00Z"}}"#.to_owned(),
            format!(r#"mute.until: "2026-13-09T08:00:00Z" {rfc}"#),
        ),
        (
            r#"{"mute": {"until": "2026-12-09T08:00:00Z[Europe/Zurich]"}}"#.to_owned(),
            format!(r#"mute.until: "2026-12-09T08:00:00Z[Europe/Zurich]" {rfc}"#),
        ),
        (
            r#"{"mute": {"until": 1765267200}}"#.to_owned(),
            "mute.until: expected a string, found a number".to_owned(),
        ),
        (
            r#"{"mute": {"for": "1h"}}"#.to_owned(),
            "mute.for: unknown key (expected until, always)".to_owned(),
        ),
        (
            r#"{"mute": true}"#.to_owned(),
            "mute: expected an object, found true/false".to_owned(),
        ),
    ];
    for (doc, expected) in cases {
        assert_eq!(refused(&doc), expected, "{doc}");
    }
}

#[test]
fn unknown_and_repeated_keys_are_refused() {
    let err = AlertRules::from_json(r#"{"vip": [], "quiet_hour": {}}"#).expect_err("typo");
    assert_eq!(err.path(), "quiet_hour");
    assert_eq!(
        err.to_string(),
        "quiet_hour: unknown key (expected vip, important, folders, quiet_hours, mute)"
    );
    let odd = refused(r#"{"vip\u0000 x": 1}"#);
    assert!(odd.starts_with(r#""vip\0 x": unknown key"#), "{odd}");
    let repeated =
        AlertRules::from_json(r#"{"important": true, "important": false}"#).expect_err("repeat");
    assert!(matches!(repeated, RulesError::Syntax { .. }));
    assert!(
        repeated
            .to_string()
            .starts_with(r#"document: not valid JSON: repeated key "important""#),
        "{repeated}"
    );
    assert!(
        refused(r#"{"mute": {"always": true, "always": true}}"#)
            .contains("repeated key \"always\"")
    );
}

#[test]
fn documents_that_are_not_objects_or_too_large() {
    assert_eq!(
        refused("[]"),
        "document: expected an object, found an array"
    );
    assert_eq!(refused("null"), "document: expected an object, found null");
    assert_eq!(
        refused("\"{}\""),
        "document: expected an object, found a string"
    );
    assert!(refused("").starts_with("document: not valid JSON: "));
    assert!(refused("{} {}").starts_with("document: not valid JSON: "));
    let padded = format!("{{}}{}", " ".repeat(MAX_RULES_BYTES));
    let err = AlertRules::from_json(&padded).expect_err("too large");
    assert!(matches!(err, RulesError::TooLarge { len } if len == MAX_RULES_BYTES + 2));
    assert_eq!(err.path(), "document");
    let fits = format!("{{}}{}", " ".repeat(MAX_RULES_BYTES - 2));
    assert!(AlertRules::from_json(&fits).is_ok());
}

#[test]
fn batch_is_as_loud_as_its_loudest_mail() {
    assert!(Level::Silent < Level::Normal && Level::Normal < Level::Raised);
    assert_eq!(Level::of_batch([]), Level::Silent);
    assert_eq!(
        Level::of_batch([Level::Silent, Level::Silent]),
        Level::Silent
    );
    assert_eq!(
        Level::of_batch([Level::Silent, Level::Normal]),
        Level::Normal
    );
    assert_eq!(
        Level::of_batch([Level::Normal, Level::Raised, Level::Silent]),
        Level::Raised
    );
}

/// Checks that a document never panics, and that a refusal names a path.
fn survives(doc: &str) {
    match AlertRules::from_json(doc) {
        Ok(rules) => {
            for now in [
                Timestamp::MIN,
                Timestamp::MAX,
                Timestamp::UNIX_EPOCH,
                ts("2026-03-29T01:00:00Z"),
            ] {
                for mail in [
                    ANON,
                    MailFacts::new(Some("@"), true),
                    MailFacts::new(Some(doc), true),
                ] {
                    let _ = rules.evaluate(&mail, now);
                }
            }
        }
        Err(err) => {
            let text = err.to_string();
            assert!(
                !err.path().is_empty() && text.starts_with(err.path()),
                "{text}"
            );
        }
    }
}

#[test]
fn hostile_documents_never_panic() {
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}{}", r#"{"vip":"#.repeat(5_000), "}".repeat(5_000));
    let hostile = [
        "",
        " ",
        "{",
        "}",
        "[",
        "nul",
        "true",
        "1e999",
        "-1e999",
        "123456789012345678901234567890",
        r#"{"vip": [1e999]}"#,
        r#"{"important": 123456789012345678901234567890}"#,
        r#"{"vip": [[["deep"]]]}"#,
        r#"{"folders": [{"id": "x"}]}"#,
        r#"{"quiet_hours": {"from": {"h": 22}}}"#,
        r#"{"quiet_hours": {"from": "22:00", "to": "07:00", "time_zone": "UTC", "days": [[]]}}"#,
        r#"{"mute": {"until": "-009999-01-01T00:00:00Z"}}"#,
        r#"{"mute": {"until": "9999-12-31T23:59:59Z"}}"#,
        r#"{"mute": {"until": "0000-01-01T00:00:00+25:59"}}"#,
        r#"{"mute": {"until": "2026-12-09T08:00:00.1234567890Z"}}"#,
        r#"{"quiet_hours": {"from": "23:59", "to": "00:00", "time_zone": "Pacific/Apia"}}"#,
        r#"{"quiet_hours": {"from": "00:00", "to": "23:59", "time_zone": "Pacific/Kiritimati"}}"#,
        r#"{"vip": ["\ud800@x.com"]}"#,
        r#"{"vip": ["é@ÉXAMPLE.com", "@bücher.example"]}"#,
        r#"{"vip": ["\u202e@evil.example"]}"#,
        r#"{"folders": ["\u0000"]}"#,
        r#"{"": null}"#,
        "\u{feff}{}",
        r#"{"vip": []} trailing"#,
        &deep_array,
        &deep_object,
    ];
    for doc in hostile {
        survives(doc);
    }
}

#[test]
fn mutated_documents_never_panic() {
    let base = format!(
        r#"{{"vip": ["ceo@contoso.com", "@board.contoso.com"], "important": true,
            "folders": ["junkemail", "{FOLDER_ID}"], "quiet_hours": {{"from": "22:00", "to": "07:00",
            "days": ["mon", "sun"], "time_zone": "Europe/Zurich", "vip_break_through": true}},
            "mute": {{"until": "2026-12-09T08:00:00Z"}}}}"#
    );
    assert!(AlertRules::from_json(&base).is_ok(), "the seed is valid");
    let tokens: [&[u8]; 12] = [
        b"{", b"}", b"[", b"]", b"\"", b",", b":", b"null", b"1e400", b"@", b"\\u0000", b"-99999",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accepted = 0;
    for _ in 0..3_000 {
        let mut bytes = base.clone().into_bytes();
        for _ in 0..=next() % 4 {
            let at = (next() as usize) % (bytes.len() + 1);
            match next() % 3 {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => bytes[at] = next() as u8,
                _ => {
                    let token = tokens[(next() as usize) % tokens.len()];
                    bytes.splice(at..at, token.iter().copied());
                }
            }
        }
        let doc = String::from_utf8_lossy(&bytes);
        survives(&doc);
        accepted += usize::from(AlertRules::from_json(&doc).is_ok());
    }
    // Some mutations keep the document valid (so evaluation runs on odd values), most must be
    // refused: a reader that accepts anything would pass `survives`.
    assert!(
        (1..1_500).contains(&accepted),
        "{accepted} of 3000 mutated documents accepted"
    );
}

#[test]
fn only_vip_or_important_rules_need_the_sender() {
    assert!(!rules("{}").judges_senders());
    assert!(!quiet("22:00", "07:00", "null", "UTC").judges_senders());
    assert!(rules(r#"{"vip": ["@contoso.com"]}"#).judges_senders());
    assert!(rules(r#"{"vip": ["ceo@contoso.com"]}"#).judges_senders());
    assert!(rules(r#"{"important": true}"#).judges_senders());
    assert!(!rules(r#"{"important": false, "vip": []}"#).judges_senders());
}
