use super::*;

#[test]
fn times_format_in_utc() {
    assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
    assert_eq!(format_time(1_795_996_800), "2026-11-30 00:00 UTC");
    assert_eq!(rfc3339(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
    assert_eq!(format_time(-1), "1969-12-31 23:59 UTC");
}

#[test]
fn counts_have_separators() {
    assert_eq!(format_count(0), "0");
    assert_eq!(format_count(999), "999");
    assert_eq!(format_count(1_000), "1,000");
    assert_eq!(format_count(100_000), "100,000");
    assert_eq!(format_count(1_234_567), "1,234,567");
}

#[test]
fn list_params_round_trip_through_the_url() {
    let mut map = ParamsMap::new();
    map.insert("q", "  <b>Budget & co</b> ".to_string());
    map.insert("status", "revoked".to_string());
    map.insert("sort", "name_asc".to_string());
    map.insert("page", "3".to_string());
    let p = ListParams::from_query(&map);
    assert_eq!(p.q, "<b>Budget & co</b>");
    assert_eq!(p.status, Some(Status::Revoked));
    assert_eq!(p.sort, SortKey::NameAsc);
    assert_eq!(p.page, 3);
    assert_eq!(
        p.href(4),
        "/?q=%3Cb%3EBudget%20%26%20co%3C%2Fb%3E&status=revoked&sort=name_asc&page=4"
    );
    assert_eq!(ListParams::default().href(1), "/");
}

#[test]
fn export_links_carry_the_filters_but_not_the_page() {
    let p = ListParams {
        q: "Budget & co".into(),
        status: Some(Status::Inactive),
        sort: SortKey::NameDesc,
        page: 7,
    };
    assert_eq!(
        p.export_href("csv"),
        "/export/registrations.csv?q=Budget%20%26%20co&status=inactive&sort=name_desc"
    );
    assert_eq!(
        ListParams::default().export_href("jsonl"),
        "/export/registrations.jsonl"
    );
    let a = AuditParams {
        client_id: "c 1".into(),
        actor: "admin:alice".into(),
        action: String::new(),
        from: "2026-12-01".into(),
        to: "2026-12-06".into(),
        page: 3,
    };
    assert_eq!(
        a.export_href("jsonl"),
        "/export/audit.jsonl?client_id=c%201&actor=admin%3Aalice&from=2026-12-01&to=2026-12-06"
    );
    assert_eq!(
        AuditParams::default().export_href("csv"),
        "/export/audit.csv"
    );
}

#[test]
fn malformed_params_fall_back_to_defaults() {
    let mut map = ParamsMap::new();
    map.insert("status", "bogus".to_string());
    map.insert("sort", "DROP TABLE".to_string());
    map.insert("page", "-4".to_string());
    let p = ListParams::from_query(&map);
    assert_eq!(
        p,
        ListParams {
            page: 1,
            ..ListParams::default()
        }
    );
    map.insert("page", "0".to_string());
    assert_eq!(ListParams::from_query(&map).page, 1);
    map.insert("q", "x".repeat(1_000));
    assert_eq!(ListParams::from_query(&map).q.len(), MAX_SEARCH_CHARS);
}

#[test]
fn clean_text_trims_what_removing_control_characters_and_capping_expose() {
    let cases = [
        ("\u{1} x", "x", "a control character before a space"),
        ("x \u{7f}", "x", "a control character after a space"),
        ("\u{1}\u{2}", "", "only control characters"),
    ];
    for (input, clean, why) in cases {
        assert_eq!(clean_text(input), clean, "{why}");
    }
    let at_the_cut = format!("{} y", "x".repeat(MAX_SEARCH_CHARS - 1));
    assert_eq!(
        clean_text(&at_the_cut),
        "x".repeat(MAX_SEARCH_CHARS - 1),
        "a space at the cut"
    );
    for input in ["\u{1} x", &at_the_cut, "  a\tb  "] {
        let once = clean_text(input);
        assert_eq!(clean_text(&once), once, "clean text stays clean: {input:?}");
    }
}

#[test]
fn audit_params_keep_filters_in_the_url() {
    let p = AuditParams {
        client_id: "c 1".into(),
        actor: "admin:alice".into(),
        action: String::new(),
        from: "2026-12-01".into(),
        to: String::new(),
        page: 1,
    };
    assert_eq!(
        p.href(2),
        "/audit?client_id=c%201&actor=admin%3Aalice&from=2026-12-01&page=2"
    );
    assert_eq!(clean_day("2026-12-01"), "2026-12-01");
    for not_a_day in [
        "2026-12-1",
        "2026/12/01",
        "20261201xx",
        "-026-12-01",
        "2026-12-01'",
    ] {
        assert_eq!(clean_day(not_a_day), "", "{not_a_day}");
    }
}

#[test]
fn the_verify_link_keeps_the_filters() {
    let mut p = AuditParams::default();
    assert_eq!(p.verify_href(), "/audit?verify=1");
    p.action = "registration.release".into();
    p.page = 2;
    assert_eq!(
        p.verify_href(),
        "/audit?action=registration.release&page=2&verify=1"
    );
}

#[test]
fn chain_status_lines_say_verified_or_broken() {
    let mut r = ChainReport {
        checked_at: 0,
        verified: 12_345,
        broken: None,
    };
    assert_eq!(r.status_line(), "Audit chain verified: 12,345 events");
    r.verified = 1;
    assert_eq!(r.status_line(), "Audit chain verified: 1 event");
    r.broken = Some(ChainBreak {
        event_id: 17,
        problem: "the event's content does not match its hash (edited)".into(),
    });
    assert_eq!(
        r.status_line(),
        "Audit chain BROKEN at event 17: the event's content does not match its hash (edited)"
    );
}

#[test]
fn titles_cannot_become_markup() {
    assert_eq!(
        title_text("</title><script>alert(1)</script> & co"),
        "‹/title›‹script›alert(1)‹/script› ＆ co"
    );
}

#[test]
fn hrefs_encode_path_segments() {
    assert_eq!(registration_href("a/b?c"), "/registrations/a%2Fb%3Fc");
}

#[test]
fn only_printable_text_of_1_to_255_characters_could_be_a_client_id() {
    assert!(could_be_client_id("0b5e2c7a-4f0d-4a51-9d1e-2f7c3a9b8e61"));
    assert!(could_be_client_id(&"a".repeat(255)));
    for no in ["", "a\0b", "\u{7f}", "line\nbreak", &"a".repeat(256)] {
        assert!(!could_be_client_id(no), "{no:?}");
    }
}

#[test]
fn changes_name_only_the_fields_that_differ() {
    use serde_json::json;
    let before = json!({ "status": "active", "scope": "a b", "gone": 1 });
    let after = json!({ "status": "revoked", "scope": "a b", "reason": "x" });
    let c = changes(Some(&before), Some(&after)).unwrap();
    let mut seen: Vec<(&str, Option<&str>, Option<&str>)> = c
        .iter()
        .map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref()))
        .collect();
    // (The order of an object's fields is serde_json's.)
    seen.sort_unstable();
    assert_eq!(
        seen,
        vec![
            ("gone", Some("1"), None),
            ("reason", None, Some("x")),
            ("status", Some("active"), Some("revoked")),
        ]
    );
    let created = changes(None, Some(&json!({ "a": [1, 2] }))).unwrap();
    assert_eq!(created[0].after.as_deref(), Some("[1,2]"));
    assert!(changes(Some(&json!("text")), Some(&after)).is_none());
    assert_eq!(changes(None, None), Some(Vec::new()));
}

#[test]
fn times_show_in_the_display_zone_with_its_daylight_saving() {
    let sydney = DisplayZone::default();
    assert_eq!(sydney.name(), "Australia/Sydney");
    // 2026-12-06 21:15:30 UTC is the next morning in Sydney, in summer time (UTC+11).
    assert_eq!(sydney.format(1_796_591_730, false), "2026-12-07 08:15 AEDT");
    assert_eq!(
        sydney.format(1_796_591_730, true),
        "2026-12-07 08:15:30 AEDT"
    );
    // In June, standard time (UTC+10).
    assert_eq!(sydney.format(1_781_000_000, false), "2026-06-09 20:13 AEST");
    let perth = DisplayZone::named("Australia/Perth").unwrap();
    assert_eq!(perth.format(1_796_591_730, false), "2026-12-07 05:15 AWST");
    assert_eq!(
        DisplayZone::named("UTC").unwrap().format(0, true),
        "1970-01-01 00:00:00 UTC"
    );
    assert!(DisplayZone::named("Mars/Olympus_Mons").is_none());
    assert_eq!(format_utc_seconds(1_796_591_730), "2026-12-06 21:15:30 UTC");
}

#[test]
fn the_days_of_the_display_zone_begin_at_its_midnights() {
    let sydney = DisplayZone::default();
    // 2026-12-07 08:15 AEDT; that day began at 2026-12-06 13:00 UTC.
    let d = DailyCounts::new(&sydney, 1_796_591_730, 3);
    assert_eq!(d.dates, ["2026-12-05", "2026-12-06", "2026-12-07"]);
    let midnight = 1_796_562_000 / BUCKET_SECS;
    let day = 96;
    assert_eq!(
        d.bucket_bounds(),
        [midnight - 2 * day, midnight - day, midnight, midnight + day]
    );
    assert_eq!(d.zeros(), [0, 0, 0]);

    // Summer time began in Sydney on 2026-10-04: that day had 23 hours (92 quarter hours).
    let d = DailyCounts::new(&sydney, 1_791_162_000, 2);
    assert_eq!(d.dates, ["2026-10-04", "2026-10-05"]);
    let oct5 = 1_791_118_800 / BUCKET_SECS;
    assert_eq!(d.bucket_bounds(), [oct5 - 92, oct5, oct5 + 96]);

    // A zone a quarter hour off the hour: Nepal, UTC+5:45.
    let nepal = DisplayZone::named("Asia/Kathmandu").unwrap();
    let d = DailyCounts::new(&nepal, 1_796_591_730, 1);
    assert_eq!(d.dates, ["2026-12-07"]);
    // 2026-12-07 00:00 NPT is 2026-12-06 18:15 UTC.
    let start = (1_796_562_000 + 5 * 3_600 + 15 * 60) / BUCKET_SECS;
    assert_eq!(d.bucket_bounds(), [start, start + 96]);
}

#[test]
fn the_overview_range_is_one_of_those_offered() {
    assert_eq!(overview_days(None), 90);
    assert_eq!(overview_days(Some("7")), 7);
    assert_eq!(overview_days(Some(" 30 ")), 30);
    assert_eq!(overview_days(Some("365")), 90);
    assert_eq!(overview_days(Some("100000")), 90);
    assert_eq!(overview_days(Some("-1")), 90);
    assert_eq!(overview_days(Some("x")), 90);
}
