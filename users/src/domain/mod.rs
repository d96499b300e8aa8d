//! Types that parse external input once ("parse, don't validate"): a value of these types is
//! valid by construction, and every parse error names the offending field.
pub mod action;
pub mod email;
pub mod limits;
pub mod password;
pub mod profile;
