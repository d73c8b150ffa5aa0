//! The web app in a real browser: headless Chromium driven through its WebDriver
//! (`chromedriver`, started here on a loopback port), against a real `ddcolor serve` with the
//! test model. One scenario, as a person uses it: log in through the form, choose a folder of
//! photos (one of them broken), pick a size, press Colorize, watch the job's progress arrive over
//! server-sent events until the page shows 4 done and 1 failed with the failure's reason, open a
//! photo's before/after page and move its slider, download the zip of the results (through the
//! browser's own download) and check what is in it.
//!
//! Along the way it takes the screenshots the README shows (`target/screenshots/*.png`; copied by
//! hand into `docs/screenshots/`, never written there by the test). On a failed wait it saves
//! `target/screenshots/failure-*.{png,html}` and panics with the page's address, the browser's
//! console and the server's log.
//!
//! Needs `chromedriver` on PATH and Chromium (Debian's `chromium` and `chromium-driver`;
//! `scripts/setup.sh` installs them). Without them the test fails, unless
//! `DDCOLOR_SKIP_BROWSER=1` says to skip it.

mod common;
mod web;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use web::{PASSWORD, Server, add_user, unzip};

/// How long the job may take (four small photos at size 256 with the test model: seconds).
const JOB_LIMIT: Duration = Duration::from_secs(120);
/// How long a page, an image or a download may take.
const PAGE_LIMIT: Duration = Duration::from_secs(30);

const USER: &str = "margaret";
const JOB_NAME: &str = "Grandma's album";

/// The folder the test uploads: real historical photos (so the screenshots show what the product
/// does) and one file that is not a photo at all, some in folders of the folder: (path as the
/// page sees it, the photo under `tests/media/photos/historical/`). The first in name order, the
/// one whose before/after page is shown, is a landscape photo: it fits the screenshot.
const ALBUM: [(&str, Option<&str>); 5] = [
    ("album/1888Slum.jpg", Some("1888Slum.jpg")),
    ("album/broken.jpg", None),
    // A large scan (4764x3759): the job lasts long enough to be seen running.
    (
        "album/covered-wagons-traveling.jpg",
        Some("covered-wagons-traveling.jpg"),
    ),
    (
        "album/london/LondonStreets1900.jpg",
        Some("LondonStreets1900.jpg"),
    ),
    ("album/portraits/1870Girl.jpg", Some("1870Girl.jpg")),
];

fn screenshots_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/screenshots"
    ))
}

/// `program` on PATH, if it is there and executable.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|f| {
            f.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A small HTTP agent for talking to chromedriver outside fantoccini (the console log, and
/// ending the session from `Drop`), which never panics.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// `chromedriver --port=N`, our child, in a process group of its own (the browser it starts
/// joins it). Dropped, even on a panic: the WebDriver session is ended (Chromium quits), then
/// chromedriver is killed by its PID, then anything left in its group.
struct Driver {
    child: Child,
    url: String,
    session: Option<String>,
}

impl Driver {
    fn start(bin: &Path, log: &Path) -> Driver {
        let port = free_port();
        let mut child = Command::new(bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let deadline = Instant::now() + PAGE_LIMIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chromedriver exited at start ({status}); its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver did not listen on port {port} within {PAGE_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            session: None,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = agent().delete(format!("{}/session/{id}", self.url)).call();
        }
        let pid = self.child.id() as libc::pid_t;
        let _ = self.child.kill();
        // chromedriver is not reaped yet, so its PID (the group's id) cannot have been reused.
        // SAFETY: kill(2) on our own child's process group.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The WebDriver session's capabilities: headless Chromium, a fixed window, downloads into
/// `downloads` without asking, and the console kept for the failure messages.
fn capabilities(downloads: &Path) -> serde_json::Map<String, Value> {
    let mut chrome = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"],
        "prefs": {
            "download.default_directory": downloads.to_str().expect("a UTF-8 temp path"),
            "download.prompt_for_download": false,
        },
    });
    if Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = json!("/usr/bin/chromium");
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": chrome,
        "goog:loggingPrefs": {"browser": "ALL"},
    });
    caps.as_object().expect("an object").clone()
}

/// The browser, with what a failure message needs: the server's log, the console, a place for
/// screenshots.
struct Browser<'a> {
    c: Client,
    server: &'a Server,
    driver_url: String,
    session: String,
    shots: PathBuf,
    /// Every console line seen so far (chromedriver hands each out once).
    console: std::sync::Mutex<Vec<String>>,
}

impl Browser<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    /// The browser's console lines since the last call, added to [`Browser::console`]:
    /// `LEVEL message`.
    fn read_console(&self) -> Vec<String> {
        let got = agent()
            .post(format!(
                "{}/session/{}/se/log",
                self.driver_url, self.session
            ))
            .header("Content-Type", "application/json")
            .send(r#"{"type":"browser"}"#)
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let lines: Vec<String> = got
            .as_ref()
            .and_then(|v| v["value"].as_array())
            .map(|a| {
                a.iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["level"].as_str().unwrap_or("?"),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.console.lock().unwrap().extend(lines.iter().cloned());
        lines
    }

    /// What went wrong, with a screenshot and the page source saved as
    /// `target/screenshots/failure-SLUG.{png,html}`, the console and the server's log.
    async fn diagnose(&self, what: &str) -> String {
        let slug: String = what
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(60)
            .collect();
        let base = self.shots.join(format!("failure-{slug}"));
        let mut saved = Vec::new();
        if let Ok(png) = self.c.screenshot().await
            && std::fs::write(base.with_extension("png"), png).is_ok()
        {
            saved.push(base.with_extension("png").display().to_string());
        }
        if let Ok(html) = self.c.source().await
            && std::fs::write(base.with_extension("html"), html).is_ok()
        {
            saved.push(base.with_extension("html").display().to_string());
        }
        let at = self
            .c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("(unknown: {e})"));
        self.read_console();
        let console = self.console.lock().unwrap().join("\n");
        format!(
            "{what}\n-- page: {at}\n-- saved: {}\n-- browser console:\n{console}\n-- server log:\n{}",
            saved.join(", "),
            self.server.log()
        )
    }

    async fn fail(&self, what: &str) -> ! {
        let msg = self.diagnose(what).await;
        panic!("{msg}")
    }

    /// Like `assert!`, with the failure's screenshot, page, console and server log.
    async fn check(&self, holds: bool, what: impl FnOnce() -> String) {
        if !holds {
            self.fail(&what()).await;
        }
    }

    async fn ok<T, E: Debug>(&self, what: &str, r: Result<T, E>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => self.fail(&format!("{what}: {e:?}")).await,
        }
    }

    async fn goto(&self, path: &str) {
        let r = self.c.goto(&self.url(path)).await;
        self.ok(&format!("open {path}"), r).await;
    }

    async fn find(&self, css: &str) -> Element {
        let r = self.c.find(Locator::Css(css)).await;
        self.ok(&format!("find {css}"), r).await
    }

    async fn js(&self, script: &str) -> Value {
        let r = self.c.execute(script, vec![]).await;
        self.ok(&format!("run {script}"), r).await
    }

    /// Polls `script` (the body of a function) until it returns something truthy, and returns
    /// that; fails after `limit`.
    async fn wait_js(&self, what: &str, limit: Duration, script: &str) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            // A page that is being replaced (a reload, a navigation) can fail a script: retry.
            if let Ok(v) = self.c.execute(script, vec![]).await
                && truthy(&v)
            {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(&format!("waited {limit:?} for {what}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_path(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PAGE_LIMIT;
        loop {
            if let Ok(u) = self.c.current_url().await
                && pred(u.path())
            {
                // And the page is there.
                self.wait_js(
                    &format!("{what}: the page loaded"),
                    PAGE_LIMIT,
                    "return document.readyState === 'complete';",
                )
                .await;
                return u.path().to_string();
            }
            if Instant::now() > deadline {
                self.fail(&format!("waited {PAGE_LIMIT:?} for {what}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn shot(&self, name: &str) {
        let r = self.c.screenshot().await;
        let png = self.ok(&format!("screenshot {name}"), r).await;
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        println!("screenshot: {}", path.display());
    }

    /// Fails unless every image on the page has loaded (not broken).
    async fn images_loaded(&self, what: &str) {
        self.wait_js(
            what,
            PAGE_LIMIT,
            "const imgs = Array.from(document.images);
             return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);",
        )
        .await;
    }
}

/// What the job's page shows: the state it was rendered with (the page reloads itself when the
/// job ends), and what the event stream has written into it since. Null while it loads.
const JOB_STATE: &str = "const job = document.getElementById('job');
    if (!job || document.readyState !== 'complete') return null;
    return {
      rendered: job.dataset.state,
      state: document.getElementById('state').textContent.trim(),
      counts: document.getElementById('counts').textContent.trim(),
      failed: document.getElementById('failed').textContent.trim(),
      bar: document.getElementById('bar').value,
    };";

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Lays out the album on disk, as a person would have it before choosing the folder.
fn make_album(root: &Path) -> PathBuf {
    for (rel, source) in ALBUM {
        let to = root.join(rel);
        std::fs::create_dir_all(to.parent().expect("a folder")).expect("album folder");
        match source {
            Some(name) => {
                std::fs::copy(common::historical(name), &to).expect("copy a photo");
            }
            None => std::fs::write(
                &to,
                b"\xff\xd8\xff\xe0 not really a JPEG, only its first bytes",
            )
            .expect("write the broken file"),
        }
    }
    root.join("album")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_colorized_in_the_browser() {
    let Some(chromedriver) = on_path("chromedriver") else {
        if std::env::var_os("DDCOLOR_SKIP_BROWSER").is_some_and(|v| v == "1") {
            common::skipped(
                "a_folder_colorized_in_the_browser",
                &"chromedriver is not on PATH (DDCOLOR_SKIP_BROWSER=1)",
            );
            return;
        }
        panic!(
            "chromedriver is not on PATH: this test drives Chromium through it. Install Debian's \
             `chromium` and `chromium-driver` (scripts/setup.sh does), or set \
             DDCOLOR_SKIP_BROWSER=1 to skip the browser test on a machine without them"
        );
    };
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).expect("target/screenshots");
    for e in std::fs::read_dir(&shots).into_iter().flatten().flatten() {
        // Failures of an earlier run would mislead, and so would its view of a running job.
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("failure-") || name == "job-running.png" {
            let _ = std::fs::remove_file(e.path());
        }
    }

    let data = tempfile::tempdir().expect("temp dir");
    let disk = tempfile::tempdir().expect("temp dir");
    let downloads = tempfile::tempdir().expect("temp dir");
    let album = make_album(disk.path());
    // An administrator, so that the same session can show the operation log.
    add_user(data.path(), USER, true);
    let server = Server::start(data.path(), &[], &[]);

    let mut driver = Driver::start(&chromedriver, &shots.join("chromedriver.log"));
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities(downloads.path()))
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no WebDriver session (is Chromium installed?): {e}\nchromedriver's log:\n{}",
                std::fs::read_to_string(shots.join("chromedriver.log")).unwrap_or_default()
            )
        });
    let session = client
        .session_id()
        .await
        .ok()
        .flatten()
        .expect("a session id");
    driver.session = Some(session.clone());
    let b = Browser {
        c: client,
        server: &server,
        driver_url: driver.url.clone(),
        session,
        shots: shots.clone(),
        console: Default::default(),
    };

    // ---- log in through the form --------------------------------------------------------
    b.goto("/").await;
    b.wait_path("the login page", |p| p == "/login").await;
    let r = b.find("input[name=name]").await.send_keys(USER).await;
    b.ok("type the name", r).await;
    let r = b
        .find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await;
    b.ok("type the password", r).await;
    b.shot("login").await;
    let r = b
        .find("form[action='/login'] button[type=submit]")
        .await
        .click()
        .await;
    b.ok("press Log in", r).await;
    b.wait_path("the jobs page after logging in", |p| p == "/")
        .await;
    let who = b.find("nav.top .who").await.text().await;
    let who = b.ok("who is logged in", who).await;
    b.check(who.contains(USER), || {
        format!("the page says who is logged in: {who}")
    })
    .await;

    // ---- choose the folder, the size, press Colorize ------------------------------------
    // chromedriver uploads a whole folder through `<input type=file webkitdirectory>` (the
    // page's "Choose a folder") when sent that one folder's path: the page gets every file with
    // its path relative to the folder's parent (`album/london/...`), exactly as when a person
    // picks the folder. Neither alternative gives that: "Choose files" with several paths loses
    // the folders (a plain file input has no relative paths), and a drop built in script
    // (`DataTransfer`) cannot carry folder entries: `webkitGetAsEntry` answers only for a real
    // drag from the desktop.
    let pick = b.find("#pick-folder").await;
    let r = pick.send_keys(album.to_str().expect("a UTF-8 path")).await;
    b.ok("choose the folder", r).await;
    let chosen = b
        .wait_js(
            "the page to list the 5 chosen files",
            PAGE_LIMIT,
            "const t = document.getElementById('chosen').textContent;
             return t.startsWith('5 file(s) chosen') && !document.getElementById('start').disabled && t;",
        )
        .await;
    b.check(
        chosen.as_str().is_some_and(|t| t.contains("album/")),
        || format!("the files keep their folder: {chosen}"),
    )
    .await;
    let r = b
        .find("select[name=size]")
        .await
        .select_by_label("256")
        .await;
    b.ok("choose size 256", r).await;
    let r = b.find("input[name=name]").await.send_keys(JOB_NAME).await;
    b.ok("type the job name", r).await;
    b.shot("upload").await;
    let r = b.find("#start").await.click().await;
    b.ok("press Colorize", r).await;

    // ---- the job's page: live progress, then the finished page --------------------------
    let job_path = b
        .wait_path("the job's page after the upload", |p| {
            p.starts_with("/jobs/")
        })
        .await;
    let deadline = Instant::now() + JOB_LIMIT;
    let mut seen = Vec::new();
    let mut running_shots = 0;
    loop {
        let now = b.c.execute(JOB_STATE, vec![]).await.unwrap_or(Value::Null);
        if !now.is_null() {
            let line = format!("{} {} {}", now["state"], now["counts"], now["failed"]);
            if seen.last() != Some(&line) {
                println!("job page: {line}");
                seen.push(line);
                let busy = |v: &Value| {
                    v["state"] == "running" && v["bar"].as_f64().is_some_and(|b| b < 100.0)
                };
                if busy(&now) {
                    // Kept only if the page still shows photos to do once the picture is taken
                    // (the job may end meanwhile); the latest, furthest along, wins.
                    let png = b.c.screenshot().await;
                    let after = b.c.execute(JOB_STATE, vec![]).await.unwrap_or(Value::Null);
                    if let Ok(png) = png
                        && busy(&after)
                    {
                        std::fs::write(shots.join("job-running.png"), png)
                            .expect("write job-running.png");
                        running_shots += 1;
                    }
                }
            }
            if matches!(
                now["rendered"].as_str(),
                Some("done" | "failed" | "cancelled")
            ) {
                if now["rendered"] == "done"
                    && now["counts"] == "4 of 5 done"
                    && now["failed"]
                        .as_str()
                        .is_some_and(|f| f.contains("1 failed"))
                {
                    break;
                }
                b.fail(&format!("the job ended otherwise: {now}")).await;
            }
        }
        if Instant::now() > deadline {
            b.fail(&format!(
                "waited {JOB_LIMIT:?} for the job page to show 4 done, 1 failed; it went {seen:?}"
            ))
            .await;
        }
        // Often: the test model takes a fraction of a second per photo.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if running_shots == 0 {
        println!("the job ended before its page could be seen running: no job-running.png");
    } else {
        println!("screenshot: {}", shots.join("job-running.png").display());
    }
    b.images_loaded("the finished job's previews").await;
    let failed = b
        .js("return Array.from(document.querySelectorAll('.tile.failed'))
               .map((t) => [t.querySelector('.name').textContent, t.querySelector('.error').textContent]);")
        .await;
    let failed = failed.as_array().cloned().unwrap_or_default();
    b.check(
        failed.len() == 1
            && failed[0][0] == "album/broken.jpg"
            && failed[0][1].as_str().is_some_and(|e| !e.trim().is_empty()),
        || format!("one failed tile, album/broken.jpg, which says why: {failed:?}"),
    )
    .await;
    let done = b
        .js("return Array.from(document.querySelectorAll('.tile.done .name')).map((n) => n.textContent);")
        .await;
    b.check(done.as_array().map(Vec::len) == Some(4), || {
        format!("four done tiles: {done}")
    })
    .await;
    b.shot("job-finished").await;

    // ---- one photo, before and after ----------------------------------------------------
    let r = b.find(".tile.done a").await.click().await;
    b.ok("open the first done photo", r).await;
    b.wait_path("the before/after page", |p| p.starts_with("/items/"))
        .await;
    let sizes = b
        .wait_js(
            "both pictures of the before/after page to load",
            PAGE_LIMIT,
            "const before = document.querySelector('#compare img.before');
             const after = document.querySelector('#after-clip img.after');
             if (!before || !after || !before.complete || !after.complete) return null;
             return before.naturalWidth > 0 && after.naturalWidth > 0
               && [before.naturalWidth, after.naturalWidth];",
        )
        .await;
    println!("before/after natural widths: {sizes}");
    let hint = b.find("p.hint").await.text().await;
    let hint = b.ok("the page's hint", hint).await;
    b.check(hint.contains("input size 256"), || {
        format!("the size chosen on the form was used: {hint}")
    })
    .await;
    b.shot("before-after").await;
    let clip = "return document.getElementById('after-clip').style.clipPath;";
    let start = b.js(clip).await;
    // The keyboard, as the page's hint says: arrows on the slider.
    let slider = b.find("#slider").await;
    let r = slider.send_keys(&Key::Right.to_string().repeat(10)).await;
    b.ok("press → on the slider", r).await;
    let moved = b
        .wait_js(
            "the split to follow the slider's arrow keys",
            PAGE_LIMIT,
            &format!(
                "const c = document.getElementById('after-clip').style.clipPath;
                 return c !== {start} && c;"
            ),
        )
        .await;
    b.check(moved.as_str().is_some_and(|c| c.contains("60%")), || {
        format!("ten steps right from 50: {moved} (was {start})")
    })
    .await;
    // And a drag, as the range input reports it: a new value and an `input` event.
    let dragged = b
        .js("const s = document.getElementById('slider');
             s.value = 20;
             s.dispatchEvent(new Event('input'));
             return [document.getElementById('after-clip').style.clipPath,
                     document.getElementById('divider').style.left];")
        .await;
    b.check(
        dragged[0].as_str().is_some_and(|c| c.contains("20%")) && dragged[1] == "20%",
        || format!("the split follows the slider: {dragged}"),
    )
    .await;

    // ---- the zip of the results, downloaded by the browser ------------------------------
    b.goto(&job_path).await;
    b.wait_path("the job's page again", |p| p == job_path).await;
    let r = b.find("#zip").await.click().await;
    b.ok("press Download all results", r).await;
    let deadline = Instant::now() + PAGE_LIMIT;
    let zip_path = loop {
        let files: Vec<PathBuf> = std::fs::read_dir(downloads.path())
            .expect("the download folder")
            .flatten()
            .map(|e| e.path())
            .collect();
        // Chromium writes `NAME.crdownload` and renames it when the download is complete.
        let partial = files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "crdownload"));
        if let Some(z) = files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "zip"))
            && !partial
        {
            break z.clone();
        }
        if Instant::now() > deadline {
            b.fail(&format!(
                "waited {PAGE_LIMIT:?} for the zip download; the download folder has {files:?}"
            ))
            .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("downloaded {}", zip_path.display());
    let entries = unzip(&std::fs::read(&zip_path).expect("read the zip"));
    let names: BTreeSet<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let expected: BTreeSet<&str> = ALBUM
        .iter()
        .filter(|(_, src)| src.is_some())
        .map(|(rel, _)| *rel)
        .collect();
    assert_eq!(entries.len(), 4, "four results in the zip: {names:?}");
    assert_eq!(names, expected, "named as uploaded");
    for (name, bytes) in &entries {
        let img = image::load_from_memory(bytes)
            .unwrap_or_else(|e| panic!("{name} in the zip does not decode: {e}"));
        let (_, source) = ALBUM.iter().find(|(rel, _)| rel == name).expect("known");
        let original =
            image::open(common::historical(source.expect("a photo"))).expect("the original");
        assert_eq!(
            (img.width(), img.height()),
            (original.width(), original.height()),
            "{name}: the result has the original's size"
        );
    }

    // ---- the help page, the operation log ------------------------------------------------
    b.goto("/help").await;
    b.wait_path("the help page", |p| p == "/help").await;
    b.shot("help").await;
    b.goto("/admin/log").await;
    b.wait_path("the operation log", |p| p == "/admin/log")
        .await;
    let actions = b
        .js(
            "return Array.from(document.querySelectorAll('table.log tbody tr td:nth-child(4)'))
               .map((td) => td.textContent);",
        )
        .await;
    for action in ["login", "upload", "job started", "download"] {
        b.check(
            actions
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == action)),
            || format!("the operation log shows {action:?}: {actions}"),
        )
        .await;
    }
    b.shot("operation-log").await;

    // ---- the job's page on a phone ------------------------------------------------------
    let r = b.c.set_window_size(390, 844).await;
    b.ok("a phone-sized window", r).await;
    b.goto(&job_path).await;
    b.wait_path("the job's page on a phone", |p| p == job_path)
        .await;
    b.images_loaded("the job's previews on a phone").await;
    let overflow = b
        .js("const d = document.documentElement; return [d.scrollWidth, d.clientWidth];")
        .await;
    b.check(overflow[0].as_i64() <= overflow[1].as_i64(), || {
        format!(
            "nothing wider than a phone's screen on the job page: {overflow} (scroll width, width)"
        )
    })
    .await;
    b.shot("job-phone").await;

    // ---- log out (a form, as the login is) ----------------------------------------------
    let r = b
        .find("nav.top form[action='/logout'] button")
        .await
        .click()
        .await;
    b.ok("press Log out", r).await;
    b.wait_path("the login page after logging out", |p| p == "/login")
        .await;
    b.goto(&job_path).await;
    b.wait_path("the login page for a job's page once logged out", |p| {
        p == "/login"
    })
    .await;

    // ---- no script errors on any page ----------------------------------------------------
    b.read_console();
    let severe: Vec<String> = b
        .console
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("SEVERE"))
        .cloned()
        .collect();
    if !severe.is_empty() {
        b.fail(&format!("errors in the browser's console: {severe:#?}"))
            .await;
    }

    let r = b.c.clone().close().await;
    b.ok("end the WebDriver session", r).await;
    driver.session = None;
    drop(b);
    drop(driver);
    let status = server.stop();
    assert!(status.success(), "the server stops cleanly: {status}");
}
