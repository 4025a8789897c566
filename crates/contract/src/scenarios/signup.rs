//! Signup: bodies that are not an object, missing keys, value types,
//! EMAIL_REGEX and PASSWORD_REGEX, duplicates.

use super::builder::{creds, creds_json, js, Scenario, B, JSON_NON_STRINGS, U1};

pub(super) fn signup_body_garbage(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_body_garbage", "signup bodies that are not one JSON document");
    let valid = creds(U1.0, U1.1);
    for (note, body) in [
        ("empty body", String::new()),
        ("one space", " ".into()),
        ("whitespace only", " \t\r\n ".into()),
        ("not JSON", "not json".into()),
        ("open brace", "{".into()),
        ("close brace", "}".into()),
        ("unterminated string", r#"{"email": "a@b.c"#.into()),
        ("single quotes", "{'email': 'a@b.c', 'password': 'Passw0rd!'}".into()),
        ("trailing comma", r#"{"email": "a@b.c", "password": "Passw0rd!",}"#.into()),
        ("missing colon", r#"{"email" "a@b.c"}"#.into()),
        ("bare word tru", "tru".into()),
        ("form encoding", "email=a%40b.c&password=Passw0rd%21".into()),
        ("trailing data", format!("{valid} x")),
        ("two objects", "{} {}".into()),
        ("trailing comma after object", "{},".into()),
        ("leading and trailing whitespace around {} -> KEY_ERROR", " \n{}\r\n\t ".into()),
        ("NUL byte", "\u{0}".into()),
        ("object then NUL", "{}\u{0}".into()),
        ("form feed is not JSON whitespace", "\u{c}{}".into()),
        ("vertical tab is not JSON whitespace", "{}\u{b}".into()),
        ("no-break space is not JSON whitespace", "{}\u{a0}".into()),
        ("raw tab inside a string", "{\"email\": \"a\tb@c.d\", \"password\": \"Passw0rd!\"}".into()),
        ("raw newline inside a string", "{\"email\": \"a@b.c\n\", \"password\": \"Passw0rd!\"}".into()),
        ("comment", "{/* c */}".into()),
        ("unquoted key", "{email: 1}".into()),
    ] {
        b.signup(note, body);
    }
    b.done()
}

pub(super) fn signup_body_not_object(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_body_not_object", "valid JSON that is not an object: 500 (TypeError)");
    for body in [
        "1",
        "-1",
        "0",
        "1.5",
        "\"x\"",
        "\"email\"",
        "null",
        "true",
        "false",
        "[]",
        "[\"email\", \"password\"]",
        "[{\"email\": \"a@b.c\", \"password\": \"Passw0rd!\"}]",
        "\"{\\\"email\\\": \\\"a@b.c\\\", \\\"password\\\": \\\"Passw0rd!\\\"}\"",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "\"\"",
    ] {
        b.signup(&format!("body {body}"), body);
    }
    b.done()
}

pub(super) fn signup_missing_keys(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_missing_keys", "KEY_ERROR for every combination of missing keys");
    for (note, body) in [
        ("no keys", "{}".to_string()),
        ("email only (valid)", format!(r#"{{"email": {}}}"#, js(U1.0))),
        ("email only (invalid)", r#"{"email": "bad"}"#.into()),
        ("email only (not a string)", r#"{"email": 1}"#.into()),
        ("email null only", r#"{"email": null}"#.into()),
        ("password only (valid)", format!(r#"{{"password": {}}}"#, js(U1.1))),
        ("password only (invalid)", r#"{"password": "x"}"#.into()),
        ("password only (not a string)", r#"{"password": 1}"#.into()),
        ("capitalised keys", format!(r#"{{"Email": {}, "Password": {}}}"#, js(U1.0), js(U1.1))),
        ("key with a trailing space", format!(r#"{{"email ": {}, "password": {}}}"#, js(U1.0), js(U1.1))),
        ("other keys", r#"{"username": "a", "pw": "b"}"#.into()),
        ("email key present, password key misspelt", format!(r#"{{"email": {}, "passwd": {}}}"#, js(U1.0), js(U1.1))),
    ] {
        b.signup(note, body);
    }
    b.signup(
        "keys written with escapes are the same keys -> SUCCESS",
        format!(r#"{{"e\u006dail": {}, "pass\u0077ord": {}}}"#, js(U1.0), js(U1.1)),
    );
    b.login("that user can log in", creds(U1.0, U1.1));
    b.done()
}

pub(super) fn signup_email_types(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_email_types", "email of every non-string JSON type: 500 (regex on a non-string)");
    for v in JSON_NON_STRINGS {
        b.signup(&format!("email {v}, valid password"), creds_json(v, &js(U1.1)));
    }
    b.signup("email 1, invalid password", creds_json("1", "\"x\""));
    b.signup("email [], password missing -> KEY_ERROR", r#"{"email": []}"#);
    b.signup("email null, password null", r#"{"email": null, "password": null}"#);
    b.done()
}

pub(super) fn signup_password_types(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_password_types", "password of every non-string JSON type");
    for v in JSON_NON_STRINGS {
        b.signup(&format!("valid email, password {v}"), creds_json(&js(U1.0), v));
    }
    for v in ["1", "null", "[]"] {
        b.signup(&format!("invalid email wins over password {v}"), creds_json("\"bad\"", v));
    }
    b.done()
}

pub(super) fn signup_email_regex_valid(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "signup_email_regex_valid",
        "emails EMAIL_REGEX accepts, including the +.._ range, @ in the local part and a final newline",
    );
    for email in [
        "a+b@example.com",
        "a,b@example.com",
        "a/b@example.com",
        "a:b@example.com",
        "a;b@example.com",
        "a<b>@example.com",
        "a=b?@example.com",
        "a@b@example.com",
        "a@@example.com",
        "a[b]@example.com",
        "a\\b@example.com",
        "a^b_c@example.com",
        "A.B-C@EXAMPLE.COM",
        "+,-./0123456789:;<=>?@AZ[\\]^_@example.com",
        "x@y.z.",
        "x@y..z",
        "x@y.-",
        "x@-.-",
        "newline@example.com\n",
        &format!("{}@example.com", "l".repeat(300)),
    ] {
        b.signup(&format!("email {email:?}"), creds(email, U1.1));
    }
    b.login("the newline email logs in only with the newline", creds("newline@example.com\n", U1.1));
    b.login("without the newline it is another (unknown) email", creds("newline@example.com", U1.1));
    b.login(
        "emails are case-sensitive (not under MySQL's case-insensitive collation)",
        creds("a.b-c@example.com", U1.1),
    );
    b.done()
}

pub(super) fn signup_email_regex_invalid(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_email_regex_invalid", "emails EMAIL_REGEX rejects: INVALID_EMAIL");
    for email in [
        "",
        "plain",
        "a@b",
        "@example.com",
        "a@.com",
        "a@example.",
        "a@example",
        "a`b@example.com",
        "a{b@example.com",
        "a|b@example.com",
        "a}b@example.com",
        "a~b@example.com",
        "a!b@example.com",
        "a\"b@example.com",
        "a#b@example.com",
        "a$b@example.com",
        "a%b@example.com",
        "a&b@example.com",
        "a'b@example.com",
        "a(b)@example.com",
        "a*b@example.com",
        "a b@example.com",
        " a@example.com",
        "a@example.com ",
        "a@exa_mple.com",
        "a@exam.ple_com",
        "a@example.com\r\n",
        "a@example.com\n\n",
        "a@example.com\r",
        "\na@example.com",
        "a@example.com\t",
        "a@example.com\u{0}",
        "é@example.com",
        "a@exämple.com",
        "a@example.cöm",
        "Ａ@example.com",
        "a@ｅxample.com",
        "a@example.com\u{2028}",
        "a@example.com\u{85}",
        "a\u{7f}@example.com",
        "😀@example.com",
    ] {
        b.signup(&format!("email {email:?}"), creds(email, U1.1));
    }
    b.signup("escaped lone surrogate in the email", creds_json("\"a\\ud800@example.com\"", &js(U1.1)));
    b.done()
}

pub(super) fn signup_password_regex(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_password_regex", "PASSWORD_REGEX: lengths, classes, newline, 72-byte truncation");
    let mut n = 0;
    let mut su = |b: &mut B, pw: &str| {
        n += 1;
        b.signup(&format!("password {pw:?}"), creds(&format!("pw{n}@example.com"), pw));
    };
    for pw in [
        "Passw0rd!",
        "Abcdef1!",
        "Abcde1!",
        "abcdefg1@",
        "ABCDEFG1$",
        "a1!a1!a1",
        "1111111a%",
        "********a1",
        "Password!",
        "Passw0rd",
        "12345678!",
        "!@#$%^&*",
        "Passw0rd^",
        "Passw0rd~",
        "Pass w0rd!",
        "Passw0rd!\n",
        "Passw0rd!\r\n",
        "Passw0rd!\n\n",
        "\nPassw0rd!",
        "Passw0rd!\t",
        "Passw0rd!\u{0}",
        "Pass\u{0}w0rd!",
        "Pässw0rd!",
        "",
    ] {
        su(&mut b, pw);
    }
    let p72 = "A1!".repeat(24);
    let p75 = "A1!".repeat(25);
    let p100 = format!("{}B", "9a#".repeat(33));
    su(&mut b, &p72);
    su(&mut b, &p75);
    su(&mut b, &p100);
    b.signup("escaped lone surrogate in the password", creds_json("\"pwsur@example.com\"", "\"Passw0rd!\\ud800\""));
    // pw1 = Passw0rd!, pw16 = "Passw0rd!\n", pw26 = 75 bytes, pw27 = 100 bytes
    b.login("pw16 with the newline", creds("pw16@example.com", "Passw0rd!\n"));
    b.login("pw16 without the newline", creds("pw16@example.com", "Passw0rd!"));
    b.login("pw26: the first 72 bytes are enough (bcrypt truncates)", creds("pw26@example.com", &p72));
    b.login("pw26: any suffix after 72 bytes", creds("pw26@example.com", &format!("{p72}zzzz")));
    b.login("pw27 with 71 bytes -> INVALID_USER", creds("pw27@example.com", &p100[..71]));
    b.login("pw27 with 72 bytes", creds("pw27@example.com", &p100[..72]));
    b.done()
}

pub(super) fn signup_password_digits(key: &str) -> Scenario {
    let mut b = B::new(
        key,
        "signup_password_digits",
        "\\d is Unicode 14 Nd in Python 3.11: other scripts' digits count, Unicode 15 digits and No/Nl do not",
    );
    let mut n = 0;
    for (what, pw) in [
        ("Arabic-Indic ٣", "Passw٣rd!"),
        ("Extended Arabic-Indic ۵", "Passw۵rd!"),
        ("fullwidth １", "Passw１rd!"),
        ("Devanagari ३", "Passw३rd!"),
        ("Thai ๕", "Passw๕rd!"),
        ("NKo ߀", "Passw߀rd!"),
        ("Mongolian ᠐", "Passw᠐rd!"),
        ("mathematical 𝟘 (astral Nd)", "Passw𝟘rd!"),
        ("Kawi U+11F50 (Unicode 15)", "Passw\u{11F50}rd!"),
        ("Nag Mundari U+1E4F0 (Unicode 15)", "Passw\u{1E4F0}rd!"),
        ("superscript two (No)", "Passw²rd!"),
        ("roman numeral four (Nl)", "PasswⅣrd!"),
        ("circled one (No)", "Passw①rd!"),
        ("only a Unicode digit and ASCII letters/specials", "Abcdefg٣!"),
    ] {
        n += 1;
        b.signup(&format!("password with {what}"), creds(&format!("digit{n}@example.com"), pw));
    }
    b.login("Arabic-Indic password logs in", creds("digit1@example.com", "Passw٣rd!"));
    b.login("astral digit password logs in", creds("digit8@example.com", "Passw𝟘rd!"));
    b.login("the ASCII digit is another password", creds("digit1@example.com", "Passw3rd!"));
    b.done()
}

pub(super) fn signup_duplicates(key: &str) -> Scenario {
    let mut b = B::new(key, "signup_duplicates", "EMAIL_ALREADY_EXISTS and what counts as the same email");
    b.signup_u(U1)
        .signup("same email and password", creds(U1.0, U1.1))
        .signup("same email, other password", creds(U1.0, "0ther#Pass"))
        .signup("same email, invalid password: password is checked first", creds(U1.0, "x"))
        .signup(
            "upper-case variant: another email, except under MySQL's case-insensitive collation",
            creds("USER1@example.com", U1.1),
        )
        .signup("newline variant is another email", creds("user1@example.com\n", U1.1))
        .signup("duplicate of the newline variant", creds("user1@example.com\n", U1.1))
        .signup(
            "duplicate key: the last email wins (a duplicate)",
            format!(r#"{{"email": "new@example.com", "email": {}, "password": {}}}"#, js(U1.0), js(U1.1)),
        )
        .login("login still works with the first password", creds(U1.0, U1.1))
        .login("not with the second", creds(U1.0, "0ther#Pass"));
    b.done()
}
