//! An output request's life, as a typed state machine: each state is its own type, and a
//! transition is a method of the state it leaves, taking the actor and giving the state it
//! enters (or a refusal that says why). A transition that does not exist cannot be written, and
//! one that exists checks who may take it: the rules live here, not in a page.
//!
//! ```text
//! Draft ──submit──> Submitted ──vote──> InReview ──(N approvals [+ IAO])──> Approved ──release──> Released ──revoke──> Revoked
//!   │                  │  │                │  │                                                     (no more downloads)
//!   │                  │  └──return──┐     │  └──(N rejections)──> Rejected
//!   │                  │             v     v
//!   │                  │          Returned ──resubmit──> Submitted  (a new turn: earlier votes stay in the history, not in the count)
//!   └──────withdraw────┴──────────────┴──> Withdrawn
//! ```
//!
//! - Only the author (or a member of the request) edits, and only in Draft or Returned: once
//!   submitted, the files and their SHA-256 are fixed for the turn.
//! - Checkers are never the author nor a member of the request. Each votes once per turn;
//!   votes are blind until the turn has its N votes (see [`InReview::visible_votes`]).
//! - Approval needs N approvals by distinct checkers in the current turn (N = 2 unless the
//!   service sets more) and, for an identifiable asset, the IAO's approval too.
//! - Every transition appends to the history, which nothing removes.

use std::collections::BTreeSet;

use serde::Serialize;

/// A file pinned into a request: its name, size and SHA-256 when it was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pinned {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Who acts: a user id, and what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    /// Holds the output-checker role.
    pub checker: bool,
    /// The asset's Information Asset Owner.
    pub iao: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// One entry of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub turn: u32,
    pub actor: String,
    pub what: String,
}

/// A vote: by whom, in which turn, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vote {
    pub checker: String,
    pub turn: u32,
    pub decision: Decision,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only the request's author or its members may {0}")]
    NotAuthor(&'static str),
    #[error("output checkers review requests; {0} is not one")]
    NotChecker(String),
    #[error("{0} is the author or a member of this request, and may not review it")]
    OwnRequest(String),
    #[error("{0} has already voted in this turn")]
    AlreadyVoted(String),
    #[error("only the asset's IAO may approve for an identifiable asset")]
    NotIao,
    #[error("a request needs at least one file")]
    Empty,
    #[error("{0} is already in the request")]
    DuplicateName(String),
    #[error("{0} is not in the request")]
    NoSuchFile(String),
    #[error("a return for changes needs a reason for the author")]
    NoReason,
}

/// What every state carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Common {
    pub id: String,
    pub author: String,
    /// Others who may edit the request with the author (and so may not review it).
    pub members: BTreeSet<String>,
    pub identifiable: bool,
    /// Approvals needed in a turn.
    pub required: u8,
    pub turn: u32,
    pub files: Vec<Pinned>,
    pub votes: Vec<Vote>,
    /// Who approved for the IAO in the current turn.
    pub iao_approval: Option<String>,
    pub history: Vec<Event>,
}

impl Common {
    fn log(&mut self, actor: &Actor, what: impl Into<String>) {
        self.history.push(Event { turn: self.turn, actor: actor.user.clone(), what: what.into() });
    }

    fn is_member(&self, user: &str) -> bool {
        self.author == user || self.members.contains(user)
    }

    fn editor(&self, actor: &Actor, what: &'static str) -> Result<(), Refusal> {
        if self.is_member(&actor.user) { Ok(()) } else { Err(Refusal::NotAuthor(what)) }
    }

    fn reviewer(&self, actor: &Actor) -> Result<(), Refusal> {
        if self.is_member(&actor.user) {
            return Err(Refusal::OwnRequest(actor.user.clone()));
        }
        if !actor.checker {
            return Err(Refusal::NotChecker(actor.user.clone()));
        }
        Ok(())
    }

    /// This turn's votes.
    pub fn current_votes(&self) -> impl Iterator<Item = &Vote> {
        self.votes.iter().filter(move |v| v.turn == self.turn)
    }

    fn count(&self, decision: Decision) -> usize {
        self.current_votes().filter(|v| v.decision == decision).count()
    }
}

macro_rules! states {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $( $(#[$doc])* #[derive(Debug, Clone, PartialEq, Serialize)] pub struct $name(Common);
           impl $name { pub fn common(&self) -> &Common { &self.0 } } )*
        /// A request in any state (as stored and loaded).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "state", content = "request", rename_all = "snake_case")]
        pub enum Request { $($name($name)),* }
        impl Request {
            pub fn common(&self) -> &Common { match self { $(Request::$name(s) => &s.0),* } }
            pub fn state(&self) -> &'static str {
                match self { $(Request::$name(_) => stringify!($name)),* }
            }
        }
        $( impl From<$name> for Request { fn from(s: $name) -> Self { Request::$name(s) } } )*
    };
}

states! {
    /// Being put together by its author.
    Draft,
    /// Waiting for checkers.
    Submitted,
    /// Checkers are voting.
    InReview,
    /// Back with the author for changes.
    Returned,
    /// Approved: may be released.
    Approved,
    Rejected,
    /// Its files are downloadable by the author.
    Released,
    Withdrawn,
    /// Released, then no more downloads.
    Revoked,
}

impl Draft {
    pub fn new(id: &str, author: &str, members: BTreeSet<String>, identifiable: bool, required: u8) -> Draft {
        let by = Actor { user: author.into(), checker: false, iao: false };
        let mut c = Common {
            id: id.into(),
            author: author.into(),
            members,
            identifiable,
            required: required.max(2),
            turn: 1,
            files: Vec::new(),
            votes: Vec::new(),
            iao_approval: None,
            history: Vec::new(),
        };
        c.log(&by, "created");
        Draft(c)
    }
}

/// Editing, in the two states where the author holds the request.
fn add(c: &mut Common, by: &Actor, file: Pinned) -> Result<(), Refusal> {
    c.editor(by, "add files")?;
    if c.files.iter().any(|f| f.name == file.name) {
        return Err(Refusal::DuplicateName(file.name));
    }
    c.log(by, format!("added {} ({} bytes, sha256 {})", file.name, file.bytes, file.sha256));
    c.files.push(file);
    Ok(())
}

fn remove(c: &mut Common, by: &Actor, name: &str) -> Result<(), Refusal> {
    c.editor(by, "remove files")?;
    let at = c.files.iter().position(|f| f.name == name).ok_or_else(|| Refusal::NoSuchFile(name.into()))?;
    c.files.remove(at);
    c.log(by, format!("removed {name}"));
    Ok(())
}

fn submit(mut c: Common, by: &Actor, what: &str) -> Result<Submitted, Refusal> {
    c.editor(by, "submit")?;
    if c.files.is_empty() {
        return Err(Refusal::Empty);
    }
    c.iao_approval = None;
    c.log(by, what);
    Ok(Submitted(c))
}

fn withdraw(mut c: Common, by: &Actor) -> Result<Withdrawn, Refusal> {
    c.editor(by, "withdraw")?;
    c.log(by, "withdrew");
    Ok(Withdrawn(c))
}

impl Draft {
    pub fn add(mut self, by: &Actor, file: Pinned) -> Result<Draft, Refusal> {
        add(&mut self.0, by, file)?;
        Ok(self)
    }
    pub fn remove(mut self, by: &Actor, name: &str) -> Result<Draft, Refusal> {
        remove(&mut self.0, by, name)?;
        Ok(self)
    }
    pub fn submit(self, by: &Actor) -> Result<Submitted, Refusal> {
        submit(self.0, by, "submitted")
    }
    pub fn withdraw(self, by: &Actor) -> Result<Withdrawn, Refusal> {
        withdraw(self.0, by)
    }
}

impl Returned {
    pub fn add(mut self, by: &Actor, file: Pinned) -> Result<Returned, Refusal> {
        add(&mut self.0, by, file)?;
        Ok(self)
    }
    pub fn remove(mut self, by: &Actor, name: &str) -> Result<Returned, Refusal> {
        remove(&mut self.0, by, name)?;
        Ok(self)
    }
    /// A new turn: earlier turns' votes stay in the history and no longer count.
    pub fn resubmit(mut self, by: &Actor) -> Result<Submitted, Refusal> {
        self.0.editor(by, "resubmit")?;
        self.0.turn += 1;
        submit(self.0, by, "resubmitted")
    }
    pub fn withdraw(self, by: &Actor) -> Result<Withdrawn, Refusal> {
        withdraw(self.0, by)
    }
}

/// What a vote led to.
#[derive(Debug)]
pub enum AfterVote {
    InReview(InReview),
    Approved(Approved),
    Rejected(Rejected),
}

fn vote(mut c: Common, by: &Actor, decision: Decision) -> Result<AfterVote, Refusal> {
    c.reviewer(by)?;
    if c.current_votes().any(|v| v.checker == by.user) {
        return Err(Refusal::AlreadyVoted(by.user.clone()));
    }
    c.votes.push(Vote { checker: by.user.clone(), turn: c.turn, decision });
    c.log(by, format!("voted {decision:?}").to_lowercase());
    Ok(settle(c))
}

/// Approved once N checkers approved (and the IAO, for an identifiable asset); rejected once N
/// rejected; in review otherwise (a split vote waits for another checker).
fn settle(mut c: Common) -> AfterVote {
    let required = usize::from(c.required);
    if c.count(Decision::Approve) >= required && (!c.identifiable || c.iao_approval.is_some()) {
        c.history.push(Event { turn: c.turn, actor: "haven".into(), what: "approved".into() });
        AfterVote::Approved(Approved(c))
    } else if c.count(Decision::Reject) >= required {
        c.history.push(Event { turn: c.turn, actor: "haven".into(), what: "rejected".into() });
        AfterVote::Rejected(Rejected(c))
    } else {
        AfterVote::InReview(InReview(c))
    }
}

fn give_back(mut c: Common, by: &Actor, reason: &str) -> Result<Returned, Refusal> {
    c.reviewer(by)?;
    if reason.trim().is_empty() {
        return Err(Refusal::NoReason);
    }
    c.log(by, format!("returned for changes: {}", reason.trim()));
    Ok(Returned(c))
}

impl Submitted {
    pub fn vote(self, by: &Actor, decision: Decision) -> Result<AfterVote, Refusal> {
        vote(self.0, by, decision)
    }
    pub fn return_for_changes(self, by: &Actor, reason: &str) -> Result<Returned, Refusal> {
        give_back(self.0, by, reason)
    }
    pub fn withdraw(self, by: &Actor) -> Result<Withdrawn, Refusal> {
        withdraw(self.0, by)
    }
}

impl InReview {
    pub fn vote(self, by: &Actor, decision: Decision) -> Result<AfterVote, Refusal> {
        vote(self.0, by, decision)
    }
    /// The IAO's approval, needed besides the checkers' for an identifiable asset.
    pub fn iao_approve(mut self, by: &Actor) -> Result<AfterVote, Refusal> {
        if !by.iao {
            return Err(Refusal::NotIao);
        }
        if self.0.is_member(&by.user) {
            return Err(Refusal::OwnRequest(by.user.clone()));
        }
        self.0.iao_approval = Some(by.user.clone());
        self.0.log(by, "approved for the IAO");
        Ok(settle(self.0))
    }
    pub fn return_for_changes(self, by: &Actor, reason: &str) -> Result<Returned, Refusal> {
        give_back(self.0, by, reason)
    }
    pub fn withdraw(self, by: &Actor) -> Result<Withdrawn, Refusal> {
        withdraw(self.0, by)
    }
    /// The votes `viewer` may see: all of this turn's once it has its N votes, otherwise only
    /// their own (blind review). Earlier turns' are in the history for everyone.
    pub fn visible_votes(&self, viewer: &str) -> Vec<&Vote> {
        let open = self.0.current_votes().count() >= usize::from(self.0.required);
        self.0.current_votes().filter(|v| open || v.checker == viewer).collect()
    }
}

impl Approved {
    /// Makes the files downloadable by the author (the caller re-checks each file's SHA-256
    /// before anything is served).
    pub fn release(mut self, by: &Actor) -> Result<Released, Refusal> {
        self.0.reviewer(by)?;
        self.0.log(by, "released");
        Ok(Released(self.0))
    }
}

impl Released {
    /// No more downloads (what left has left; this stops more copies).
    pub fn revoke(mut self, by: &Actor, reason: &str) -> Result<Revoked, Refusal> {
        if !(by.checker || by.iao) || self.0.is_member(&by.user) {
            return Err(Refusal::NotChecker(by.user.clone()));
        }
        if reason.trim().is_empty() {
            return Err(Refusal::NoReason);
        }
        self.0.log(by, format!("revoked: {}", reason.trim()));
        Ok(Revoked(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn who(user: &str) -> Actor {
        Actor { user: user.into(), checker: user.starts_with("checker"), iao: user == "iao" }
    }

    fn file(name: &str) -> Pinned {
        Pinned { name: name.into(), bytes: 10, sha256: format!("{name:0>64}") }
    }

    fn draft(identifiable: bool) -> Draft {
        Draft::new("r1", "ada", BTreeSet::from(["bob".to_string()]), identifiable, 2)
    }

    #[test]
    fn two_checkers_who_are_not_the_authors_approve_then_one_releases() {
        let r = draft(false).add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap();
        // The author and a member may not review; a non-checker may not.
        assert_eq!(r.clone().vote(&who("bob"), Decision::Approve).unwrap_err(), Refusal::OwnRequest("bob".into()));
        assert_eq!(r.clone().vote(&who("eve"), Decision::Approve).unwrap_err(), Refusal::NotChecker("eve".into()));
        let AfterVote::InReview(r) = r.vote(&who("checker1"), Decision::Approve).unwrap() else { panic!() };
        assert_eq!(r.visible_votes("checker2").len(), 0, "blind until both voted");
        assert_eq!(r.visible_votes("checker1").len(), 1);
        assert_eq!(
            r.clone().vote(&who("checker1"), Decision::Approve).unwrap_err(),
            Refusal::AlreadyVoted("checker1".into())
        );
        let AfterVote::Approved(r) = r.vote(&who("checker2"), Decision::Approve).unwrap() else { panic!() };
        assert_eq!(r.clone().release(&who("ada")).unwrap_err(), Refusal::OwnRequest("ada".into()));
        let released = r.release(&who("checker3")).unwrap();
        let revoked = released.revoke(&who("checker1"), "a cell was mislabelled").unwrap();
        let what: Vec<&str> = revoked.common().history.iter().map(|e| e.what.as_str()).collect();
        assert_eq!((what[0], what[2]), ("created", "submitted"));
        assert!(what[1].starts_with("added t.csv (10 bytes, sha256 "), "{what:?}");
        assert!(what.last().unwrap().starts_with("revoked"));
    }

    #[test]
    fn an_identifiable_asset_needs_its_iao_and_a_return_starts_a_new_turn() {
        let r = draft(true).add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap();
        let AfterVote::InReview(r) = r.vote(&who("checker1"), Decision::Approve).unwrap() else { panic!() };
        let AfterVote::InReview(r) = r.vote(&who("checker2"), Decision::Approve).unwrap() else { panic!() };
        assert_eq!(r.visible_votes("checker2").len(), 2, "shared once both voted");
        assert_eq!(r.clone().iao_approve(&who("checker1")).unwrap_err(), Refusal::NotIao);
        let back = r.return_for_changes(&who("checker1"), "round row 4").unwrap();
        let back = back.remove(&who("ada"), "t.csv").unwrap().add(&who("ada"), file("t2.csv")).unwrap();
        let again = back.resubmit(&who("ada")).unwrap();
        assert_eq!(again.common().turn, 2);
        assert_eq!(again.common().current_votes().count(), 0, "the last turn's votes do not count");
        let AfterVote::InReview(r) = again.vote(&who("checker1"), Decision::Approve).unwrap() else { panic!() };
        let AfterVote::InReview(r) = r.vote(&who("checker2"), Decision::Approve).unwrap() else { panic!() };
        assert!(matches!(r.iao_approve(&who("iao")).unwrap(), AfterVote::Approved(_)));
    }

    /// Everything anyone could try, in any order.
    #[derive(Debug, Clone)]
    enum Try {
        Add(usize, u8),
        Remove(usize, u8),
        Submit(usize),
        Vote(usize, bool),
        Return(usize),
        Iao(usize),
        Release(usize),
        Withdraw(usize),
        Revoke(usize),
    }

    const PEOPLE: [&str; 7] = ["ada", "bob", "checker1", "checker2", "checker3", "iao", "eve"];

    fn tries() -> impl Strategy<Value = Try> {
        let p = 0..PEOPLE.len();
        prop_oneof![
            (p.clone(), 0u8..3).prop_map(|(a, f)| Try::Add(a, f)),
            (p.clone(), 0u8..3).prop_map(|(a, f)| Try::Remove(a, f)),
            p.clone().prop_map(Try::Submit),
            (p.clone(), any::<bool>()).prop_map(|(a, y)| Try::Vote(a, y)),
            p.clone().prop_map(Try::Return),
            p.clone().prop_map(Try::Iao),
            p.clone().prop_map(Try::Release),
            p.clone().prop_map(Try::Withdraw),
            p.prop_map(Try::Revoke),
        ]
    }

    fn step(r: Request, t: &Try) -> Request {
        let a = |i: usize| who(PEOPLE[i]);
        let f = |n: u8| file(&format!("f{n}.csv"));
        let after = |v: AfterVote| match v {
            AfterVote::InReview(s) => Request::from(s),
            AfterVote::Approved(s) => s.into(),
            AfterVote::Rejected(s) => s.into(),
        };
        let kept = r.clone();
        let next: Result<Request, Refusal> = match (r, t) {
            (Request::Draft(s), Try::Add(i, n)) => s.add(&a(*i), f(*n)).map(Into::into),
            (Request::Draft(s), Try::Remove(i, n)) => s.remove(&a(*i), &format!("f{n}.csv")).map(Into::into),
            (Request::Draft(s), Try::Submit(i)) => s.submit(&a(*i)).map(Into::into),
            (Request::Draft(s), Try::Withdraw(i)) => s.withdraw(&a(*i)).map(Into::into),
            (Request::Returned(s), Try::Add(i, n)) => s.add(&a(*i), f(*n)).map(Into::into),
            (Request::Returned(s), Try::Remove(i, n)) => s.remove(&a(*i), &format!("f{n}.csv")).map(Into::into),
            (Request::Returned(s), Try::Submit(i)) => s.resubmit(&a(*i)).map(Into::into),
            (Request::Returned(s), Try::Withdraw(i)) => s.withdraw(&a(*i)).map(Into::into),
            (Request::Submitted(s), Try::Vote(i, y)) => {
                s.vote(&a(*i), if *y { Decision::Approve } else { Decision::Reject }).map(after)
            }
            (Request::Submitted(s), Try::Return(i)) => s.return_for_changes(&a(*i), "why").map(Into::into),
            (Request::Submitted(s), Try::Withdraw(i)) => s.withdraw(&a(*i)).map(Into::into),
            (Request::InReview(s), Try::Vote(i, y)) => {
                s.vote(&a(*i), if *y { Decision::Approve } else { Decision::Reject }).map(after)
            }
            (Request::InReview(s), Try::Iao(i)) => s.iao_approve(&a(*i)).map(after),
            (Request::InReview(s), Try::Return(i)) => s.return_for_changes(&a(*i), "why").map(Into::into),
            (Request::InReview(s), Try::Withdraw(i)) => s.withdraw(&a(*i)).map(Into::into),
            (Request::Approved(s), Try::Release(i)) => s.release(&a(*i)).map(Into::into),
            (Request::Released(s), Try::Revoke(i)) => s.revoke(&a(*i), "why").map(Into::into),
            // Every other pair has no method: it cannot be written.
            (same, _) => Ok(same),
        };
        next.unwrap_or(kept)
    }

    proptest! {
        #[test]
        fn no_release_without_n_approvals_by_non_members_and_no_edit_after_submission(
            identifiable in any::<bool>(),
            plan in proptest::collection::vec(tries(), 1..60),
        ) {
            let mut r: Request = draft(identifiable).into();
            let mut submitted_files: Option<Vec<Pinned>> = None;
            for t in &plan {
                r = step(r, t);
                let c = r.common();
                match &r {
                    Request::Submitted(_) | Request::InReview(_) | Request::Approved(_) | Request::Released(_)
                    | Request::Revoked(_) | Request::Rejected(_) => {
                        // The files of a turn are those it was submitted with.
                        let files = submitted_files.get_or_insert_with(|| c.files.clone());
                        prop_assert_eq!(files, &c.files);
                        prop_assert!(!c.files.is_empty());
                    }
                    _ => submitted_files = None,
                }
                if matches!(r, Request::Approved(_) | Request::Released(_) | Request::Revoked(_)) {
                    let approvers: BTreeSet<&str> = c.current_votes()
                        .filter(|v| v.decision == Decision::Approve).map(|v| v.checker.as_str()).collect();
                    prop_assert!(approvers.len() >= 2, "{:?}", c.history);
                    prop_assert!(approvers.iter().all(|a| !c.is_member(a) && a.starts_with("checker")));
                    if identifiable {
                        prop_assert_eq!(c.iao_approval.as_deref(), Some("iao"));
                    }
                }
                for v in &c.votes {
                    prop_assert!(!c.is_member(&v.checker));
                }
                // The history only grows.
                prop_assert!(c.history.first().is_some_and(|e| e.what == "created"));
            }
        }
    }
}
