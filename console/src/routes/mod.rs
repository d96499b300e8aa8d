//! The console's pages: each handler reads the operator's session, asks the services, and
//! renders a template. A service that fails only blanks its part of a page (a [`Part`]).
pub mod analytics;
pub mod assets;
pub mod overview;
pub mod products;
pub mod session;
pub mod users;

use std::future::{ready, Ready};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::configuration::ConsoleSettings;
use crate::domain::session::{Session, CSRF_COOKIE, SESSION_COOKIE};
use crate::repository::metrics::MetricsSource;
use crate::repository::services::{CallError, Services};

/// What every handler reads.
pub struct AppState {
    pub services: Services,
    pub metrics: MetricsSource,
    pub settings: ConsoleSettings,
}

/// Mounts every page and the assets.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(assets::config_assets)
        .configure(session::config_session_pages)
        .configure(overview::config_overview_pages)
        .configure(users::config_user_pages)
        .configure(products::config_product_pages)
        .configure(analytics::config_analytics_pages);
}

/// Why a page is not shown.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid session: to the login page, then back to `next`.
    #[error("sign in first")]
    SignIn { next: String },
    #[error("the form's security token does not match this browser's session; reload the page")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} was not found")]
    NotFound(&'static str),
    #[error("the page could not be rendered")]
    Unexpected(#[from] anyhow::Error),
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    message: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn { next } = self {
            let location = format!("/login?next={}", urlencode(next));
            let mut gone = Cookie::new(SESSION_COOKIE, "");
            gone.set_path("/");
            gone.make_removal();
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .cookie(gone)
                .finish();
        }
        if let ConsoleError::Unexpected(e) = self {
            tracing::error!(error.cause_chain = ?e, "console page failed");
        }
        let page = ErrorPage {
            layout: Layout::anonymous("Error"),
            status: self.status_code().as_u16(),
            message: &self.to_string(),
        };
        let body = page.render().unwrap_or_else(|_| self.to_string());
        let mut response = HttpResponse::build(self.status_code());
        for header in PAGE_HEADERS {
            response.insert_header(header);
        }
        response.content_type("text/html; charset=utf-8").body(body)
    }
}

/// A percent-encoded query value.
pub fn urlencode(value: &str) -> String {
    reqwest::Url::parse_with_params("http://console/", &[("v", value)])
        .ok()
        .and_then(|u| u.query().map(|q| q.trim_start_matches("v=").to_owned()))
        .unwrap_or_default()
}

/// Headers of every page: only the console's own scripts, styles and forms; never framed.
pub const PAGE_HEADERS: [(&str, &str); 4] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
];

/// What the page frame needs: the title, the active navigation entry, the CSRF token of the
/// logout form.
pub struct Layout {
    pub title: String,
    pub active: &'static str,
    pub csrf: String,
    pub signed_in: bool,
}

impl Layout {
    /// A page of a signed-in operator.
    pub fn new(title: impl Into<String>, active: &'static str, operator: &Operator) -> Self {
        Self {
            title: title.into(),
            active,
            csrf: operator.csrf.clone(),
            signed_in: true,
        }
    }

    /// A page shown without a session (login, errors).
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            active: "",
            csrf: String::new(),
            signed_in: false,
        }
    }
}

/// The signed-in operator of a request, and the CSRF token their forms carry.
pub struct Operator {
    pub session: Session,
    pub csrf: String,
}

impl Operator {
    /// The session token the services are called with.
    pub fn token(&self) -> &str {
        &self.session.token
    }

    /// Refuses a form whose token is not this browser's.
    pub fn check_csrf(&self, form: &str) -> Result<(), ConsoleError> {
        if crate::domain::session::csrf_matches(Some(&self.csrf), form) {
            Ok(())
        } else {
            Err(ConsoleError::Csrf)
        }
    }
}

impl FromRequest for Operator {
    type Error = ConsoleError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let next = here(req);
        // A background refresh goes back to the page it refreshes, not to the fragment; a form
        // (POST) is not a page to come back to.
        let next = if next.starts_with("/overview/live") || req.method() != actix_web::http::Method::GET {
            "/".to_owned()
        } else {
            next
        };
        let session = req
            .cookie(SESSION_COOKIE)
            .and_then(|c| Session::from_token(c.value(), chrono::Utc::now()).ok());
        let csrf = req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned());
        ready(match (session, csrf) {
            (Some(session), Some(csrf)) if !csrf.is_empty() => Ok(Operator { session, csrf }),
            _ => Err(ConsoleError::SignIn { next }),
        })
    }
}

/// A part of a page from one service: its value, or why it is missing.
pub struct Part<T> {
    pub value: Option<T>,
    pub down: Option<String>,
}

impl<T> Part<T> {
    /// From a call's result: an expired session signs the operator out; any other failure
    /// leaves the part empty with the reason shown.
    pub fn of(result: Result<T, CallError>, next: &str) -> Result<Self, ConsoleError> {
        match result {
            Ok(value) => Ok(Self {
                value: Some(value),
                down: None,
            }),
            Err(CallError::Unauthorized) => Err(ConsoleError::SignIn {
                next: next.to_owned(),
            }),
            Err(e) => Ok(Self {
                value: None,
                down: Some(e.to_string()),
            }),
        }
    }
}

/// An HTML answer of a rendered template.
pub fn html(template: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let body = template
        .render()
        .map_err(|e| ConsoleError::Unexpected(anyhow::Error::new(e).context("Failed to render a page")))?;
    let mut response = HttpResponse::Ok();
    for header in PAGE_HEADERS {
        response.insert_header(header);
    }
    Ok(response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// A session or CSRF cookie: HttpOnly, SameSite=Strict, whole site, `Secure` when configured.
pub fn cookie(
    name: &'static str,
    value: String,
    secure: bool,
    max_age_seconds: Option<i64>,
) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_secure(secure);
    cookie.set_path("/");
    if let Some(seconds) = max_age_seconds {
        cookie.set_max_age(actix_web::cookie::time::Duration::seconds(seconds));
    }
    cookie
}

/// The request's path and query (where a sign-in returns to).
pub fn here(req: &HttpRequest) -> String {
    req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned()
}
