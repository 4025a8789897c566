use super::*;

fn answer(status: u16, body: &str) -> Answer {
    let headers = [("Content-Type", b"application/json".as_slice()), ("Server", b"gunicorn".as_slice())];
    Answer::new(status, headers.into_iter(), body.as_bytes().to_vec())
}

fn rows(user: Option<i64>, tokens: &[(i64, &str)]) -> UserState {
    UserState {
        user: user.map(|id| (id, "a@b.co".to_owned())),
        tokens: tokens.iter().map(|(id, t)| (*id, (*t).to_owned())).collect(),
    }
}

const LOGIN_OK: &str = r#"{"message": "SUCCESS", "access_token": "eyJ.a.b"}"#;

#[test]
fn only_contract_headers_are_kept() {
    let a = answer(200, "{}");
    assert_eq!(a.headers, vec![("content-type".to_owned(), b"application/json".to_vec())]);
    let cors = Answer::new(200, [("Access-Control-Allow-Origin", b"x".as_slice())].into_iter(), Vec::new());
    assert_eq!(cors.headers.len(), 1);
    assert_eq!(answer(401, r#"{"message": "INVALID_USER"}"#).label(), "401 INVALID_USER");
}

#[test]
fn equal_answers_and_writes_match() {
    let (before, after) = (rows(Some(1), &[]), rows(Some(1), &[(7, "eyJ.a.b")]));
    let intended = [Write::AddToken { user_id: 1, token: "eyJ.a.b".into() }];
    let (ours, django) = (answer(200, LOGIN_OK), answer(200, LOGIN_OK));
    let check = Check {
        route: "/users/login",
        ours: &ours,
        django: &django,
        intended: &intended,
        rows: Some((&before, &after)),
        email: None,
    };
    let judged = judge(&check);
    assert_eq!((judged.verdict, judged.kinds.len()), (Verdict::Matched, 0));
}

#[test]
fn a_different_answer_explained_by_djangos_writes_is_a_mismatch() {
    // another SECRET_KEY: another token in the body and in the row
    let (before, after) = (rows(Some(1), &[]), rows(Some(1), &[(7, "eyJ.a.b")]));
    let intended = [Write::AddToken { user_id: 1, token: "eyJ.x.y".into() }];
    let ours = answer(200, r#"{"message": "SUCCESS", "access_token": "eyJ.x.y"}"#);
    let django = answer(200, LOGIN_OK);
    let check = Check {
        route: "/users/login",
        ours: &ours,
        django: &django,
        intended: &intended,
        rows: Some((&before, &after)),
        email: None,
    };
    let judged = judge(&check);
    assert_eq!(judged.verdict, Verdict::Mismatched);
    assert_eq!(judged.kinds, ["body", "writes"]);
    // equal answers but other writes are a mismatch too
    let ours = answer(200, LOGIN_OK);
    let nothing: [Write; 0] = [];
    let check = Check {
        route: "/users/login",
        ours: &ours,
        django: &django,
        intended: &nothing,
        rows: Some((&before, &after)),
        email: None,
    };
    assert_eq!(judge(&check).kinds, ["writes"]);
}

#[test]
fn rows_changed_by_another_request_make_a_difference_racy() {
    // signup: the dry run saw no user; Django found one created meanwhile
    let (before, after) = (rows(None, &[]), rows(Some(5), &[]));
    let intended = [Write::CreateUser { email: "a@b.co".into() }];
    let ours = answer(201, r#"{"message": "SUCCESS"}"#);
    let django = answer(400, r#"{"message": "EMAIL_ALREADY_EXISTS"}"#);
    let check = Check {
        route: "/users/signup",
        ours: &ours,
        django: &django,
        intended: &intended,
        rows: Some((&before, &after)),
        email: Some("a@b.co"),
    };
    assert_eq!(judge(&check).verdict, Verdict::Racy);
    // logout: a second login added a row while Django answered
    let (before, after) = (rows(Some(1), &[(3, "t")]), rows(Some(1), &[(4, "t")]));
    let intended = [Write::DeleteToken { token_id: 3 }];
    let ours = answer(200, r#"{"message": "LOGOUT_SUCCESS"}"#);
    let django = answer(500, "<h1>Server Error (500)</h1>");
    let check = Check {
        route: "/users/logout",
        ours: &ours,
        django: &django,
        intended: &intended,
        rows: Some((&before, &after)),
        email: None,
    };
    assert_eq!(judge(&check).verdict, Verdict::Racy);
    // the same difference with rows only Django's answer explains: a mismatch
    let after = rows(Some(1), &[(3, "t")]);
    let check = Check {
        route: "/users/logout",
        ours: &ours,
        django: &django,
        intended: &intended,
        rows: Some((&before, &after)),
        email: None,
    };
    assert_eq!(judge(&check).verdict, Verdict::Mismatched);
}

#[test]
fn the_delta_names_each_write() {
    let before = rows(None, &[]);
    let after = rows(Some(2), &[(9, "tok")]);
    assert_eq!(
        delta(&before, &after),
        [Write::CreateUser { email: "a@b.co".into() }, Write::AddToken { user_id: 2, token: "tok".into() }]
    );
    assert_eq!(delta(&rows(Some(2), &[(9, "tok")]), &rows(Some(2), &[])), [Write::DeleteToken { token_id: 9 }]);
}

#[test]
fn redaction_leaves_no_password_or_token() {
    let r = Redactor::new("key");
    let token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.UbpqrrqwMPI4_2lZZv0N9Pg5l8wfrUIwvUcJToNEZ68";
    let shown = r.request(br#"{"email": "a@b.co", "password": "Sup3r$ecret!"}"#);
    assert!(!shown.contains("Sup3r$ecret!") && shown.contains("a@b.co"), "{shown}");
    assert!(shown.contains(&r.digest(b"Sup3r$ecret!")), "a string is digested as its text: {shown}");
    let shown = r.request(br#"{"email": 1, "password": ["Sup3r$ecret!"]}"#);
    assert!(!shown.contains("Sup3r$ecret!"), "{shown}");
    let shown = r.request(br#"{"password": "Sup3r$ecret!""#);
    assert!(!shown.contains("Sup3r$ecret!") && shown.starts_with("<"), "not JSON: only a digest: {shown}");
    let shown = r.text(format!(r#"{{"message": "SUCCESS", "access_token": "{token}"}}"#).as_bytes());
    assert!(!shown.contains("UbpqrrqwMPI4") && !shown.contains("eyJpZCI6MX0"), "{shown}");
    assert!(shown.contains(&r.digest(token.as_bytes())), "the digest of the whole token: {shown}");
    assert!(shown.starts_with(r##"{"message": "SUCCESS", "access_token": "#"##), "the rest is unchanged: {shown}");
    assert_ne!(Redactor::new("other").digest(b"x"), r.digest(b"x"), "keyed by SECRET_KEY");
}

#[test]
fn the_log_holds_lines_and_tallies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadow.jsonl");
    let recorder = Recorder::open(&path, 1.0, Redactor::new("k")).unwrap();
    assert!(recorder.sampled());
    recorder.record("POST /users/login", "200 SUCCESS".into(), Verdict::Matched, None);
    recorder.record("POST /users/login", "200 SUCCESS".into(), Verdict::Matched, None);
    recorder.record(
        "POST /users/login",
        "200 SUCCESS".into(),
        Verdict::Mismatched,
        Some(r#"{"type":"mismatch"}"#.into()),
    );
    assert_eq!(recorder.counters.matched.load(Ordering::Relaxed), 2);
    drop(recorder);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], r#"{"type":"mismatch"}"#);
    assert!(lines.iter().any(|l| l.contains(r#""verdict":"matched","count":2"#)), "{text}");
    assert!(lines.iter().any(|l| l.contains(r#""verdict":"mismatched","count":1"#)), "{text}");
    let never = Recorder::open(&path, 0.0, Redactor::new("k")).unwrap();
    assert!((0..100).all(|_| !never.sampled()));
}

/// Under steady traffic the tallies still reach the log every
/// `TALLY_EVERY` (not only once the checks pause).
#[test]
fn tallies_are_written_while_checks_keep_coming() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadow.jsonl");
    let recorder = Recorder::open(&path, 1.0, Redactor::new("k")).unwrap();
    let until = std::time::Instant::now() + TALLY_EVERY * 3;
    let mut written = false;
    while std::time::Instant::now() < until && !written {
        recorder.record("POST /users/login", "200 SUCCESS".into(), Verdict::Matched, None);
        std::thread::sleep(std::time::Duration::from_millis(50));
        written = std::fs::read_to_string(&path).unwrap().contains(r#""type":"tally""#);
    }
    assert!(written, "no tally line within {:?} of steady checks", TALLY_EVERY * 3);
    drop(recorder);
}
