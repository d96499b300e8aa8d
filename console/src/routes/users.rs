//! Users: find an account, see its profile, latest actions and current list with reasons, and
//! simulate an action to watch the list change (the freshness demo).
use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{here, html, urlencode, AppState, ConsoleError, Layout, Operator, Part};
use crate::domain::platform::{Activity, Product, Recommendations, User};
use crate::domain::views::{list_changed, list_rows, mentioned, name_of, ListRow};
use crate::repository::services::CallError;

/// Actions the simulate panel offers (the users service's action kinds without a value).
const ACTIONS: [&str; 4] = ["view", "click", "add_to_cart", "purchase"];

/// Mounts `/users`, `/users/{id}` and `/users/{id}/simulate`.
pub fn config_user_pages(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(search))
        .route("/users/{id}", web::get().to(user))
        .route("/users/{id}/simulate", web::post().to(simulate));
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    q: String,
    message: Option<String>,
    accounts: Part<Vec<User>>,
    next: Option<String>,
}

/// Finds an account by id or e-mail address; without a query, lists the accounts.
async fn search(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let next_page = here(&req);
    let q = query.q.as_deref().unwrap_or("").trim().to_owned();
    let mut message = None;
    if let Ok(id) = Uuid::parse_str(&q) {
        return Ok(to(&format!("/users/{id}")));
    }
    if q.contains('@') {
        match state.services.user_by_email(operator.token(), &q).await {
            Ok(Some(user)) => return Ok(to(&format!("/users/{}", user.id))),
            Ok(None) => message = Some(format!("No account has the address {q}.")),
            Err(CallError::Unauthorized) => return Err(ConsoleError::SignIn { next: next_page }),
            Err(CallError::Rejected { detail, .. }) => message = Some(detail),
            Err(e) => message = Some(e.to_string()),
        }
    } else if !q.is_empty() {
        message = Some("Search by an account's id or its e-mail address.".to_owned());
    }
    let page = state
        .services
        .users(operator.token(), query.cursor.as_deref(), 25)
        .await;
    let next = page.as_ref().ok().and_then(|p| p.next_cursor.clone());
    html(&UsersPage {
        layout: Layout::new("Users", "users", &operator),
        q,
        message,
        accounts: Part::of(page.map(|p| p.items), &next_page)?,
        next: next.map(|c| format!("/users?cursor={}", urlencode(&c))),
    })
}

/// A 303 to `location` (a local path built here).
fn to(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// One of the user's latest actions.
pub struct ActionRow {
    pub action: String,
    pub product_id: Uuid,
    pub product: String,
    pub at: String,
}

/// The user's list as shown.
pub struct ListView {
    pub source: String,
    pub generated_at: String,
    pub rows: Vec<ListRow>,
}

/// What the simulate panel did.
pub struct Simulated {
    pub action: String,
    pub product: String,
    /// Milliseconds until the list changed, or `None` if it had not within the wait.
    pub changed_after_ms: Option<u128>,
    pub waited_ms: u128,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    id: Uuid,
    profile: Part<User>,
    activity: Part<Option<Activity>>,
    recent: Part<Vec<ActionRow>>,
    list: Part<ListView>,
    can_simulate: bool,
    actions: [&'static str; 4],
    choices: Vec<(Uuid, String)>,
    simulated: Option<Simulated>,
}

async fn user(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let list = state.services.recommendations(operator.token(), id, 10).await;
    render_user(&state, &operator, &here(&req), id, list, None, None).await
}

/// Everything on a user's page; `before` marks the products new since that list.
async fn render_user(
    state: &AppState,
    operator: &Operator,
    next: &str,
    id: Uuid,
    list: Result<Recommendations, CallError>,
    before: Option<&Recommendations>,
    simulated: Option<Simulated>,
) -> Result<HttpResponse, ConsoleError> {
    let services = &state.services;
    let token = operator.token();
    let (profile, activity, recent, catalogue) = tokio::join!(
        services.user(token, id),
        services.activity(token, id),
        services.recent_actions(token, id, 10),
        services.products(None, None, 50),
    );
    if matches!(profile, Err(CallError::NotFound)) {
        return Err(ConsoleError::NotFound("That account"));
    }
    let mut ids: Vec<Uuid> = list.as_ref().map(mentioned).unwrap_or_default();
    if let Ok(recent) = &recent {
        ids.extend(recent.iter().map(|a| a.product_id));
    }
    // Names are a nicety: without the products service the ids are shown.
    let names: HashMap<Uuid, Product> = services.products_by_id(&ids).await.unwrap_or_default();
    let recent = recent.map(|actions| {
        actions
            .into_iter()
            .map(|a| ActionRow {
                action: match a.value {
                    Some(v) => format!("{} ({v})", a.action),
                    None => a.action,
                },
                product_id: a.product_id,
                product: name_of(&names, a.product_id),
                at: a.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            })
            .collect()
    });
    let list = list.map(|l| ListView {
        source: l.source.clone(),
        generated_at: l.generated_at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        rows: list_rows(&l, &names, before),
    });
    let choices = catalogue
        .map(|page| page.items.into_iter().map(|p| (p.id, p.name)).collect())
        .unwrap_or_default();
    html(&UserPage {
        layout: Layout::new("User", "users", operator),
        id,
        profile: Part::of(profile, next)?,
        activity: Part::of(activity, next)?,
        recent: Part::of(recent, next)?,
        list: Part::of(list, next)?,
        can_simulate: services.can_simulate(),
        actions: ACTIONS,
        choices,
        simulated,
    })
}

#[derive(Deserialize)]
pub struct SimulateForm {
    csrf: String,
    product_id: Uuid,
    action: String,
}

/// Posts an action as the user (ingest key), then watches their list until it changes.
async fn simulate(
    state: web::Data<AppState>,
    operator: Operator,
    id: web::Path<Uuid>,
    form: web::Form<SimulateForm>,
) -> Result<HttpResponse, ConsoleError> {
    operator.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let next = format!("/users/{id}");
    let Some(action) = ACTIONS.iter().find(|a| **a == form.action) else {
        return Err(ConsoleError::BadRequest(format!(
            "Unknown action {:?}.",
            form.action
        )));
    };
    let services = &state.services;
    let before = services.recommendations(operator.token(), id, 10).await;
    if let Err(CallError::Unauthorized) = before {
        return Err(ConsoleError::SignIn { next });
    }
    let started = Instant::now();
    let posted = services.post_action(id, form.product_id, action).await;
    let product = services
        .product(form.product_id)
        .await
        .map_or_else(|_| form.product_id.to_string(), |p| p.name);
    if let Err(e) = posted {
        let reason = match e {
            CallError::Forbidden => "the console has no ingest key (console.ingest_key)".to_owned(),
            CallError::NotFound => "the users service does not know this account".to_owned(),
            CallError::Rejected { detail, .. } => detail,
            e @ (CallError::Unauthorized | CallError::Unavailable { .. }) => e.to_string(),
        };
        return Err(ConsoleError::BadRequest(format!(
            "The action was not posted: {reason}."
        )));
    }
    let wait = Duration::from_millis(state.settings.simulate_wait_ms);
    let mut after = services.recommendations(operator.token(), id, 10).await;
    let mut changed_after_ms = None;
    loop {
        let changed = match (&before, &after) {
            (Ok(b), Ok(a)) => list_changed(b, a),
            (Err(_), Ok(_)) => true,
            _ => false,
        };
        if changed {
            changed_after_ms = Some(started.elapsed().as_millis());
            break;
        }
        if started.elapsed() >= wait {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = services.recommendations(operator.token(), id, 10).await;
    }
    let simulated = Simulated {
        action: (*action).to_owned(),
        product,
        changed_after_ms,
        waited_ms: started.elapsed().as_millis(),
    };
    render_user(
        &state,
        &operator,
        &next,
        id,
        after,
        before.as_ref().ok(),
        Some(simulated),
    )
    .await
}
