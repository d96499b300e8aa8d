//! The stylesheet and script, embedded in the binary (no CDN, nothing fetched at run time).
use actix_web::http::header;
use actix_web::{web, HttpResponse};

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

/// Mounts `/assets/console.css` and `/assets/console.js`.
pub fn config_assets(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/assets/console.css",
        web::get().to(|| async { asset("text/css; charset=utf-8", CSS) }),
    )
    .route(
        "/assets/console.js",
        web::get().to(|| async { asset("text/javascript; charset=utf-8", JS) }),
    );
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}
