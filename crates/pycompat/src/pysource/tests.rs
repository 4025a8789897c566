use super::*;

fn read_with(text: &str, env: &[(&str, &str)], modules: &[(&str, &Module)]) -> Result<Module, Error> {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    parse(text, &Options { env: &lookup, file: Path::new("/srv/app/proj/settings.py"), modules })
}

fn read(text: &str) -> Result<Module, Error> {
    read_with(text, &[], &[])
}

fn value(text: &str, name: &str) -> Value {
    read(text).unwrap().get(name).unwrap_or_else(|| panic!("{name} not bound")).value.value.clone()
}

fn refusal(text: &str) -> Error {
    match read(text) {
        Ok(m) => panic!("{text:?} was read: {m:?}"),
        Err(e) => e,
    }
}

fn s(text: &str) -> Value {
    Value::Str(text.into())
}

#[test]
fn wecode_style_file() {
    let text = r#"# my_settings.py
import os

SECRET_KEY = 'django-insecure-#k3y'  # a comment
ALGORITHM = "HS256"
DATABASES = {
    'default' : {
        'ENGINE'  : 'django.db.backends.mysql',
        'NAME'    : 'ledger',
        'USER'    : 'root',
        'PASSWORD': os.environ.get("DB_PASSWORD", ""),
        'HOST'    : '127.0.0.1',
        'PORT'    : '3306',
        'OPTIONS' : {'charset': 'utf8mb4'},
    }
}
"#;
    let m = read_with(text, &[("DB_PASSWORD", "pw")], &[]).unwrap();
    assert_eq!(m.get("SECRET_KEY").unwrap().value.value, s("django-insecure-#k3y"));
    assert_eq!(m.get("SECRET_KEY").unwrap().value.pos, Pos { line: 4, col: 14 });
    let db = &m.get("DATABASES").unwrap().value.value;
    let default = &db.get("default").unwrap().value;
    assert_eq!(default.get("PASSWORD").unwrap().value, s("pw"));
    assert_eq!(default.get("PASSWORD").unwrap().pos, Pos { line: 11, col: 21 });
    assert_eq!(default.get("OPTIONS").unwrap().value.get("charset").unwrap().value, s("utf8mb4"));
    let m = read(text).unwrap();
    let db = &m.get("DATABASES").unwrap().value.value;
    assert_eq!(db.get("default").unwrap().value.get("PASSWORD").unwrap().value, s(""), "the default");
}

#[test]
fn environment_lookups() {
    let text =
        "import os\nA = os.environ.get('A')\nB = os.getenv('B', 'dflt')\nC = os.environ['C']\nD = os.getenv('D')\n";
    let m = read_with(text, &[("A", "a"), ("C", "c")], &[]).unwrap();
    let got: Vec<Value> = ["A", "B", "C", "D"].iter().map(|n| m.get(n).unwrap().value.value.clone()).collect();
    assert_eq!(got, vec![s("a"), s("dflt"), s("c"), Value::None]);
    let e = read_with(text, &[("A", "a")], &[]).unwrap_err();
    assert_eq!((e.pos, e.target.as_deref()), (Pos { line: 4, col: 15 }, Some("C")));
    assert!(e.what.contains("'C'") && e.what.contains("not set"), "{e}");
    let e = refusal("A = os.environ.get('A')\n");
    assert!(e.what.contains("`os`"), "os not imported: {e}");
    assert!(read("from os import environ, getenv\nA = environ.get('A', 1)\nB = getenv('B')\n").is_ok());
}

#[test]
fn statements_and_literals() {
    assert_eq!(value("A = B = 5\n", "B"), Value::Int(5));
    assert_eq!(value("A = B = 5\n", "A"), Value::Int(5));
    assert_eq!(value("A = 1; B = 2\n", "B"), Value::Int(2));
    assert_eq!(value("A = 1\nA = 2\n", "A"), Value::Int(2));
    assert_eq!(value("A = \\\n  -0x_1F\n", "A"), Value::Int(-31));
    assert_eq!(value("A = 'a' \\\n 'b'\n", "A"), s("ab"));
    assert_eq!(value("\"\"\"Docstring.\"\"\"\nA = 1\n", "A"), Value::Int(1));
    assert_eq!(
        value("A = {1, 2}\n", "A"),
        Value::Set(vec![
            Node { value: Value::Int(1), pos: Pos { line: 1, col: 6 } },
            Node { value: Value::Int(2), pos: Pos { line: 1, col: 9 } },
        ])
    );
    assert_eq!(value("A = ()\n", "A"), Value::Tuple(vec![]));
    assert_eq!(value("A = (\n  'x',\n)\n", "A").kind(), "a tuple");
    assert_eq!(value("\u{feff}A = 1\r\nB = 2\r\n", "B"), Value::Int(2));
    assert_eq!(value("A = b'\\x00' rb'\\n'\n", "A"), Value::Bytes(vec![0, b'\\', b'n']));
    assert_eq!(value("A = [1, 2.5, True, None, 'x']\n", "A").kind(), "a list");
    assert_eq!(value("A = B = 1\nC = A\n", "C"), Value::Int(1));
}

#[test]
fn the_pathlib_idiom_of_django_settings() {
    let text = "import os\nfrom pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\n\
                A = BASE_DIR / 'db.sqlite3'\nB = os.path.join(BASE_DIR, 'x', 'y.db')\n";
    let m = read(text).unwrap();
    assert_eq!(m.get("A").unwrap().value.value, Value::Path("/srv/app/db.sqlite3".into()));
    assert_eq!(m.get("B").unwrap().value.value, s("/srv/app/x/y.db"));
}

#[test]
fn names_imported_from_a_given_module() {
    let mine = read("SECRET_KEY = 'k'\nALGORITHM = 'HS256'\n").unwrap();
    let modules = [("my_settings", &mine)];
    let m = read_with("from my_settings import ALGORITHM, SECRET_KEY  # noqa\nDEBUG = False\n", &[], &modules).unwrap();
    let key = m.get("SECRET_KEY").unwrap();
    assert_eq!((key.imported_from.as_deref(), key.value.pos), (Some("my_settings"), Pos { line: 1, col: 14 }));
    assert!(read_with("from my_settings import (\n  SECRET_KEY,\n)\n", &[], &modules).is_ok());
    let e = read_with("from my_settings import DATABASES\n", &[], &modules).unwrap_err();
    assert!(e.what.contains("DATABASES"), "{e}");
    let e = read_with("from my_settings import *\n", &[], &modules).unwrap_err();
    assert_eq!(e.pos, Pos { line: 1, col: 25 });
    let e = refusal("from my_settings import SECRET_KEY\n");
    assert!(e.what.contains("my_settings"), "{e}");
}

#[test]
fn code_is_refused_at_its_line_and_column() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("A = 1\nif A:\n    B = 2\n", (2, 1), "`if` statement"),
        ("import pymysql\n", (1, 8), "import pymysql"),
        ("import os as o\n", (1, 11), "as"),
        ("from django.conf import settings\n", (1, 6), "from django.conf"),
        ("X = f'{1}'\n", (1, 5), "f-string"),
        ("X = Rf'a'\n", (1, 5), "f-string"),
        ("SECRET_KEY = get_key()\n", (1, 14), "get_key"),
        ("import os\nSECRET_KEY = os.urandom(5)\n", (2, 16), "os.urandom"),
        ("A = 1\n  B = 2\n", (2, 3), "indented"),
        ("A = 1 + 2\n", (1, 7), "`+`"),
        ("A = 'a' + 'b'\n", (1, 9), "`+`"),
        ("A = [x for x in y]\n", (1, 6), "`x`"),
        ("A = 1 if B else 2\n", (1, 7), "`if`"),
        ("A: str = 'x'\n", (1, 1), "annotated"),
        ("D = {}\nD['a'] = 1\n", (2, 2), "item"),
        ("def f():\n    pass\n", (1, 1), "function definition"),
        ("A = 'x\n", (1, 5), "unterminated string"),
        ("A = '''x\n", (1, 5), "unterminated triple-quoted"),
        ("A = (1,\n", (1, 5), "never closed"),
        ("A = 1)\n", (1, 6), "unmatched"),
        ("A = '\\N{DASH}'\n", (1, 6), "\\N{"),
        ("A = '\\ud800'\n", (1, 5), "surrogate"),
        ("A = 'x' b'y'\n", (1, 9), "mix bytes"),
        ("A = 1j\n", (1, 5), "imaginary"),
        ("A = 012\n", (1, 5), "leading zeros"),
        ("A = 'é' \\ x\n", (1, 9), "continuation"),
        ("A = {'a': 1, **B}\n", (1, 14), "`**`"),
        ("A = os.environ.get('X', default='y')\n", (1, 5), "`os`"),
        ("import os\nA = os.environ.get('X', default='y')\n", (2, 25), "keyword argument"),
        ("A = $\n", (1, 5), "invalid character"),
        ("A = Path('x')\n", (1, 5), "`Path`"),
        ("A =\n", (1, 4), "end of the line"),
    ];
    for (text, (line, col), needle) in cases {
        let e = refusal(text);
        assert_eq!((e.pos.line, e.pos.col), (*line, *col), "{text:?}: {e}");
        assert!(e.what.contains(needle), "{text:?}: {e} does not say {needle}");
        assert!(!e.to_string().contains('\n'), "{text:?}: {e}");
    }
    assert_eq!(refusal("SECRET_KEY = get_key()\n").target.as_deref(), Some("SECRET_KEY"));
    assert_eq!(refusal("if True:\n    SECRET_KEY = 'x'\n").target, None);
}

#[test]
fn the_oracles_own_my_settings_is_refused_at_its_if() {
    let text = include_str!("../../../../tests/fixtures/django/oracle_my_settings.py");
    let e = refusal(text);
    assert_eq!((e.pos, e.target.as_deref()), (Pos { line: 9, col: 1 }, None));
    assert!(e.what.contains("`if` statement"), "{e}");
}
