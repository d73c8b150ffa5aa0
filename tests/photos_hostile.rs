//! `photo` and `batch` against what an unattended archive run meets: folders that link back
//! into themselves, originals named like results, names at the file system's limit, runs killed
//! by a scheduler, results cut short by a crash, and two runs into one folder. Each test here
//! reproduces a defect a hostile tester found, and fails if the defect comes back.

#[macro_use]
mod common;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BATCH_MARKER, Run, files_under, model, snapshot};
use image::{GrayImage, Luma};
use tempfile::TempDir;

fn fast(mut args: Vec<OsString>) -> Vec<OsString> {
    args.extend(args![
        "--model",
        model("test-dynamic"),
        "--input-size",
        "256"
    ]);
    args
}

fn run_fast(args: Vec<OsString>) -> Run {
    common::run(
        common::ddcolor_command(fast(args)),
        Duration::from_secs(300),
    )
}

fn save_grey(path: &Path, w: u32, h: u32) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    GrayImage::from_fn(w, h, |x, y| Luma([((x * 7 + y * 3) % 256) as u8]))
        .save(path)
        .unwrap();
}

fn temporary_files(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|f| f.ends_with(".part"))
        .collect()
}

fn decodes(path: &Path) -> bool {
    image::open(path).is_ok()
}

#[test]
fn batch_walks_each_folder_once_through_link_loops() {
    let dir = TempDir::new().unwrap();
    let t = dir.path().join("t");
    save_grey(&t.join("a/x.png"), 24, 16);
    save_grey(&t.join("b/y.png"), 24, 16);
    // A link up the tree and a link to its own folder: two loops.
    symlink("..", t.join("a/loop")).unwrap();
    symlink("../a", t.join("a/self")).unwrap();
    // A link to a folder outside the tree is followed (archives link shares in).
    let share = dir.path().join("share");
    save_grey(&share.join("z.png"), 24, 16);
    symlink(&share, t.join("b/share")).unwrap();
    let out = dir.path().join("o");
    let r = run_fast(args!["batch", t, out]);
    r.assert_ok();
    assert!(r.elapsed < Duration::from_secs(120));
    assert_eq!(files_under(&out), ["a/x.png", "b/share/z.png", "b/y.png"]);
    assert!(r.stderr.contains("not walked:"), "stderr:\n{}", r.stderr);
    for link in ["a/loop", "a/self"] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(&t.join(link).display().to_string())
                    && l.contains("already walked")),
            "{link} not reported, stderr:\n{}",
            r.stderr
        );
    }
}

#[test]
fn photo_never_overwrites_an_input_named_like_a_result() {
    let dir = TempDir::new().unwrap();
    let (a, a_color) = (dir.path().join("a.png"), dir.path().join("a_color.png"));
    save_grey(&a, 20, 20);
    save_grey(&a_color, 30, 10);
    let snap = snapshot(&a_color);
    // Both given: a's result would replace the other input.
    let r = run_fast(args!["photo", a, a_color]);
    r.assert_one_error(&a, &["one of the inputs", "not overwritten"]);
    snap.assert_untouched();
    assert!(decodes(&dir.path().join("a_color_color.png")));

    // In a folder: a file named like a result that ddcolor did not write is kept.
    fs::remove_file(dir.path().join("a_color_color.png")).unwrap();
    let r = run_fast(args!["photo", dir.path()]);
    r.assert_one_error(&a, &["did not write", "not overwritten"]);
    snap.assert_untouched();
    assert_eq!(files_under(dir.path()), ["a.png", "a_color.png"]);

    // An earlier result (it carries ddcolor's provenance) is replaced as before.
    let other = TempDir::new().unwrap();
    let b = other.path().join("b.png");
    save_grey(&b, 20, 20);
    run_fast(args!["photo", other.path()]).assert_ok();
    let result = other.path().join("b_color.png");
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(&result)
        .unwrap()
        .set_modified(old)
        .unwrap();
    run_fast(args!["photo", other.path()]).assert_ok();
    assert!(
        common::mtime(&result) > old,
        "an earlier result is replaced"
    );
}

#[test]
fn names_at_the_file_system_limit_are_written() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    // 255 bytes, the most a name can have: the result keeps it.
    let name = format!("{}.png", "n".repeat(251));
    save_grey(&input.join(&name), 16, 16);
    let out = dir.path().join("out");
    let r = run_fast(args!["batch", input, out]);
    r.assert_ok();
    assert_eq!(files_under(&out), vec![name.clone()]);
    assert!(decodes(&out.join(&name)));
    assert!(temporary_files(&out).is_empty());
}

/// A folder of `n` photos, large enough that a batch of them takes a few seconds.
fn many_photos(dir: &Path, n: usize) {
    let first = dir.join("p000.png");
    save_grey(&first, 1600, 1200);
    for i in 1..n {
        fs::copy(&first, dir.join(format!("p{i:03}.png"))).unwrap();
    }
}

/// Waits until `out` holds at least one finished result (or fails after `limit`).
fn wait_for_a_result(out: &Path, limit: Duration) {
    let start = Instant::now();
    while !files_under(out).iter().any(|f| f.ends_with(".png")) {
        assert!(start.elapsed() < limit, "no result after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_a_batch_cleanly_and_a_rerun_finishes_it() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    many_photos(&input, 24);
    let out = dir.path().join("out");
    let running = common::start(common::ddcolor_command(fast(args![
        "batch", input, out, "--jobs", "1"
    ])));
    wait_for_a_result(&out, Duration::from_secs(120));
    let status = Command::new("kill")
        .args(["-TERM", &running.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let r = running.finish(Duration::from_secs(120));
    assert_eq!(r.code(), Some(130), "stderr:\n{}", r.stderr);
    assert!(r.stderr.contains("interrupted:"), "stderr:\n{}", r.stderr);
    assert!(temporary_files(&out).is_empty(), "{:?}", files_under(&out));
    let done = files_under(&out);
    assert!(done.len() < 24, "the run was not stopped: {done:?}");
    for f in &done {
        assert!(decodes(&out.join(f)), "{f}: a result left incomplete");
    }

    // A temporary file a killed run left (its process is gone) is removed by the next run.
    let mut child = Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    let stale = out.join(format!(".ddcolor-{gone}-abcdef.part"));
    fs::write(&stale, b"half a photo").unwrap();
    let r = run_fast(args!["batch", input, out]);
    r.assert_ok();
    assert!(!stale.exists());
    assert!(
        r.stderr.contains("removed 1 temporary file"),
        "stderr:\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("{} already done", done.len())),
        "stderr:\n{}",
        r.stderr
    );
    assert_eq!(files_under(&out).len(), 24);
}

#[test]
fn sigterm_stops_photo_with_an_honest_status() {
    let dir = TempDir::new().unwrap();
    many_photos(dir.path(), 16);
    let out = dir.path().join("out");
    let inputs: Vec<PathBuf> = (0..16)
        .map(|i| dir.path().join(format!("p{i:03}.png")))
        .collect();
    let mut a = args!["photo"];
    a.extend(inputs.iter().map(OsString::from));
    a.extend(args!["-o", out]);
    let running = common::start(common::ddcolor_command(fast(a)));
    wait_for_a_result(&out, Duration::from_secs(120));
    Command::new("kill")
        .args(["-TERM", &running.pid().to_string()])
        .status()
        .unwrap();
    let r = running.finish(Duration::from_secs(120));
    assert_eq!(r.code(), Some(130), "stderr:\n{}", r.stderr);
    assert!(temporary_files(&out).is_empty());
    for f in files_under(&out) {
        assert!(decodes(&out.join(&f)), "{f}");
    }
}

#[test]
fn resume_redoes_empty_and_truncated_results() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    for name in ["a.png", "b.png", "c.png", "d.png"] {
        save_grey(&input.join(name), 64, 48);
    }
    let out = dir.path().join("out");
    run_fast(args!["batch", input, out]).assert_ok();
    // A power cut: one result empty, one cut in half.
    fs::write(out.join("a.png"), b"").unwrap();
    let b = fs::read(out.join("b.png")).unwrap();
    fs::write(out.join("b.png"), &b[..b.len() / 2]).unwrap();
    let kept = snapshot(&out.join("c.png"));
    let r = run_fast(args!["batch", input, out]);
    r.assert_ok();
    assert!(
        r.stderr.contains("2 incomplete result(s) made again"),
        "stderr:\n{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("done: 2 colorized, 2 skipped (already done), 0 failed"),
        "stderr:\n{}",
        r.stderr
    );
    kept.assert_untouched();
    for f in ["a.png", "b.png"] {
        assert!(decodes(&out.join(f)), "{f} was not made again");
    }

    // Other settings: the results are kept, and the run says they were made otherwise.
    let r = run_fast(args!["batch", input, out, "--quality", "50"]);
    r.assert_ok();
    assert!(
        r.stderr
            .contains("4 of the results skipped were made with other settings"),
        "stderr:\n{}",
        r.stderr
    );
}

#[test]
fn a_second_batch_into_a_locked_folder_fails_naming_the_holder() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    save_grey(&input.join("a.png"), 32, 32);
    let out = dir.path().join("out");
    run_fast(args!["batch", input, out]).assert_ok();
    fs::remove_file(out.join("a.png")).unwrap();
    // Another process holds the folder's lock, as a running batch does.
    // `-o`: `flock` holds the lock itself, so killing it frees the folder.
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(out.join(BATCH_MARKER))
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    let r = loop {
        let r = run_fast(args!["batch", input, out]);
        // `flock` may not have taken the lock yet.
        if r.stderr.contains("another ddcolor batch") || start.elapsed() > Duration::from_secs(20) {
            break r;
        }
        fs::remove_file(out.join("a.png")).ok();
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = holder.kill();
    let _ = holder.wait();
    r.assert_one_error(
        &out,
        &["another ddcolor batch", &format!("process {}", holder.id())],
    );
    assert!(
        !out.join("a.png").exists(),
        "nothing written while the lock was held"
    );
    // Once the holder is gone the folder is free again.
    run_fast(args!["batch", input, out]).assert_ok();
    assert!(decodes(&out.join("a.png")));
}

#[test]
fn two_batches_into_one_folder_do_not_both_run() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    many_photos(&input, 60);
    let out = dir.path().join("out");
    let first = common::start(common::ddcolor_command(fast(args![
        "batch", input, out, "--jobs", "1"
    ])));
    wait_for_a_result(&out, Duration::from_secs(120));
    let second = run_fast(args!["batch", input, out]);
    second.assert_one_error(
        &out,
        &["another ddcolor batch", &format!("process {}", first.pid())],
    );
    let r = first.finish(Duration::from_secs(300));
    r.assert_ok();
    assert_eq!(files_under(&out).len(), 60);
}

#[test]
fn a_full_disk_fails_each_photo_naming_its_result_and_leaves_nothing_partial() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    many_photos(&input, 6);
    let Some(disk) = common::Tmpfs::mount(&dir.path().join("disk"), "256k") else {
        common::skipped(
            "a_full_disk_fails_each_photo_naming_its_result_and_leaves_nothing_partial",
            &"cannot mount a tmpfs here (not root?)",
        );
        return;
    };
    let out = disk.0.join("out");
    let r = run_fast(args!["batch", input, out, "--format", "png"]);
    r.assert_failed();
    // 1600x1200 colour PNGs do not fit in 256 KiB: each fails on its own, named by its result.
    let errors = r.error_lines();
    assert!(!errors.is_empty(), "stderr:\n{}", r.stderr);
    for e in &errors {
        assert!(
            e.contains(&out.display().to_string()) && e.to_lowercase().contains("space"),
            "{e}"
        );
    }
    assert!(r.stderr.contains("failed:"), "stderr:\n{}", r.stderr);
    assert!(temporary_files(&out).is_empty(), "{:?}", files_under(&out));
    for f in files_under(&out) {
        assert!(
            decodes(&out.join(&f)),
            "{f}: a partial result under its final name"
        );
    }
}
