//! Unit tests of the access log's line formats: timestamps, labels, path escaping, the text request line.

use super::*;

#[test]
fn a_text_request_line_has_every_field_in_order() {
    let at = UNIX_EPOCH + Duration::from_millis(1_795_444_016_789);
    let label = LogLabel::client("svc 1");
    for (latency, shown) in [
        (Duration::ZERO, "0.000ms"),
        (Duration::from_micros(5), "0.005ms"),
        (Duration::from_micros(1_005), "1.005ms"),
        (Duration::from_micros(1_234_567), "1234.567ms"),
        (Duration::from_nanos(999_999), "0.999ms"),
    ] {
        let mut line = String::new();
        let get = Method::GET;
        text_request_line(&mut line, at, &get, "/a b", 200, latency, None);
        assert_eq!(
            line,
            format!("2026-11-23T14:26:56.789Z GET /a\\u{{20}}b 200 {shown}\n")
        );
        let mut line = String::new();
        let post = Method::POST;
        text_request_line(
            &mut line,
            at,
            &post,
            "/oauth/token",
            401,
            latency,
            Some(&label),
        );
        assert_eq!(
            line,
            format!(
                "2026-11-23T14:26:56.789Z POST /oauth/token 401 {shown} {}\n",
                label.as_str()
            )
        );
    }
}

#[test]
fn timestamps_are_rfc3339_utc() {
    let mut line = String::new();
    push_timestamp(
        &mut line,
        UNIX_EPOCH + Duration::from_millis(1_795_444_016_789),
    );
    assert_eq!(line, "2026-11-23T14:26:56.789Z");
    for (millis, text) in [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_007, "2000-02-29T00:00:00.007Z"),
        (1_798_761_599_999, "2026-12-31T23:59:59.999Z"),
        (4_107_542_400_050, "2100-03-01T00:00:00.050Z"),
    ] {
        let mut line = String::from("x ");
        push_timestamp(&mut line, UNIX_EPOCH + Duration::from_millis(millis));
        assert_eq!(line, format!("x {text}"));
    }
    let mut line = String::new();
    push_timestamp(&mut line, UNIX_EPOCH + Duration::from_secs(951_782_400));
    assert_eq!(line, "2000-02-29T00:00:00.000Z");
}

#[test]
fn labels_escape_every_character_outside_the_client_id_alphabet() {
    assert_eq!(
        LogLabel::client("svc.one_x-2").as_str(),
        "client_id=svc.one_x-2"
    );
    assert_eq!(
        LogLabel::client("a b\n\r\\é(none)").as_str(),
        "client_id=a\\u{20}b\\u{a}\\u{d}\\u{5c}\\u{e9}\\u{28}none\\u{29}"
    );
    let peer: IpAddr = "2001:db8::7".parse().unwrap();
    assert_eq!(
        LogLabel::refused(Some("x peer=1.2.3.4"), peer).as_str(),
        "peer=2001:db8::7 client_id=x\\u{20}peer\\u{3d}1.2.3.4"
    );
    assert_eq!(
        LogLabel::refused(None, IpAddr::from([127, 0, 0, 1])).as_str(),
        "peer=127.0.0.1 client_id=(none)"
    );
    let long = LogLabel::client(&"x".repeat(500));
    assert_eq!(long.as_str(), format!("client_id={}(cut)", "x".repeat(100)));
}

#[test]
fn paths_are_escaped_and_cut() {
    assert_eq!(EscapedPath("/a b\n").to_string(), "/a\\u{20}b\\u{a}");
    let long = "/x".repeat(100);
    let longer = format!("{long}y");
    for path in [
        "/",
        "/api/resource",
        "/a b",
        "/a\\b",
        "/\u{e9}",
        &long,
        &longer,
    ] {
        let mut line = String::new();
        push_escaped_path(&mut line, path);
        assert_eq!(line, EscapedPath(path).to_string(), "{path:?}");
    }
    assert_eq!(EscapedPath("/a\\u{a}").to_string(), "/a\\u{5c}u{a}");
    let long = "/".repeat(500);
    assert_eq!(
        EscapedPath(&long).to_string().len(),
        MAX_LOGGED_PATH + "...".len()
    );
}
