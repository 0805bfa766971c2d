//! What the in-process web tests share: the application (`haven_testkit::app::TestApp`) and an
//! in-process browser.
#![allow(clippy::unwrap_used, dead_code)] // test support; each test file uses part of it

pub mod browser;
pub mod uploads;

pub use haven_testkit::app::TestApp;
