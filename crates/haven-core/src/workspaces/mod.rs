//! Workspaces: where people work on an asset's data inside the garden. So far its drives
//! ([`drives`]) and the application catalogue ([`catalogue`]); sessions build on them.

pub mod catalogue;
pub mod drives;
