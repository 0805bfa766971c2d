//! File Transfer: resumable (tus 1.0) uploads into an asset's arrivals area. This module holds
//! the protocol's vocabulary ([`tus`]) and the rules for the names files arrive with
//! ([`names`]); both are pure, so that every header a client can send is checked in one place
//! and tested without a server.

pub mod arrivals;
pub mod links;
pub mod names;
pub mod scan;
pub mod store;
pub mod tus;
pub mod uploads;
