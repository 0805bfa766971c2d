//! The session sandbox. So far: [`probe`], what isolation this host offers and what sessions
//! will use (`haven sandbox check`). The local session backend (bubblewrap) will live here too.

pub mod probe;
