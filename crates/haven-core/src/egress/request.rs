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

use serde::{Deserialize, Serialize};

use super::checks::{FileReport, Verdict};

/// A file pinned into a request: copied out of the outputs area when it was added (sealed in
/// the blob store as `object`), with its size, SHA-256 and the automated checks' report on
/// exactly those bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pinned {
    pub name: String,
    /// The group it belongs to (see [`Group`]).
    pub group: String,
    pub bytes: u64,
    pub sha256: String,
    /// Where in the outputs area it was copied from.
    #[serde(default)]
    pub source: String,
    /// The sealed copy's object id.
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub report: Option<FileReport>,
}

impl Pinned {
    /// The automated checks' verdict (review when there is no report).
    pub fn verdict(&self) -> Verdict {
        self.report.as_ref().map_or(Verdict::Review, |r| r.verdict)
    }
}

/// Files that belong together, described by their author: what they are, and the disclosure
/// controls applied to them (suppression, rounding, …), which checkers read beside the files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub description: String,
    pub controls: String,
}

/// Who acts: a user id, what they are, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    /// Holds the output-checker role.
    pub checker: bool,
    /// The asset's Information Asset Owner.
    pub iao: bool,
    /// Now, in microseconds since the epoch.
    pub at_us: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// One entry of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub turn: u32,
    pub actor: String,
    pub what: String,
    #[serde(default)]
    pub at_us: i64,
}

/// A vote: by whom, in which turn, what, why, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub checker: String,
    pub turn: u32,
    pub decision: Decision,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub at_us: i64,
}

/// A checker's verdict on a file in place of the automated one, with their reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub turn: u32,
    pub file: String,
    pub verdict: Verdict,
    pub by: String,
    pub reason: String,
    pub at_us: i64,
}

/// A comment on a group (or on the request as a whole when `group` is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub turn: u32,
    pub group: String,
    pub author: String,
    /// Seen by output checkers (and the IAO) only, never by the request's author or members.
    pub checkers_only: bool,
    pub text: String,
    pub at_us: i64,
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
    #[error("this needs a reason: say why, for the record")]
    NoReason,
    #[error(
        "describe the group {0:?} and the disclosure controls applied to it (or say none were needed) before submitting"
    )]
    Undescribed(String),
    #[error(
        "{0} failed its automated checks: it cannot be approved unless a checker overrides the verdict with a reason, or it is taken out"
    )]
    Failing(String),
    #[error("only the request's authors and its reviewers may comment, and only reviewers privately")]
    NoComment,
    #[error("this asset's data is not identifiable: the IAO's approval is not needed (output checkers decide)")]
    NotNeeded,
}

/// What every state carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Common {
    pub id: String,
    pub asset: String,
    pub title: String,
    pub author: String,
    /// Others who may edit the request with the author (and so may not review it).
    pub members: BTreeSet<String>,
    pub identifiable: bool,
    /// Approvals needed in a turn.
    pub required: u8,
    pub turn: u32,
    pub groups: Vec<Group>,
    pub files: Vec<Pinned>,
    pub votes: Vec<Vote>,
    #[serde(default)]
    pub overrides: Vec<Override>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// Who approved for the IAO in the current turn.
    pub iao_approval: Option<String>,
    pub history: Vec<Event>,
}

impl Common {
    fn log(&mut self, actor: &Actor, what: impl Into<String>) {
        self.history.push(Event { turn: self.turn, actor: actor.user.clone(), what: what.into(), at_us: actor.at_us });
    }

    /// Whether `user` is the author or a member (who may edit, and never review).
    pub fn is_member(&self, user: &str) -> bool {
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

    /// A file's verdict now: the last override in this turn, else the automated one.
    pub fn verdict_of(&self, file: &Pinned) -> Verdict {
        self.overrides
            .iter()
            .rev()
            .find(|o| o.turn == self.turn && o.file == file.name)
            .map_or_else(|| file.verdict(), |o| o.verdict)
    }

    /// The group called `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Which comments `viewer` sees: all, for a reviewer; the public ones, for the authors.
    pub fn visible_comments(&self, reviewer: bool) -> impl Iterator<Item = &Comment> {
        self.comments.iter().filter(move |c| reviewer || !c.checkers_only)
    }
}

macro_rules! states {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $( $(#[$doc])* #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)] pub struct $name(Common);
           impl $name { pub fn common(&self) -> &Common { &self.0 } } )*
        /// A request in any state (as stored and loaded).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "state", content = "request", rename_all = "snake_case")]
        pub enum Request { $($name($name)),* }
        impl Request {
            pub fn common(&self) -> &Common { match self { $(Request::$name(s) => &s.0),* } }
            fn common_mut(&mut self) -> &mut Common { match self { $(Request::$name(s) => &mut s.0),* } }
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

impl Request {
    /// The state's name as stored: `draft`, `in_review`, …
    pub fn state_name(&self) -> &'static str {
        match self {
            Request::Draft(_) => "draft",
            Request::Submitted(_) => "submitted",
            Request::InReview(_) => "in_review",
            Request::Returned(_) => "returned",
            Request::Approved(_) => "approved",
            Request::Rejected(_) => "rejected",
            Request::Released(_) => "released",
            Request::Withdrawn(_) => "withdrawn",
            Request::Revoked(_) => "revoked",
        }
    }

    /// The request as `viewer` may see it: this turn's votes blind until the turn has its N
    /// (their own excepted; the history says that someone voted, not how), and checkers-only
    /// comments only for reviewers (`reviewer`).
    pub fn seen_by(&self, viewer: &str, reviewer: bool) -> Common {
        let mut c = self.common().clone();
        let open = !self.under_review() || c.current_votes().count() >= usize::from(c.required);
        let turn = c.turn;
        if !open {
            c.votes.retain(|v| v.turn != turn || v.checker == viewer);
            for e in c.history.iter_mut().filter(|e| e.turn == turn && e.actor != viewer) {
                if e.what.starts_with("voted to ") {
                    e.what = "voted (how is shown once the turn has its votes)".into();
                }
            }
        }
        c.comments.retain(|x| reviewer || !x.checkers_only);
        c
    }

    /// Whether checkers are deciding it now.
    pub fn under_review(&self) -> bool {
        matches!(self, Request::Submitted(_) | Request::InReview(_))
    }

    /// Comment on a group (`""`: the request as a whole). The authors comment publicly in any
    /// state; a reviewer (an output checker who is not an author, or the IAO) once it has been
    /// submitted, publicly or to checkers only.
    pub fn comment(&mut self, by: &Actor, group: &str, text: &str, checkers_only: bool) -> Result<(), Refusal> {
        let draft = matches!(self, Request::Draft(_));
        let c = self.common_mut();
        let author = c.is_member(&by.user);
        let reviewer = !author && (by.checker || by.iao) && !draft;
        if !(author && !checkers_only || reviewer) {
            return Err(Refusal::NoComment);
        }
        if text.trim().is_empty() {
            return Err(Refusal::NoReason);
        }
        if !group.is_empty() && c.group(group).is_none() {
            return Err(Refusal::NoSuchFile(format!("the group {group:?}")));
        }
        c.comments.push(Comment {
            turn: c.turn,
            group: group.into(),
            author: by.user.clone(),
            checkers_only,
            text: text.trim().into(),
            at_us: by.at_us,
        });
        Ok(())
    }
}

impl Draft {
    /// A new request by `by` on `asset`, needing `required` approvals a turn (never fewer than 2).
    pub fn new(
        id: &str,
        asset: &str,
        title: &str,
        by: &Actor,
        members: BTreeSet<String>,
        identifiable: bool,
        required: u8,
    ) -> Draft {
        let mut c = Common {
            id: id.into(),
            asset: asset.into(),
            title: title.into(),
            author: by.user.clone(),
            members,
            identifiable,
            required: required.max(2),
            turn: 1,
            groups: Vec::new(),
            files: Vec::new(),
            votes: Vec::new(),
            overrides: Vec::new(),
            comments: Vec::new(),
            iao_approval: None,
            history: Vec::new(),
        };
        c.log(by, "created");
        Draft(c)
    }
}

/// Editing, in the two states where the author holds the request.
fn add(c: &mut Common, by: &Actor, file: Pinned) -> Result<(), Refusal> {
    c.editor(by, "add files")?;
    if c.files.iter().any(|f| f.name == file.name) {
        return Err(Refusal::DuplicateName(file.name));
    }
    if c.group(&file.group).is_none() {
        c.groups.push(Group { name: file.group.clone(), description: String::new(), controls: String::new() });
    }
    c.log(by, format!("added {} to {} ({} bytes, sha256 {})", file.name, file.group, file.bytes, file.sha256));
    c.files.push(file);
    Ok(())
}

fn describe(c: &mut Common, by: &Actor, group: Group) -> Result<(), Refusal> {
    c.editor(by, "describe groups")?;
    c.log(by, format!("described the group {}", group.name));
    match c.groups.iter_mut().find(|g| g.name == group.name) {
        Some(g) => *g = group,
        None => c.groups.push(group),
    }
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
    let undescribed = |g: &&Group| {
        (g.description.trim().is_empty() || g.controls.trim().is_empty()) && c.files.iter().any(|f| f.group == g.name)
    };
    if let Some(g) = c.groups.iter().find(undescribed) {
        return Err(Refusal::Undescribed(g.name.clone()));
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
    /// Set a group's description and disclosure controls (making the group if new).
    pub fn describe(mut self, by: &Actor, group: Group) -> Result<Draft, Refusal> {
        describe(&mut self.0, by, group)?;
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
    /// Set a group's description and disclosure controls (making the group if new).
    pub fn describe(mut self, by: &Actor, group: Group) -> Result<Returned, Refusal> {
        describe(&mut self.0, by, group)?;
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

fn vote(mut c: Common, by: &Actor, decision: Decision, reason: &str) -> Result<AfterVote, Refusal> {
    c.reviewer(by)?;
    if c.current_votes().any(|v| v.checker == by.user) || c.iao_approval.as_deref() == Some(by.user.as_str()) {
        return Err(Refusal::AlreadyVoted(by.user.clone()));
    }
    if decision == Decision::Approve {
        if let Some(f) = c.files.iter().find(|f| c.verdict_of(f) == Verdict::Fail) {
            return Err(Refusal::Failing(f.name.clone()));
        }
    } else if reason.trim().is_empty() {
        return Err(Refusal::NoReason);
    }
    let reason = reason.trim().to_string();
    c.votes.push(Vote { checker: by.user.clone(), turn: c.turn, decision, reason, at_us: by.at_us });
    c.log(by, format!("voted to {}", decision.as_str()));
    Ok(settle(c, by.at_us))
}

fn override_verdict(c: &mut Common, by: &Actor, file: &str, verdict: Verdict, reason: &str) -> Result<(), Refusal> {
    c.reviewer(by)?;
    if !c.files.iter().any(|f| f.name == file) {
        return Err(Refusal::NoSuchFile(file.into()));
    }
    if reason.trim().is_empty() {
        return Err(Refusal::NoReason);
    }
    c.overrides.push(Override {
        turn: c.turn,
        file: file.into(),
        verdict,
        by: by.user.clone(),
        reason: reason.trim().into(),
        at_us: by.at_us,
    });
    c.log(by, format!("set the verdict on {file} to {}: {}", verdict.as_str(), reason.trim()));
    Ok(())
}

/// Approved once N checkers approved (and the IAO, for an identifiable asset); rejected once N
/// rejected; in review otherwise (a split vote waits for another checker).
fn settle(mut c: Common, at_us: i64) -> AfterVote {
    let required = usize::from(c.required);
    if c.count(Decision::Approve) >= required && (!c.identifiable || c.iao_approval.is_some()) {
        c.history.push(Event { turn: c.turn, actor: "haven".into(), what: "approved".into(), at_us });
        AfterVote::Approved(Approved(c))
    } else if c.count(Decision::Reject) >= required {
        c.history.push(Event { turn: c.turn, actor: "haven".into(), what: "rejected".into(), at_us });
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

fn iao_approve(mut c: Common, by: &Actor) -> Result<AfterVote, Refusal> {
    if !by.iao {
        return Err(Refusal::NotIao);
    }
    if !c.identifiable {
        return Err(Refusal::NotNeeded);
    }
    if c.is_member(&by.user) {
        return Err(Refusal::OwnRequest(by.user.clone()));
    }
    // One person counts once: an IAO who also checks votes or approves for the IAO, not both.
    if c.current_votes().any(|v| v.checker == by.user) {
        return Err(Refusal::AlreadyVoted(by.user.clone()));
    }
    if let Some(f) = c.files.iter().find(|f| c.verdict_of(f) == Verdict::Fail) {
        return Err(Refusal::Failing(f.name.clone()));
    }
    c.iao_approval = Some(by.user.clone());
    c.log(by, "approved for the IAO");
    Ok(settle(c, by.at_us))
}

impl Submitted {
    /// The IAO's approval, needed besides the checkers' for an identifiable asset.
    pub fn iao_approve(self, by: &Actor) -> Result<AfterVote, Refusal> {
        iao_approve(self.0, by)
    }
    /// A checker's vote; a rejection needs a reason.
    pub fn vote(self, by: &Actor, decision: Decision, reason: &str) -> Result<AfterVote, Refusal> {
        vote(self.0, by, decision, reason)
    }
    /// A checker's verdict on a file in place of the automated one, with a reason.
    pub fn override_verdict(
        mut self,
        by: &Actor,
        file: &str,
        verdict: Verdict,
        reason: &str,
    ) -> Result<Submitted, Refusal> {
        override_verdict(&mut self.0, by, file, verdict, reason)?;
        Ok(self)
    }
    pub fn return_for_changes(self, by: &Actor, reason: &str) -> Result<Returned, Refusal> {
        give_back(self.0, by, reason)
    }
    pub fn withdraw(self, by: &Actor) -> Result<Withdrawn, Refusal> {
        withdraw(self.0, by)
    }
}

impl InReview {
    /// A checker's vote; a rejection needs a reason.
    pub fn vote(self, by: &Actor, decision: Decision, reason: &str) -> Result<AfterVote, Refusal> {
        vote(self.0, by, decision, reason)
    }
    /// A checker's verdict on a file in place of the automated one, with a reason.
    pub fn override_verdict(
        mut self,
        by: &Actor,
        file: &str,
        verdict: Verdict,
        reason: &str,
    ) -> Result<InReview, Refusal> {
        override_verdict(&mut self.0, by, file, verdict, reason)?;
        Ok(self)
    }
    /// The IAO's approval, needed besides the checkers' for an identifiable asset.
    pub fn iao_approve(self, by: &Actor) -> Result<AfterVote, Refusal> {
        iao_approve(self.0, by)
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
        Actor { user: user.into(), checker: user.starts_with("checker"), iao: user.ends_with("iao"), at_us: 1 }
    }

    fn file(name: &str) -> Pinned {
        Pinned {
            name: name.into(),
            group: "tables".into(),
            bytes: 10,
            sha256: format!("{name:0>64}"),
            source: name.into(),
            object: String::new(),
            report: None,
        }
    }

    fn described() -> Group {
        Group { name: "tables".into(), description: "counts by region".into(), controls: "none needed".into() }
    }

    fn draft(identifiable: bool) -> Draft {
        let d = Draft::new("r1", "heart", "Table 1", &who("ada"), BTreeSet::from(["bob".to_string()]), identifiable, 2);
        d.describe(&who("ada"), described()).unwrap()
    }

    #[test]
    fn two_checkers_who_are_not_the_authors_approve_then_one_releases() {
        let r = draft(false).add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap();
        // The author and a member may not review; a non-checker may not.
        assert_eq!(r.clone().vote(&who("bob"), Decision::Approve, "").unwrap_err(), Refusal::OwnRequest("bob".into()));
        assert_eq!(r.clone().vote(&who("eve"), Decision::Approve, "").unwrap_err(), Refusal::NotChecker("eve".into()));
        let AfterVote::InReview(r) = r.vote(&who("checker1"), Decision::Approve, "").unwrap() else { panic!() };
        assert_eq!(r.visible_votes("checker2").len(), 0, "blind until both voted");
        assert_eq!(r.visible_votes("checker1").len(), 1);
        assert_eq!(
            r.clone().vote(&who("checker1"), Decision::Approve, "").unwrap_err(),
            Refusal::AlreadyVoted("checker1".into())
        );
        let AfterVote::Approved(r) = r.vote(&who("checker2"), Decision::Approve, "").unwrap() else { panic!() };
        assert_eq!(r.clone().release(&who("ada")).unwrap_err(), Refusal::OwnRequest("ada".into()));
        let released = r.release(&who("checker3")).unwrap();
        let revoked = released.revoke(&who("checker1"), "a cell was mislabelled").unwrap();
        let what: Vec<&str> = revoked.common().history.iter().map(|e| e.what.as_str()).collect();
        assert_eq!((what[0], what[1], what[3]), ("created", "described the group tables", "submitted"));
        assert!(what[2].starts_with("added t.csv to tables (10 bytes, sha256 "), "{what:?}");
        assert!(what.last().unwrap().starts_with("revoked"));
    }

    fn failing(name: &str) -> Pinned {
        let mut f = file(name);
        f.report = Some(
            crate::egress::checks::check(name, &b"region,n\nNorth,3\nSouth,40\n"[..], &Default::default()).unwrap(),
        );
        assert_eq!(f.verdict(), Verdict::Fail);
        f
    }

    #[test]
    fn a_failing_file_is_approved_only_after_a_checker_overrides_it_with_a_reason() {
        let r = draft(false).add(&who("ada"), failing("t.csv")).unwrap().submit(&who("ada")).unwrap();
        assert_eq!(
            r.clone().vote(&who("checker1"), Decision::Approve, "").unwrap_err(),
            Refusal::Failing("t.csv".into())
        );
        assert_eq!(r.clone().vote(&who("checker1"), Decision::Reject, " ").unwrap_err(), Refusal::NoReason);
        // Neither the author nor a reasonless checker overrides.
        assert!(r.clone().override_verdict(&who("ada"), "t.csv", Verdict::Pass, "fine").is_err());
        assert_eq!(
            r.clone().override_verdict(&who("checker1"), "t.csv", Verdict::Pass, "").unwrap_err(),
            Refusal::NoReason
        );
        let r = r
            .override_verdict(&who("checker1"), "t.csv", Verdict::Review, "3 is a count of sites, not people")
            .unwrap();
        assert_eq!(r.common().verdict_of(&r.common().files[0]), Verdict::Review);
        let AfterVote::InReview(r) = r.vote(&who("checker1"), Decision::Approve, "").unwrap() else { panic!() };
        let AfterVote::Approved(_) = r.vote(&who("checker2"), Decision::Approve, "").unwrap() else { panic!() };
    }

    #[test]
    fn a_turns_override_does_not_carry_into_the_next() {
        let r = draft(false).add(&who("ada"), failing("t.csv")).unwrap().submit(&who("ada")).unwrap();
        let r = r.override_verdict(&who("checker1"), "t.csv", Verdict::Pass, "sites").unwrap();
        let back = r.return_for_changes(&who("checker2"), "label the column").unwrap().resubmit(&who("ada")).unwrap();
        assert_eq!(back.common().verdict_of(&back.common().files[0]), Verdict::Fail);
    }

    #[test]
    fn groups_are_described_before_submission() {
        let d = Draft::new("r2", "heart", "T", &who("ada"), BTreeSet::new(), false, 2);
        let d = d.add(&who("ada"), file("t.csv")).unwrap();
        assert_eq!(d.clone().submit(&who("ada")).unwrap_err(), Refusal::Undescribed("tables".into()));
        let half = Group { controls: String::new(), ..described() };
        assert!(d.clone().describe(&who("ada"), half).unwrap().submit(&who("ada")).is_err());
        assert!(d.clone().describe(&who("eve"), described()).is_err());
        assert!(d.describe(&who("ada"), described()).unwrap().submit(&who("ada")).is_ok());
    }

    #[test]
    fn checkers_comment_privately_authors_never_do_and_only_see_public_ones() {
        let mut r: Request = draft(false).into();
        assert_eq!(
            r.comment(&who("checker1"), "", "early", false).unwrap_err(),
            Refusal::NoComment,
            "a draft is the authors'"
        );
        r.comment(&who("ada"), "tables", "see the note", false).unwrap();
        assert_eq!(r.comment(&who("ada"), "", "x", true).unwrap_err(), Refusal::NoComment);
        let Request::Draft(d) = r else { panic!() };
        let mut r: Request = d.add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap().into();
        r.comment(&who("checker1"), "tables", "row 4 looks small", true).unwrap();
        r.comment(&who("checker1"), "tables", "please round", false).unwrap();
        r.comment(&who("iao"), "", "fine by me", false).unwrap();
        assert!(r.comment(&who("eve"), "", "hi", false).is_err(), "not a checker");
        assert!(r.comment(&who("checker1"), "nope", "hi", false).is_err(), "no such group");
        let c = r.common();
        assert_eq!(c.visible_comments(false).count(), 3);
        assert_eq!(c.visible_comments(true).count(), 4);
        assert!(c.visible_comments(false).all(|c| !c.checkers_only));
    }

    #[test]
    fn votes_stay_blind_in_every_view_until_the_turn_has_them_all() {
        let r = draft(false).add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap();
        let AfterVote::InReview(r) = r.vote(&who("checker1"), Decision::Reject, "row 3").unwrap() else { panic!() };
        let r = Request::from(r);
        for viewer in ["ada", "checker2"] {
            let seen = r.seen_by(viewer, viewer.starts_with("checker"));
            assert!(seen.votes.is_empty(), "{viewer}");
            assert!(seen.history.iter().all(|e| !e.what.contains("reject")), "{viewer}: {:?}", seen.history);
        }
        assert_eq!(r.seen_by("checker1", true).votes.len(), 1, "one's own vote");
        let Request::InReview(r) = r else { panic!() };
        let AfterVote::InReview(r) = r.vote(&who("checker2"), Decision::Approve, "").unwrap() else { panic!() };
        assert_eq!(Request::from(r).seen_by("ada", false).votes.len(), 2, "split: shared, a third decides");
    }

    #[test]
    fn an_iao_who_also_checks_counts_once_and_approves_only_identifiable_data() {
        let r = draft(true).add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap();
        let AfterVote::InReview(r) = r.vote(&who("checker-iao"), Decision::Approve, "").unwrap() else { panic!() };
        let refused = r.clone().iao_approve(&who("checker-iao")).unwrap_err();
        assert_eq!(refused, Refusal::AlreadyVoted("checker-iao".into()));
        let plain = draft(false).add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap();
        assert_eq!(plain.iao_approve(&who("iao")).unwrap_err(), Refusal::NotNeeded);
        let other = draft(true).add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap();
        let AfterVote::InReview(other) = other.iao_approve(&who("checker-iao")).unwrap() else { panic!() };
        let again = other.vote(&who("checker-iao"), Decision::Approve, "").unwrap_err();
        assert_eq!(again, Refusal::AlreadyVoted("checker-iao".into()));
    }

    #[test]
    fn a_request_reads_back_as_it_was_stored() {
        let r: Request = draft(true).add(&who("ada"), failing("t.csv")).unwrap().submit(&who("ada")).unwrap().into();
        let text = serde_json::to_string(&r).unwrap();
        let back: Request = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.state_name(), "submitted");
    }

    #[test]
    fn an_identifiable_asset_needs_its_iao_and_a_return_starts_a_new_turn() {
        let r = draft(true).add(&who("ada"), file("t.csv")).unwrap().submit(&who("ada")).unwrap();
        let AfterVote::InReview(r) = r.vote(&who("checker1"), Decision::Approve, "").unwrap() else { panic!() };
        let AfterVote::InReview(r) = r.vote(&who("checker2"), Decision::Approve, "").unwrap() else { panic!() };
        assert_eq!(r.visible_votes("checker2").len(), 2, "shared once both voted");
        assert_eq!(r.clone().iao_approve(&who("checker1")).unwrap_err(), Refusal::NotIao);
        let back = r.return_for_changes(&who("checker1"), "round row 4").unwrap();
        let back = back.remove(&who("ada"), "t.csv").unwrap().add(&who("ada"), file("t2.csv")).unwrap();
        let again = back.resubmit(&who("ada")).unwrap();
        assert_eq!(again.common().turn, 2);
        assert_eq!(again.common().current_votes().count(), 0, "the last turn's votes do not count");
        let AfterVote::InReview(r) = again.vote(&who("checker1"), Decision::Approve, "").unwrap() else { panic!() };
        let AfterVote::InReview(r) = r.vote(&who("checker2"), Decision::Approve, "").unwrap() else { panic!() };
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

    /// `checker-iao` is the IAO holding the checker role too.
    const PEOPLE: [&str; 8] = ["ada", "bob", "checker1", "checker2", "checker3", "iao", "checker-iao", "eve"];

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
                s.vote(&a(*i), if *y { Decision::Approve } else { Decision::Reject }, "why").map(after)
            }
            (Request::Submitted(s), Try::Return(i)) => s.return_for_changes(&a(*i), "why").map(Into::into),
            (Request::Submitted(s), Try::Withdraw(i)) => s.withdraw(&a(*i)).map(Into::into),
            (Request::InReview(s), Try::Vote(i, y)) => {
                s.vote(&a(*i), if *y { Decision::Approve } else { Decision::Reject }, "why").map(after)
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
                        let iao = c.iao_approval.as_deref().unwrap_or_default();
                        prop_assert!(iao.ends_with("iao"), "{:?}", c.iao_approval);
                        prop_assert!(!approvers.contains(iao), "one person counted twice: {}", iao);
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
