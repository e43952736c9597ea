//! Who holds a pipe name: our own agent, another user (a squatter: it could collect the tokens
//! our clients ask for), or nobody. The decision is pure and tested on every platform; the
//! Windows side gathers its facts (`sys::serving_user`, the pipe's owner).

use super::sid::Sid;

/// What opening the pipe's name as a client found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Connected. The serving process's id, its user (from its token, when it can be opened),
    /// and the pipe object's owner (whoever created it; only they, or an administrator, can
    /// set that to anyone else).
    Server {
        pid: Option<u32>,
        user: Result<Sid, String>,
        owner: Result<Sid, String>,
    },
    /// No pipe of that name.
    Nothing,
    /// The pipe's DACL refused us. Never so for our own agent, whose pipe grants the user.
    Refused,
    /// Every instance stayed busy: nobody can tell who holds it.
    Busy,
    /// Opening it failed otherwise (the OS's words).
    Failed(String),
}

/// "process 4242", or what is known when its id could not be read.
fn process(pid: &Option<u32>) -> String {
    match pid {
        Some(p) => format!("process {p}"),
        None => "a process whose id could not be read".into(),
    }
}

/// Who holds the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A process of the current user: our agent.
    Ours,
    /// Someone else; why, in words for the error ("is served by …, not by us (…)").
    Foreign(String),
    /// Nobody.
    Absent,
    /// It exists, but who holds it could not be found out.
    Unknown(String),
}

/// Decides who holds the name. The serving process's user decides when it can be read; only
/// when it cannot (an elevated or protected process we may not open) does the pipe's owner
/// decide. When neither can be read, the server is not ours: a client must never hand a
/// token to a server it could not check.
pub fn judge(me: &Sid, found: &Found) -> Holder {
    match found {
        Found::Server {
            pid,
            user: Ok(user),
            ..
        } => {
            if user == me {
                Holder::Ours
            } else {
                Holder::Foreign(format!(
                    "is served by {} running as {user}, not by us ({me})",
                    process(pid)
                ))
            }
        }
        Found::Server {
            pid,
            user: Err(no_user),
            owner,
        } => match owner {
            Ok(owner) if owner == me => Holder::Ours,
            Ok(owner) => Holder::Foreign(format!(
                "is owned by {owner}, not by us ({me}), and its server ({}) cannot be \
                 checked: {no_user}",
                process(pid)
            )),
            Err(no_owner) => Holder::Foreign(format!(
                "cannot be checked: neither the user of its server ({}: {no_user}) nor its \
                 owner ({no_owner}) could be read",
                process(pid)
            )),
        },
        Found::Refused => Holder::Foreign(
            "refuses us access, so another user created it (our agent's pipe grants the user)"
                .into(),
        ),
        Found::Nothing => Holder::Absent,
        Found::Busy => Holder::Unknown("every instance of it stayed busy".into()),
        Found::Failed(e) => Holder::Unknown(format!("opening it failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> Sid {
        Sid::parse(s).unwrap()
    }

    fn me() -> Sid {
        sid("S-1-5-21-1-2-3-1001")
    }

    fn other() -> Sid {
        sid("S-1-5-21-1-2-3-1002")
    }

    fn server(user: Result<Sid, String>, owner: Result<Sid, String>) -> Found {
        Found::Server {
            pid: Some(4242),
            user,
            owner,
        }
    }

    #[test]
    fn our_own_server_is_ours() {
        assert_eq!(judge(&me(), &server(Ok(me()), Ok(me()))), Holder::Ours);
        // An elevated agent's pipe is owned by Administrators; its process user still decides.
        let admins = Sid::administrators();
        assert_eq!(judge(&me(), &server(Ok(me()), Ok(admins))), Holder::Ours);
        // A server we may not open, on a pipe we created.
        assert_eq!(
            judge(&me(), &server(Err("access denied".into()), Ok(me()))),
            Holder::Ours
        );
    }

    #[test]
    fn another_users_server_is_foreign_and_named() {
        let Holder::Foreign(why) = judge(&me(), &server(Ok(other()), Ok(other()))) else {
            panic!("not foreign");
        };
        assert!(why.contains("process 4242") && why.contains("S-1-5-21-1-2-3-1002"));
        assert!(why.contains("not by us (S-1-5-21-1-2-3-1001)"), "{why}");
        // The server's user decides over the owner when both are known.
        assert!(matches!(
            judge(&me(), &server(Ok(other()), Ok(me()))),
            Holder::Foreign(_)
        ));
        assert!(matches!(
            judge(&me(), &server(Ok(Sid::system()), Ok(me()))),
            Holder::Foreign(_)
        ));
    }

    #[test]
    fn a_server_that_cannot_be_checked_is_not_trusted() {
        let Holder::Foreign(why) = judge(&me(), &server(Err("denied".into()), Ok(other()))) else {
            panic!("not foreign");
        };
        assert!(why.contains("owned by S-1-5-21-1-2-3-1002"), "{why}");
        let Holder::Foreign(why) =
            judge(&me(), &server(Err("denied".into()), Err("no owner".into())))
        else {
            panic!("not foreign");
        };
        assert!(why.contains("denied") && why.contains("no owner"), "{why}");
    }

    #[test]
    fn absent_refused_and_busy() {
        assert_eq!(judge(&me(), &Found::Nothing), Holder::Absent);
        assert!(
            matches!(judge(&me(), &Found::Refused), Holder::Foreign(w) if w.contains("refuses us"))
        );
        assert!(matches!(judge(&me(), &Found::Busy), Holder::Unknown(_)));
        assert!(matches!(
            judge(&me(), &Found::Failed("pipe gone".into())),
            Holder::Unknown(w) if w.contains("pipe gone")
        ));
        // A server whose id cannot be read is still judged by the pipe's owner.
        let found = Found::Server {
            pid: None,
            user: Err("no id".into()),
            owner: Ok(other()),
        };
        assert!(matches!(
            judge(&me(), &found),
            Holder::Foreign(w) if w.contains("whose id could not be read")
        ));
    }
}
