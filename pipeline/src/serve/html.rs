//! The pages' HTML: escaping (every value from a user or a file goes through [`esc`]), and the
//! layout every page shares: the navigation, the test-model banner, and the CSRF token the
//! script sends with each change. No inline script or style anywhere (the CSP forbids them).

use std::fmt::Write;

use super::App;
use super::auth::Auth;

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A whole page: `title`, the body, and who is logged in (`None` on the login page).
pub fn page(app: &App, title: &str, auth: Option<&Auth>, body: &str) -> String {
    let mut nav = String::new();
    let mut csrf = String::new();
    if let Some(a) = auth {
        let _ = write!(
            nav,
            r#"<nav class="top"><a class="brand" href="/">ddcolor</a>
<a href="/" accesskey="n">Jobs</a><a href="/help" accesskey="h">Help</a>{admin}
<span class="who">{name}{role}</span>
<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{csrf}"><button class="link">Log out</button></form></nav>"#,
            admin = if a.user.admin {
                r#"<a href="/admin/log">Operation log</a>"#
            } else {
                ""
            },
            name = esc(&a.user.name),
            role = if a.user.admin { " (administrator)" } else { "" },
            csrf = esc(a.csrf.as_deref().unwrap_or_default()),
        );
        csrf = a.csrf.clone().unwrap_or_default();
    }
    let banner = match (app.test_model_only, auth.is_some()) {
        (false, _) => "",
        (true, true) => {
            r#"<div class="banner" role="alert"><strong>Colours are not meaningful:</strong> only a generated test model is installed. <a href="/help#models">How to install a real DDColor model</a>.</div>"#
        }
        // The help page needs a login: before it, the banner says where to look instead.
        (true, false) => {
            r#"<div class="banner" role="alert"><strong>Colours are not meaningful:</strong> only a generated test model is installed on this server (its administrator installs a real DDColor model: see models/README.md).</div>"#
        }
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf" content="{csrf}">
<title>{title} · ddcolor</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="/static/icon.svg">
<script src="/static/app.js" defer></script>
</head><body>
{nav}{banner}<main>
{body}
</main></body></html>"#,
        title = esc(title),
        csrf = esc(&csrf),
    )
}
