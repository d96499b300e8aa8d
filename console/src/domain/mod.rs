//! What the console shows: the services' answers as typed records, sessions, and the view
//! models and charts the pages are rendered from. Pure: no I/O here.
pub mod charts;
pub mod overview;
pub mod platform;
pub mod session;
pub mod views;
