//! Every route in one table, with who may use it. The router is built from this table and so
//! is `ddcolor serve --list-routes`, which the tests walk without a login: a route added here
//! is refused to strangers unless it is explicitly public, and a route cannot exist outside
//! the table.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, delete, get, post};

use super::{App, api, pages};

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Access {
    /// Anyone: the login page, the health check and the pages' script and style.
    Public,
    /// A logged-in user (session or API token).
    User,
    /// An administrator.
    Admin,
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    handler: MethodRouter<Arc<App>>,
}

fn r(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: MethodRouter<Arc<App>>,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
    }
}

/// The table.
pub fn table() -> Vec<Route> {
    use Access::*;
    vec![
        r("GET", "/healthz", Public, get(api::healthz)),
        r("GET", "/login", Public, get(pages::login_page)),
        r("POST", "/login", Public, post(pages::login)),
        r("GET", "/static/{file}", Public, get(pages::asset)),
        r("POST", "/logout", User, post(pages::logout)),
        r("GET", "/", User, get(pages::home)),
        r("GET", "/jobs/{id}", User, get(pages::job_page)),
        r("GET", "/items/{id}", User, get(pages::item_page)),
        r("GET", "/help", User, get(pages::help)),
        r("GET", "/admin/log", Admin, get(pages::admin_log)),
        r("GET", "/api/me", User, get(api::me)),
        r("GET", "/api/models", User, get(api::models)),
        r("GET", "/api/openapi.yaml", User, get(api::openapi)),
        // Uploads stream to disk with their own limits (see `intake`): no body limit here.
        r(
            "POST",
            "/api/jobs",
            User,
            post(api::create_job).layer(DefaultBodyLimit::disable()),
        ),
        r("GET", "/api/jobs", User, get(api::list_jobs)),
        r("GET", "/api/jobs/{id}", User, get(api::get_job)),
        r("DELETE", "/api/jobs/{id}", User, delete(api::delete_job)),
        r("POST", "/api/jobs/{id}/cancel", User, post(api::cancel_job)),
        r("GET", "/api/jobs/{id}/events", User, get(api::events)),
        r(
            "GET",
            "/api/jobs/{id}/result.zip",
            User,
            get(api::result_zip),
        ),
        r(
            "GET",
            "/api/jobs/{id}/originals.zip",
            User,
            get(api::originals_zip),
        ),
        r("GET", "/api/items/{id}/result", User, get(api::item_result)),
        r(
            "GET",
            "/api/items/{id}/original",
            User,
            get(api::item_original),
        ),
        r(
            "GET",
            "/api/items/{id}/preview/{side}",
            User,
            get(api::item_preview),
        ),
        r("GET", "/admin/log.csv", Admin, get(pages::admin_log_csv)),
    ]
}

/// The router: each route behind the login its access needs, every answer with the security
/// headers, every change checked for a cross-site origin.
pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new();
    for route in table() {
        let handler = match route.access {
            Access::Public => route.handler,
            Access::User => route.handler.route_layer(from_fn_with_state(
                (Arc::clone(&app), false),
                super::auth::require_login,
            )),
            Access::Admin => route.handler.route_layer(from_fn_with_state(
                (Arc::clone(&app), true),
                super::auth::require_login,
            )),
        };
        router = router.route(route.path, handler);
    }
    router
        .fallback(pages::not_found)
        .layer(from_fn(super::auth::same_origin))
        .layer(from_fn_with_state(
            Arc::clone(&app),
            super::headers::security_headers,
        ))
        .with_state(app)
}

/// `ddcolor serve --list-routes`: the table as `METHOD PATH ACCESS` lines.
pub fn print_table() {
    for route in table() {
        let access = match route.access {
            Access::Public => "public",
            Access::User => "user",
            Access::Admin => "admin",
        };
        println!("{} {} {access}", route.method, route.path);
    }
}
