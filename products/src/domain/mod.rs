//! Types that parse external input once; every parse error names what is wrong.
pub mod product;
