//! The catalogue's core: fields that parse once (`product`, each error an [`product::Invalid`]),
//! the requests they come in (`requests`) and the writes with their per-operation errors
//! (`catalogue`).
pub mod catalogue;
pub mod product;
pub mod requests;
