//! Workspaces: where people work on an asset's data inside the garden: its drives ([`drives`]),
//! the application catalogue ([`catalogue`]), and the sessions that run those applications on
//! the drives ([`sessions`]) or as batch jobs ([`jobs`]), and looking into the drives from the browser ([`browse`]).

pub mod browse;
pub mod catalogue;
pub mod drives;
pub mod jobs;
pub mod sessions;
