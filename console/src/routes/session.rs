//! Login and logout: the users service starts and ends the session; the console keeps its
//! access token in an HttpOnly, SameSite=Strict cookie.
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{cookie, html, AppState, ConsoleError, Layout, Operator};
use crate::domain::session::{
    csrf_matches, new_csrf_token, Session, SessionError, CSRF_COOKIE, SESSION_COOKIE,
};
use crate::repository::services::CallError;

/// Mounts `/login` and `/logout`.
pub fn config_session_pages(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .route(web::get().to(login_page))
            .route(web::post().to(login)),
    )
    .service(web::resource("/logout").route(web::post().to(logout)));
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    error: Option<String>,
}

/// Where to go after signing in: a path on this site only (never `//host` or a URL).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The login form, with a fresh CSRF cookie.
async fn login_page(
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let csrf = new_csrf_token()?;
    let page = LoginPage {
        layout: Layout {
            csrf: csrf.clone(),
            ..Layout::anonymous("Sign in")
        },
        next: safe_next(query.next.as_deref()),
        error: None,
    };
    let mut response = html(&page)?;
    response
        .add_cookie(&cookie(CSRF_COOKIE, csrf, state.settings.secure_cookies, None))
        .map_err(|e| ConsoleError::Unexpected(e.into()))?;
    Ok(response)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// Signs in an administrator, or shows the form again with what went wrong.
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ConsoleError> {
    let csrf = req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned());
    if !csrf_matches(csrf.as_deref(), &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let next = safe_next(form.next.as_deref());
    let again = |error: String| LoginPage {
        layout: Layout {
            csrf: csrf.clone().unwrap_or_default(),
            ..Layout::anonymous("Sign in")
        },
        next: next.clone(),
        error: Some(error),
    };
    let tokens = match state.services.login(form.email.trim(), &form.password).await {
        Ok(tokens) => tokens,
        Err(CallError::Unauthorized) => return html(&again("Wrong e-mail address or password.".into())),
        Err(e @ (CallError::Unavailable { .. } | CallError::Rejected { .. })) => {
            return html(&again(e.to_string()))
        }
        Err(e @ (CallError::Forbidden | CallError::NotFound)) => return html(&again(e.to_string())),
    };
    match Session::from_token(&tokens.access_token, chrono::Utc::now()) {
        Ok(_) => {}
        Err(SessionError::NotAdmin) => {
            // A user's session has no use here: end it rather than leave it open.
            let _ = state.services.logout(&tokens.access_token).await;
            return html(&again("The console is for administrators.".into()));
        }
        Err(e @ (SessionError::Malformed | SessionError::Expired)) => return html(&again(e.to_string())),
    }
    let max_age = i64::try_from(tokens.expires_in).unwrap_or(i64::MAX);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(cookie(
            SESSION_COOKIE,
            tokens.access_token,
            state.settings.secure_cookies,
            Some(max_age),
        ))
        .finish())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Ends the session at the users service (revoked everywhere) and forgets the cookie.
async fn logout(
    state: web::Data<AppState>,
    operator: Operator,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    operator.check_csrf(&form.csrf)?;
    if let Err(e) = state.services.logout(operator.token()).await {
        tracing::warn!(error.cause_chain = ?e, "the users service did not end the session");
    }
    let mut gone = cookie(SESSION_COOKIE, String::new(), state.settings.secure_cookies, None);
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .cookie(gone)
        .finish())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/users/1?x=2")), "/users/1?x=2");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
