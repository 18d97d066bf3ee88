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
        page: 1,
    };
    assert_eq!(
        p.href(2),
        "/audit?client_id=c%201&actor=admin%3Aalice&page=2"
    );
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
