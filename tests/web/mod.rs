//! What the web app's tests share: a real `ddcolor serve` started on a free loopback port with
//! its own data folder (stopped by SIGTERM when the test ends), accounts made with the real
//! `ddcolor users`, a small HTTP client that keeps its session cookie and CSRF token as a
//! browser does, multipart bodies, and generated photos.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{ddcolor_bin, model};

pub const PASSWORD: &str = "correct horse battery staple";

/// A running `ddcolor serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    /// Everything the server printed on standard error so far.
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts a server on `data` with the test model, plus `extra` options and `env`.
    pub fn start(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(ddcolor_bin());
        cmd.args(["serve", "--data"])
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--model"])
            .arg(model("test-dynamic"))
            .args(extra)
            .env_remove("DDCOLOR_MODEL")
            .env_remove("DDCOLOR_MODELS_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start ddcolor serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        let _ = tx.send(url.to_string());
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start: {}", log.lock().unwrap());
            }
        };
        Server {
            child,
            url,
            data: data.to_path_buf(),
            log,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the server dies without a chance to tidy up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    pub fn operations(&self) -> String {
        std::fs::read_to_string(self.data.join("operations.jsonl")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// `ddcolor users ARGS --data DATA`, with `stdin` fed to it; (status, stdout, stderr).
pub fn users(data: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(ddcolor_bin())
        .arg("users")
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ddcolor users");
    {
        use std::io::Write;
        let mut sin = child.stdin.take().expect("stdin");
        let _ = sin.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("ddcolor users");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn add_user(data: &Path, name: &str, admin: bool) {
    let mut args = vec!["add", name];
    if admin {
        args.push("--admin");
    }
    let (ok, out, err) = users(data, &args, &format!("{PASSWORD}\n"));
    assert!(ok, "users add {name}: {out}{err}");
}

/// A new API token for `name` (the last line `ddcolor users token` prints).
pub fn token(data: &Path, name: &str) -> String {
    let (ok, out, err) = users(data, &["token", name], "");
    assert!(ok, "users token: {err}");
    out.lines().last().expect("a token line").trim().to_string()
}

/// An HTTP answer, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }
}

/// A client that acts as one browser (session cookie, CSRF token) or one script (token).
#[derive(Clone)]
pub struct Client {
    pub base: String,
    agent: ureq::Agent,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub token: Option<String>,
    /// Sent as `Origin` with every request when set.
    pub origin: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            // A fresh connection per request: what is tested is the server's answers, not
            // the reuse of idle connections.
            .max_idle_connections(0)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client {
            base: base.to_string(),
            agent,
            cookie: None,
            csrf: None,
            token: None,
            origin: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        let mut c = Client::new(&self.base);
        c.token = Some(token.to_string());
        c
    }

    fn finish(mut res: ureq::http::Response<ureq::Body>) -> Reply {
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let mut body = Vec::new();
        let _ = res
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .read_to_end(&mut body);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Any request; `body`: (content type, bytes).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(o) = &self.origin {
            req = req.header("Origin", o);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let res = match body {
            Some((ct, bytes)) => {
                let req = req.header("Content-Type", ct).body(bytes).expect("request");
                self.agent.run(req)
            }
            None => self.agent.run(req.body(()).expect("request")),
        };
        Self::finish(res.unwrap_or_else(|e| panic!("{method} {path}: {e}")))
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, &[])
    }

    /// A change as the pages make it: with the CSRF header when logged in by cookie.
    pub fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
        match &self.csrf {
            Some(t) if self.token.is_none() => {
                self.request(method, path, body, &[("X-CSRF-Token", t.as_str())])
            }
            _ => self.request(method, path, body, &[]),
        }
    }

    /// Logs in through the form as a browser does: the login page first (its form token and
    /// cookie), then the form; keeps the session cookie and the CSRF token from the page.
    pub fn login(&mut self, name: &str, password: &str) -> Reply {
        let page = self.get("/login");
        let login_cookie = page
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .unwrap_or("")
            .to_string();
        let token = hidden_value(&page.text(), "login_token").unwrap_or_default();
        let body = format!(
            "name={}&password={}&next=/&login_token={}",
            urlencode(name),
            urlencode(password),
            urlencode(&token)
        );
        let r = self.request(
            "POST",
            "/login",
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
            &[("Cookie", login_cookie.as_str())],
        );
        if r.status == 303
            && let Some(c) = r.header("set-cookie")
        {
            self.cookie = Some(c.split(';').next().unwrap_or("").to_string());
            let page = self.get("/");
            self.csrf = meta_csrf(&page.text());
        }
        r
    }

    /// Uploads `files` (name, bytes) with form `fields`.
    pub fn upload(&self, files: &[(String, Vec<u8>)], fields: &[(&str, &str)]) -> Reply {
        let (ct, body) = multipart(files, fields);
        self.send("POST", "/api/jobs", Some((&ct, body)))
    }

    /// Polls the job until `until` holds (or panics after `limit`).
    pub fn wait_job(&self, id: i64, limit: Duration, until: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let r = self.get(&format!("/api/jobs/{id}"));
            assert_eq!(r.status, 200, "job {id}: {}", r.text());
            let j = r.json();
            if until(&j) {
                return j;
            }
            assert!(
                start.elapsed() < limit,
                "job {id} did not get there in {limit:?}: {j}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_finished(&self, id: i64, limit: Duration) -> Value {
        self.wait_job(id, limit, |j| {
            matches!(j["state"].as_str(), Some("done" | "failed" | "cancelled"))
        })
    }
}

/// The value of the hidden form field `name`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let at = html.find(&marker)? + marker.len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_string())
}

pub fn meta_csrf(html: &str) -> Option<String> {
    let at = html.find(r#"<meta name="csrf" content=""#)?;
    let rest = &html[at + r#"<meta name="csrf" content=""#.len()..];
    Some(rest[..rest.find('"')?].to_string()).filter(|s| !s.is_empty())
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A multipart/form-data body: (content type, bytes).
pub fn multipart(files: &[(String, Vec<u8>)], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "----ddcolor-test-boundary-7d3f0a";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A grey gradient photo, `w` x `h`, encoded as PNG or JPEG (by `ext`), different per `seed`.
pub fn photo(w: u32, h: u32, seed: u32, ext: &str) -> Vec<u8> {
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        image::Luma([((x * 7 + y * 3 + seed * 37) % 256) as u8])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    let format = if ext == "png" {
        image::ImageFormat::Png
    } else {
        image::ImageFormat::Jpeg
    };
    img.write_to(&mut bytes, format).expect("encode photo");
    bytes.into_inner()
}

/// A zip of (name, bytes) entries, deflated.
pub fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        w.write_all(bytes).expect("zip data");
    }
    w.finish().expect("zip").into_inner()
}

/// The names in a zip, with each entry's bytes.
pub fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).expect("zip entry");
            let mut data = Vec::new();
            f.read_to_end(&mut data).expect("zip data");
            (f.name().expect("entry name").to_string(), data)
        })
        .collect()
}
