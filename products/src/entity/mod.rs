//! sea-orm entities of the products database.
pub mod products;
