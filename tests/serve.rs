//! `ddcolor serve` over real HTTP: a server started on a loopback port for each test, its
//! accounts made with `ddcolor users`, its jobs run by the real `batch` and `film`. What a user
//! relies on: nothing without a login, nobody sees another's jobs, uploads checked, jobs that
//! survive a killed server, results that decode, an operation log that says who did what.

mod common;
mod web;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use web::{Client, PASSWORD, Server, add_user, photo, token, unzip, users, zip_of};

const JOB_LIMIT: Duration = Duration::from_secs(180);

fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn logged_in(server: &Server, name: &str) -> Client {
    let mut c = server.client();
    let r = c.login(name, PASSWORD);
    assert_eq!(r.status, 303, "login of {name}: {}", r.text());
    assert!(c.csrf.is_some(), "the page carries a CSRF token");
    c
}

/// The routes as the server lists them: (method, path, access).
fn routes() -> Vec<(String, String, String)> {
    let out = common::ddcolor_command(["serve", "--list-routes"])
        .output()
        .expect("list routes");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut p = l.split_whitespace();
            (
                p.next().unwrap_or("").to_string(),
                p.next().unwrap_or("").to_string(),
                p.next().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{file}", "app.js")
        .replace("{side}", "after")
}

#[test]
fn every_route_refuses_strangers() {
    let data = data_dir();
    add_user(data.path(), "alice", true);
    add_user(data.path(), "bob", false);
    let server = Server::start(data.path(), &[], &[]);
    let routes = routes();
    assert!(routes.len() >= 20, "the route table: {routes:?}");
    let stranger = server.client();
    let mut forged = server.client();
    forged.cookie = Some("ddcolor_session=0123456789abcdef".into());
    let bad_token = server.client().with_token("ddc_not_a_real_token");
    let bob = server.client().with_token(&token(data.path(), "bob"));
    let mut public = Vec::new();
    for (method, path, access) in &routes {
        let url = concrete(path);
        if access == "public" {
            public.push(path.clone());
            continue;
        }
        for who in [&stranger, &forged, &bad_token] {
            let r = who.request(method, &url, None, &[]);
            if path.starts_with("/api/") {
                assert_eq!(
                    r.status,
                    401,
                    "{method} {url} without a login: {}",
                    r.text()
                );
                assert!(
                    r.json()["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("log in"))
                );
            } else {
                assert_eq!(r.status, 303, "{method} {url} without a login");
                assert!(
                    r.header("location")
                        .is_some_and(|l| l.starts_with("/login")),
                    "{method} {url} goes to the login page"
                );
            }
        }
        if access == "admin" {
            let r = bob.request(method, &url, None, &[]);
            assert_eq!(r.status, 403, "{method} {url} as a plain user");
        }
    }
    assert_eq!(
        public,
        ["/healthz", "/login", "/login", "/static/{file}"],
        "the only routes open to everyone"
    );
    assert_eq!(stranger.get("/healthz").status, 200);
    assert_eq!(stranger.get("/login").status, 200);
    assert_eq!(stranger.get("/static/app.js").status, 200);
    // Unknown paths are 404 for everyone, and say nothing more.
    assert_eq!(stranger.get("/api/nothing-here").status, 404);
}

#[test]
fn no_default_account_and_password_rules() {
    let data = data_dir();
    let server = Server::start(data.path(), &[], &[]);
    assert!(
        server.log().contains("no users yet"),
        "the server says how to make the first user: {}",
        server.log()
    );
    for (name, pw) in [("admin", "admin"), ("admin", "password"), ("root", "root")] {
        let mut c = server.client();
        assert_eq!(c.login(name, pw).status, 401, "{name}/{pw} must not log in");
    }
    let (ok, _, err) = users(data.path(), &["add", "carol"], "short\n");
    assert!(!ok && err.contains("too short"), "{err}");
    let (ok, _, err) = users(data.path(), &["add", "bad name!"], &format!("{PASSWORD}\n"));
    assert!(!ok && err.contains("bad user name"), "{err}");
    add_user(data.path(), "carol", false);
    let (ok, _, err) = users(data.path(), &["add", "carol"], &format!("{PASSWORD}\n"));
    assert!(!ok && err.contains("exists already"), "{err}");
    // The hash is argon2id; the password appears nowhere in the data folder.
    // The database and its write-ahead log (where recent rows live until a checkpoint).
    let mut db = std::fs::read(data.path().join("ddcolor.sqlite")).expect("database");
    db.extend(std::fs::read(data.path().join("ddcolor.sqlite-wal")).unwrap_or_default());
    let db_text = String::from_utf8_lossy(&db);
    assert!(
        db_text.contains("$argon2id$"),
        "passwords are hashed with argon2id"
    );
    for f in ["ddcolor.sqlite", "ddcolor.sqlite-wal", "operations.jsonl"] {
        let bytes = std::fs::read(data.path().join(f)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PASSWORD),
            "{f} holds the password in the clear"
        );
    }
    let (ok, out, _) = users(data.path(), &["list"], "");
    assert!(ok && out.contains("carol"), "{out}");
}

#[test]
fn sessions_cookies_csrf_and_tokens() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let server = Server::start(data.path(), &[], &[]);
    let mut c = server.client();
    let r = c.login("alice", PASSWORD);
    assert_eq!(r.status, 303);
    let cookie = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure flag over plain HTTP");
    let home = c.get("/");
    assert_eq!(home.status, 200);
    assert!(home.text().contains("alice"));
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(home.header("referrer-policy"), Some("no-referrer"));
    let csp = home.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert!(!home.text().contains("<script>"), "no inline script");

    // A change without the page's token, or with a wrong one, is refused.
    let no_token = c.request("POST", "/api/jobs/1/cancel", None, &[]);
    assert_eq!(no_token.status, 403, "{}", no_token.text());
    let wrong = c.request(
        "POST",
        "/api/jobs/1/cancel",
        None,
        &[("X-CSRF-Token", "00000000000000000000000000000000")],
    );
    assert_eq!(wrong.status, 403);
    // With it, the request goes through (to "no such job").
    assert_eq!(c.send("POST", "/api/jobs/1/cancel", None).status, 404);
    // Logging in needs the login page's own token: another site cannot post the form.
    let forged_login = server.client().request(
        "POST",
        "/login",
        Some((
            "application/x-www-form-urlencoded",
            format!("name=alice&password={}&next=/", web::urlencode(PASSWORD)).into_bytes(),
        )),
        &[],
    );
    assert_eq!(forged_login.status, 403, "{}", forged_login.text());
    assert!(
        forged_login
            .header("set-cookie")
            .is_some_and(|c| c.starts_with("ddcolor_login="))
    );
    // Another site's page is refused even with the token.
    let mut cross = c.clone();
    cross.origin = Some("https://evil.example".into());
    assert_eq!(cross.send("POST", "/api/jobs/1/cancel", None).status, 403);

    // Tokens: no cookie, no CSRF needed; revoked ones stop working.
    let t = token(data.path(), "alice");
    assert!(t.starts_with("ddc_"));
    let script = server.client().with_token(&t);
    assert_eq!(script.get("/api/jobs").status, 200);
    let (ok, _, err) = users(data.path(), &["token", "alice", "--revoke", "all"], "");
    assert!(ok, "{err}");
    assert_eq!(script.get("/api/jobs").status, 401);
    assert!(!server.operations().contains(&t), "a token reached the log");

    // Logging out ends the session on the server, not only in the browser.
    let form = format!("csrf={}", c.csrf.clone().unwrap_or_default());
    let out = c.request(
        "POST",
        "/logout",
        Some(("application/x-www-form-urlencoded", form.into_bytes())),
        &[],
    );
    assert_eq!(out.status, 303);
    assert_eq!(c.get("/api/jobs").status, 401);

    // A new password ends every session.
    let mut c2 = logged_in(&server, "alice");
    assert_eq!(c2.get("/api/jobs").status, 200);
    let (ok, _, _) = users(data.path(), &["passwd", "alice"], "another long password\n");
    assert!(ok);
    assert_eq!(c2.get("/api/jobs").status, 401);
    assert_eq!(c2.login("alice", "another long password").status, 303);
}

#[test]
fn failed_logins_are_throttled_and_logged() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let server = Server::start(data.path(), &[], &[]);
    let mut c = server.client();
    for _ in 0..5 {
        assert_eq!(c.login("alice", "wrong password!").status, 401);
    }
    // Even the right password waits now.
    let r = c.login("alice", PASSWORD);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert!(r.text().contains("Too many failed logins"));
    // Guessing other accounts from the same address is throttled too.
    let mut other = server.client();
    for name in ["a1", "a2", "a3", "a4", "a5"] {
        other.login(name, "guess");
    }
    let log = server.operations();
    assert!(log.contains("\"login failed\""), "{log}");
    assert!(log.contains("\"login throttled\""), "{log}");
    assert!(log.contains("127.0.0.1"), "the address is logged");
    assert!(
        !log.contains("wrong password!"),
        "a password reached the log"
    );
}

fn photos(n: u32, ext: &str) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("scan{i:02}.{ext}"),
                photo(96 + 8 * i, 64 + 4 * i, i, ext),
            )
        })
        .collect()
}

fn job_id(r: &web::Reply) -> i64 {
    assert_eq!(r.status, 202, "upload: {}", r.text());
    let j = r.json();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/jobs/{}", j["id"]).as_str())
    );
    j["id"].as_i64().expect("job id")
}

#[test]
fn an_album_goes_through_with_its_failure_explained() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let server = Server::start(data.path(), &[], &[]);
    let c = logged_in(&server, "alice");
    let mut files = photos(3, "png");
    files.push(("album/inner.jpg".into(), photo(80, 60, 9, "jpg")));
    files.push(("broken.jpg".into(), b"this is not a jpeg at all".to_vec()));
    files.push(("notes.txt".into(), b"a note".to_vec()));
    let id = job_id(&c.upload(&files, &[("size", "256"), ("name", "Grandma's album")]));
    let j = c.wait_finished(id, JOB_LIMIT);
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(
        (
            j["total"].as_i64(),
            j["done"].as_i64(),
            j["failed"].as_i64()
        ),
        (Some(5), Some(4), Some(1))
    );
    assert!(
        j["notes"].to_string().contains("notes.txt"),
        "the left-out file is noted: {j}"
    );
    let items = j["items"].as_array().expect("items");
    let broken = items
        .iter()
        .find(|i| i["name"] == "broken.jpg")
        .expect("broken item");
    assert_eq!(broken["state"], "failed");
    assert!(
        broken["error"].as_str().is_some_and(|e| !e.is_empty()),
        "a reason: {broken}"
    );
    assert!(
        items
            .iter()
            .any(|i| i["name"] == "album/inner.jpg" && i["state"] == "done")
    );

    // Each result: the original's size and format, provenance inside.
    let mut originals = BTreeMap::new();
    for (n, b) in &files {
        originals.insert(n.clone(), b.clone());
    }
    for item in items.iter().filter(|i| i["state"] == "done") {
        let name = item["name"].as_str().unwrap_or_default();
        let r = c.get(&format!("/api/items/{}/result", item["id"]));
        assert_eq!(r.status, 200);
        let result = image::load_from_memory(&r.body).expect("the result decodes");
        let original = image::load_from_memory(&originals[name]).expect("original");
        assert_eq!(
            (result.width(), result.height()),
            (original.width(), original.height())
        );
        assert!(
            String::from_utf8_lossy(&r.body).contains("ddcolor"),
            "{name}: provenance in the result"
        );
        let back = c.get(&format!("/api/items/{}/original", item["id"]));
        assert_eq!(
            back.body, originals[name],
            "{name}: the original comes back unchanged"
        );
        let preview = c.get(&format!("/api/items/{}/preview/after?w=480", item["id"]));
        assert_eq!(preview.status, 200);
        assert_eq!(preview.header("content-type"), Some("image/jpeg"));
    }
    // The album as a zip, streamed: every result, each decodes.
    let z = c.get(&format!("/api/jobs/{id}/result.zip"));
    assert_eq!(z.status, 200);
    assert_eq!(z.header("content-type"), Some("application/zip"));
    let entries = unzip(&z.body);
    let mut names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["album/inner.jpg", "scan00.png", "scan01.png", "scan02.png"]
    );
    for (n, b) in &entries {
        image::load_from_memory(b).unwrap_or_else(|e| panic!("{n} in the zip: {e}"));
    }
    let o = unzip(&c.get(&format!("/api/jobs/{id}/originals.zip")).body);
    assert_eq!(o.len(), 5);
    // The pages show it.
    let page = c.get(&format!("/jobs/{id}")).text();
    assert!(page.contains("Grandma&#39;s album"), "escaped job name");
    assert!(page.contains("broken.jpg") && page.contains("failed"));
    let log = server.operations();
    for action in [
        "\"upload\"",
        "\"job started\"",
        "\"job done with failures\"",
        "\"download\"",
    ] {
        assert!(log.contains(action), "{action} missing from the log: {log}");
    }
}

#[test]
fn progress_streams_as_server_sent_events() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let server = Server::start(data.path(), &[], &[]);
    let c = server.client().with_token(&token(data.path(), "alice"));
    // Large enough that the stream opens long before the job ends (each photo takes a good
    // part of a second at S=1024, and the job's command loads the model first).
    let big: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("big{i}.png"), photo(1600, 1200, i, "png")))
        .collect();
    let id = job_id(&c.upload(&big, &[("size", "1024")]));
    // Read the stream until the job's final state: it closes by itself.
    let r = c.get(&format!("/api/jobs/{id}/events"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let text = r.text();
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter_map(|block| {
            let ev = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((ev.to_string(), serde_json::from_str(data).ok()?))
        })
        .collect();
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("job"));
    let (last_name, last) = events.last().expect("events");
    assert_eq!(last_name, "job");
    assert_eq!(last["state"], "done");
    assert_eq!(last["done"], 4);
    // The steps in between: each photo, and the rate once one is done.
    let done_items = events
        .iter()
        .filter(|(n, v)| n == "item" && v["state"] == "done")
        .count();
    assert_eq!(done_items, 4, "{text}");
    assert!(
        events
            .iter()
            .any(|(n, v)| n == "progress" && v["rate"].is_number()),
        "{text}"
    );
}

#[test]
fn nobody_sees_another_users_jobs() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    add_user(data.path(), "bob", false);
    add_user(data.path(), "root", true);
    let server = Server::start(data.path(), &[], &[]);
    let alice = server.client().with_token(&token(data.path(), "alice"));
    let bob = logged_in(&server, "bob");
    let admin = server.client().with_token(&token(data.path(), "root"));
    let id = job_id(&alice.upload(&photos(1, "png"), &[("size", "256")]));
    let j = alice.wait_finished(id, JOB_LIMIT);
    let item = j["items"][0]["id"].as_i64().expect("item");
    for path in [
        format!("/api/jobs/{id}"),
        format!("/api/jobs/{id}/events"),
        format!("/api/jobs/{id}/result.zip"),
        format!("/api/jobs/{id}/originals.zip"),
        format!("/api/items/{item}/result"),
        format!("/api/items/{item}/original"),
        format!("/api/items/{item}/preview/before"),
    ] {
        assert_eq!(bob.get(&path).status, 404, "bob GET {path}");
    }
    assert_eq!(bob.get(&format!("/jobs/{id}")).status, 404);
    assert_eq!(bob.get(&format!("/items/{item}")).status, 404);
    assert_eq!(
        bob.send("DELETE", &format!("/api/jobs/{id}"), None).status,
        404
    );
    assert_eq!(
        bob.send("POST", &format!("/api/jobs/{id}/cancel"), None)
            .status,
        404
    );
    assert_eq!(
        bob.get("/api/jobs").json()["jobs"].as_array().map(Vec::len),
        Some(0)
    );
    assert!(!bob.get("/").text().contains("scan00"));
    // Administrators see everyone's.
    assert_eq!(admin.get(&format!("/api/jobs/{id}")).status, 200);
    assert_eq!(
        admin.get("/api/jobs?all=1").json()["jobs"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // And alice's job is still whole.
    assert_eq!(alice.get(&format!("/api/items/{item}/result")).status, 200);
}

#[test]
fn zips_are_unpacked_with_limits() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let server = Server::start(data.path(), &["--max-files", "8"], &[]);
    let c = server.client().with_token(&token(data.path(), "alice"));
    let album = zip_of(&[
        ("family/a.png", photo(64, 48, 1, "png")),
        ("family/b.jpg", photo(64, 48, 2, "jpg")),
        ("__MACOSX/family/._a.png", b"resource fork".to_vec()),
    ]);
    let id = job_id(&c.upload(&[("family.zip".into(), album)], &[("size", "256")]));
    let j = c.wait_finished(id, JOB_LIMIT);
    let mut names: Vec<String> = j["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, ["family/family/a.png", "family/family/b.jpg"]);
    assert_eq!(j["done"], 2);

    // A path that climbs out of the album.
    let mut evil = zip_of(&[("aaaaaaaaaaaa.png", photo(8, 8, 1, "png"))]);
    patch_name(&mut evil, b"aaaaaaaaaaaa.png", b"../../evil.png__");
    let r = c.upload(&[("evil.zip".into(), evil)], &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("evil.zip"))
    );
    assert!(
        !data.path().join("evil.png__").exists() && !data.path().join("jobs/evil.png__").exists()
    );
    // A bomb: 60 MB of zeros in a few KB.
    let bomb = zip_of(&[("zeros.png", vec![0u8; 60 << 20])]);
    assert!(bomb.len() < 1 << 20);
    let r = c.upload(&[("bomb.zip".into(), bomb)], &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    // Too many entries for the server's limit of 8.
    let many: Vec<(String, Vec<u8>)> = (0..9)
        .map(|i| (format!("p{i}.png"), photo(8, 8, i, "png")))
        .collect();
    let many_refs: Vec<(&str, Vec<u8>)> =
        many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let r = c.upload(&[("many.zip".into(), zip_of(&many_refs))], &[]);
    assert!(r.status == 400 || r.status == 413, "{}", r.text());
    assert!(
        r.json()["error"].as_str().is_some_and(|e| e.contains('8')),
        "{}",
        r.text()
    );
    // Nothing of the refused uploads stayed behind.
    let left: Vec<_> = std::fs::read_dir(data.path().join("jobs"))
        .expect("jobs")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [id.to_string()], "only the good job's folder");
    let log = server.operations();
    assert!(log.contains("\"upload refused\""), "{log}");
}

/// Replaces a same-length name in a zip's local header and central directory.
fn patch_name(zip: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= zip.len() {
        if &zip[i..i + from.len()] == from {
            zip[i..i + from.len()].copy_from_slice(to);
            n += 1;
        }
        i += 1;
    }
    assert_eq!(n, 2, "the name is in both headers");
}

#[test]
fn a_killed_server_resumes_its_job_without_redoing_anything() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let t = token(data.path(), "alice");
    let server = Server::start(data.path(), &[], &[]);
    let c = server.client().with_token(&t);
    // Large enough that the kill lands in the middle.
    let files: Vec<(String, Vec<u8>)> = (0..14)
        .map(|i| (format!("big{i:02}.png"), photo(1600, 1200, i, "png")))
        .collect();
    let id = job_id(&c.upload(&files, &[("size", "1024")]));
    let mid = c.wait_job(id, JOB_LIMIT, |j| j["done"].as_i64().unwrap_or(0) >= 2);
    assert!(
        mid["done"].as_i64() < Some(14),
        "the job ended before the kill: {mid}"
    );
    server.kill();
    let out = data.path().join(format!("jobs/{id}/out"));
    // What was finished before the kill, with each file's identity.
    let before: BTreeMap<String, (u64, std::time::SystemTime)> = done_files(&out);
    assert!(!before.is_empty());

    let server = Server::start(data.path(), &[], &[]);
    assert!(
        server.log().contains("go on where they stopped"),
        "the restart says it resumes: {}",
        server.log()
    );
    let c = server.client().with_token(&t);
    let j = c.wait_finished(id, JOB_LIMIT);
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(
        (j["done"].as_i64(), j["failed"].as_i64()),
        (Some(14), Some(0)),
        "{j}"
    );
    let after = done_files(&out);
    assert_eq!(after.len(), 14);
    for (name, id_before) in &before {
        assert_eq!(after.get(name), Some(id_before), "{name} was made again");
    }
    let leftovers: Vec<_> = common::files_under(&out)
        .into_iter()
        .filter(|f| f.contains(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let zip = unzip(&c.get(&format!("/api/jobs/{id}/result.zip")).body);
    assert_eq!(zip.len(), 14);
}

fn done_files(out: &Path) -> BTreeMap<String, (u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    common::files_under(out)
        .into_iter()
        .filter(|f| f.ends_with(".png") && !f.starts_with('.'))
        .map(|f| {
            let m = std::fs::metadata(out.join(&f)).expect("result");
            (f, (m.ino(), m.modified().expect("mtime")))
        })
        .collect()
}

#[test]
fn cancel_delete_and_quotas() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let server = Server::start(
        data.path(),
        &["--quota-jobs", "2", "--quota-storage", "40"],
        &[],
    );
    let c = logged_in(&server, "alice");
    let big: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("big{i:02}.png"), photo(1600, 1200, i, "png")))
        .collect();
    let first = job_id(&c.upload(&big, &[("size", "1024")]));
    let second = job_id(&c.upload(&photos(1, "png"), &[("size", "256")]));
    // Two waiting or running: the third is refused, saying why.
    let r = c.upload(&photos(1, "png"), &[]);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("waiting"))
    );
    // Cancel the running one: it stops, what was done is kept.
    c.wait_job(first, JOB_LIMIT, |j| j["state"] == "running");
    let r = c.send("POST", &format!("/api/jobs/{first}/cancel"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = c.wait_finished(first, JOB_LIMIT);
    assert_eq!(j["state"], "cancelled");
    assert!(
        j["done"].as_i64() < Some(10),
        "cancelled before the end: {j}"
    );
    assert!(
        j["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["state"] == "cancelled")),
        "the photos it never reached say cancelled: {j}"
    );
    assert_eq!(j["failed"], 0, "cancelled photos are not failures: {j}");
    let j2 = c.wait_finished(second, JOB_LIMIT);
    assert_eq!(j2["state"], "done", "the queue goes on after a cancel");
    assert_eq!(
        c.send("POST", &format!("/api/jobs/{first}/cancel"), None)
            .status,
        409
    );
    // Delete: the files go, the job is gone.
    let r = c.send("DELETE", &format!("/api/jobs/{first}"), None);
    assert_eq!(r.status, 204);
    assert!(!data.path().join(format!("jobs/{first}")).exists());
    assert_eq!(c.get(&format!("/api/jobs/{first}")).status, 404);
    // Storage quota (40 MiB): an upload that would pass it is refused, nothing kept.
    let huge = vec![("huge.png".to_string(), vec![7u8; 45 << 20])];
    let r = c.upload(&huge, &[]);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("quota")),
        "{}",
        r.text()
    );
    let log = server.operations();
    for action in ["\"job cancelled\"", "\"job deleted\"", "\"upload refused\""] {
        assert!(log.contains(action), "{action}: {log}");
    }
}

#[test]
fn running_out_of_memory_is_shown_on_the_job() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let server = Server::start(data.path(), &[], &[("DDCOLOR_SIMULATE_OOM_ABOVE", "512")]);
    let c = server.client().with_token(&token(data.path(), "alice"));
    // Sizes step down 1280, 960, 768, 512: at 768 the simulated limit sends it to 512.
    let id = job_id(&c.upload(&photos(2, "png"), &[("size", "768")]));
    let j = c.wait_finished(id, JOB_LIMIT);
    assert_eq!(j["done"], 2, "{j}");
    assert!(
        j["notes"]
            .to_string()
            .contains("ran out of memory at input size 768"),
        "the step-down is on the job: {j}"
    );
    assert!(
        j["items"]
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i["size"] == 512)),
        "{j}"
    );
    let page = c.get(&format!("/jobs/{id}"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("ran out of memory at input size 768"));
}

#[test]
fn a_film_job_plays_and_downloads() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let film = data.path().join("clip.mp4");
    let made = std::process::Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            "num-buffers=12",
            "pattern=ball",
            "!",
            "video/x-raw,width=160,height=120,framerate=12/1",
            "!",
            "videoconvert",
            "!",
            "x264enc",
            "!",
            "mp4mux",
            "!",
            "filesink",
        ])
        .arg(format!("location={}", film.display()))
        .status()
        .expect("gst-launch-1.0");
    assert!(made.success());
    let server = Server::start(data.path(), &[], &[]);
    let c = server.client().with_token(&token(data.path(), "alice"));
    let bytes = std::fs::read(&film).expect("clip");
    let id = job_id(&c.upload(&[("clip.mp4".into(), bytes.clone())], &[("size", "256")]));
    let j = c.wait_finished(id, JOB_LIMIT);
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(j["kind"], "film");
    assert_eq!(j["done"], 1);
    let item = j["items"][0]["id"].as_i64().expect("item");
    let r = c.get(&format!("/api/items/{item}/result"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("video/mp4"));
    assert_eq!(&r.body[4..8], b"ftyp");
    // The player seeks with ranges.
    let part = c.request(
        "GET",
        &format!("/api/items/{item}/result?view=inline"),
        None,
        &[("Range", "bytes=0-99")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body.len(), 100);
    // A film and photos together are refused: one film per job.
    let r = c.upload(
        &[
            ("clip.mp4".into(), bytes),
            ("a.png".into(), photo(8, 8, 1, "png")),
        ],
        &[],
    );
    assert_eq!(r.status, 400);
}

#[test]
fn a_public_address_without_tls_is_warned_about() {
    let data = data_dir();
    let mut cmd = common::ddcolor_command(["serve", "--listen", "0.0.0.0:0", "--data"]);
    cmd.arg(data.path()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut seen = String::new();
    for line in lines.by_ref().map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("listening on") {
            break;
        }
    }
    web::signal(child.id(), "TERM");
    // Read on to the end, so the server's last words find their pipe open.
    for line in lines.map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
    }
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "SIGTERM stops the server cleanly: {status}"
    );
    assert!(
        seen.contains("warning: listening on 0.0.0.0") && seen.contains("TLS"),
        "{seen}"
    );
}

#[test]
fn every_page_shows_what_it_should() {
    let data = data_dir();
    add_user(data.path(), "alice", true);
    add_user(data.path(), "bob", false);
    let server = Server::start(data.path(), &[], &[]);
    let c = logged_in(&server, "alice");
    let id = job_id(&c.upload(
        &photos(2, "png"),
        &[("size", "256"), ("name", "=HYPERLINK(\"x\")")],
    ));
    let j = c.wait_finished(id, JOB_LIMIT);
    let item = j["items"][0]["id"].as_i64().expect("item");
    // Every GET route, logged in, with real ids: no server error anywhere.
    for (method, path, _) in routes() {
        if method != "GET" {
            continue;
        }
        let url = path
            .replace(
                "{id}",
                &if path.starts_with("/api/items") || path.starts_with("/items") {
                    item.to_string()
                } else {
                    id.to_string()
                },
            )
            .replace("{file}", "style.css")
            .replace("{side}", "before");
        let r = c.get(&url);
        assert!(r.status < 400, "GET {url}: {} {}", r.status, r.text());
        assert!(
            r.header("content-security-policy").is_some(),
            "GET {url} lacks its CSP"
        );
    }
    // The test model's banner is on every page.
    for page in [
        "/",
        "/help",
        &format!("/jobs/{id}"),
        &format!("/items/{item}"),
    ] {
        assert!(
            c.get(page).text().contains("Colours are not meaningful"),
            "{page} lacks the test-model banner"
        );
    }
    let help = c.get("/help").text();
    for needle in [
        "portrait",
        "building",
        "Which size when",
        "modelscope",
        "artistic",
        "paper_tiny",
        "patchy",
        "Provenance",
        "Keyboard shortcuts",
        "/api/openapi.yaml",
        "POST /api/jobs",
    ] {
        assert!(help.contains(needle), "the help page lacks {needle}");
    }
    let api = c.get("/api/openapi.yaml").text();
    for route in [
        "/api/jobs:",
        "/api/jobs/{id}:",
        "/api/jobs/{id}/events:",
        "/api/jobs/{id}/result.zip:",
        "/api/items/{id}/result:",
        "/healthz:",
    ] {
        assert!(api.contains(route), "openapi.yaml lacks {route}");
    }
    let before_after = c.get(&format!("/items/{item}")).text();
    assert!(before_after.contains("id=\"slider\"") && before_after.contains("preview/after"));
    // The operation log: filters and a CSV that a spreadsheet cannot run.
    let mut bob = server.client();
    bob.login("bob", "not bob's password");
    let log = c.get("/admin/log?user=bob").text();
    assert!(log.contains("login failed"), "bob's failed login is listed");
    assert!(
        !log.contains("<td>upload</td>"),
        "the filter shows only bob's entries"
    );
    let uploads = c.get("/admin/log?action=upload").text();
    assert!(uploads.contains("job 1") && !uploads.contains("<td>login failed</td>"));
    let csv = c.get("/admin/log.csv");
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv = csv.text();
    assert!(
        csv.starts_with("id,at,user,address,action,detail\n"),
        "{csv}"
    );
    assert!(csv.contains("login failed") && csv.contains("upload"));
    assert!(
        !csv.contains(",=HYPERLINK"),
        "a formula reached the CSV unescaped: {csv}"
    );
    let today = &common_today();
    assert!(
        c.get(&format!("/admin/log?since={today}&until={today}"))
            .text()
            .contains("login")
    );
    assert!(
        !c.get("/admin/log?until=2000-01-01")
            .text()
            .contains("<td>login</td>")
    );
}

/// Today's date (UTC) as the admin page's date filters take it.
fn common_today() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn tls_serves_secure_cookies() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let (cert, key) = (data.path().join("cert.pem"), data.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian package openssl)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let server = Server::start(
        data.path(),
        &[
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
        &[],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    // Python's TLS client (set up by `make setup`), trusting the test's own certificate.
    let script = format!(
        r#"
import http.client, re, ssl, sys
ctx = ssl.create_default_context(cafile={cert:?})
ctx.check_hostname = False
host, port = {hostport:?}.rsplit(":", 1)
c = http.client.HTTPSConnection(host, int(port), context=ctx)
c.request("GET", "/login")
r = c.getresponse()
page = r.read().decode()
login_cookie = r.getheader("Set-Cookie").split(";")[0]
token = re.search(r'name="login_token" value="([^"]*)"', page).group(1)
c.request("POST", "/login", body="name=alice&password={pw}&next=/&login_token=" + token,
          headers={{"Content-Type": "application/x-www-form-urlencoded", "Cookie": login_cookie}})
r = c.getresponse()
print(r.status)
print(r.getheader("Set-Cookie"))
print(r.getheader("Strict-Transport-Security"))
"#,
        cert = cert.display().to_string(),
        hostport = server.url.trim_start_matches("https://"),
        pw = web::urlencode(PASSWORD),
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"303"), "{text}");
    assert!(
        lines
            .get(1)
            .is_some_and(|c| c.contains("Secure") && c.contains("HttpOnly")),
        "{text}"
    );
    assert!(
        lines.get(2).is_some_and(|h| h.contains("max-age")),
        "{text}"
    );
}

#[test]
fn a_stopped_server_pauses_its_job_and_goes_on_at_the_next_start() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let t = token(data.path(), "alice");
    let server = Server::start(data.path(), &[], &[]);
    let c = server.client().with_token(&t);
    let files: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| (format!("big{i:02}.png"), photo(1600, 1200, i, "png")))
        .collect();
    let id = job_id(&c.upload(&files, &[("size", "1024")]));
    c.wait_job(id, JOB_LIMIT, |j| j["done"].as_i64().unwrap_or(0) >= 1);
    let status = server.stop();
    assert!(
        status.success(),
        "SIGTERM stops the server cleanly: {status}"
    );
    let out = data.path().join(format!("jobs/{id}/out"));
    let before = done_files(&out);
    let log = std::fs::read_to_string(data.path().join("operations.jsonl")).unwrap_or_default();
    assert!(log.contains("\"job paused\""), "{log}");
    assert!(
        !data.path().join(format!("jobs/{id}/command.pid")).exists(),
        "the job's command ended with the server"
    );
    let server = Server::start(data.path(), &[], &[]);
    let c = server.client().with_token(&t);
    let j = c.wait_finished(id, JOB_LIMIT);
    assert_eq!(
        (j["state"].as_str(), j["done"].as_i64()),
        (Some("done"), Some(12)),
        "{j}"
    );
    let after = done_files(&out);
    for (name, id_before) in &before {
        assert_eq!(after.get(name), Some(id_before), "{name} was made again");
    }
}

#[test]
fn a_deleted_job_leaves_nothing_behind_for_the_next() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    add_user(data.path(), "bob", false);
    let server = Server::start(data.path(), &[], &[]);
    let alice = server.client().with_token(&token(data.path(), "alice"));
    let bob = server.client().with_token(&token(data.path(), "bob"));
    let first = job_id(&alice.upload(&photos(1, "png"), &[("size", "256")]));
    alice.wait_finished(first, JOB_LIMIT);
    assert_eq!(
        alice
            .send("DELETE", &format!("/api/jobs/{first}"), None)
            .status,
        204
    );
    // The next job, anyone's, gets a new id and runs to its end.
    let next = job_id(&bob.upload(&photos(2, "png"), &[("size", "256")]));
    assert_ne!(next, first, "a deleted job's id is given again");
    let j = bob.wait_finished(next, JOB_LIMIT);
    assert_eq!(
        (j["state"].as_str(), j["done"].as_i64()),
        (Some("done"), Some(2)),
        "{j}"
    );
    assert_eq!(alice.get(&format!("/api/jobs/{first}")).status, 404);
}

#[test]
fn login_sends_nowhere_but_this_site() {
    let data = data_dir();
    add_user(data.path(), "alice", false);
    let server = Server::start(data.path(), &[], &[]);
    let c = logged_in(&server, "alice");
    for next in [
        "//evil.example",
        "/%09/evil.example",
        "/\\evil.example",
        "https://evil.example",
    ] {
        let r = c.get(&format!("/login?next={next}"));
        assert_eq!(r.status, 303, "{next}");
        assert_eq!(
            r.header("location"),
            Some("/"),
            "next={next} must not leave the site"
        );
    }
    let r = c.get("/login?next=/help");
    assert_eq!(r.header("location"), Some("/help"));
}
