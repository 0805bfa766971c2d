//! Workspaces: where people work on an asset's data inside the garden. So far its drives
//! ([`drives`]); the application catalogue and sessions build on them.

pub mod drives;
