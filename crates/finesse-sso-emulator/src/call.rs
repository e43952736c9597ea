//! Calls reaching a signed-in agent as CTI would route them (issue 15): `Emulator::ring`,
//! `answer` and `hang_up`, each moving the agent's state as Finesse does (READY → RESERVED →
//! TALKING → READY) and publishing the Dialogs update and then the User update. The steps
//! are pure functions of the agent, unit-tested; docs/emulator.md ("Calls") has the shapes.

use crate::agent_state::{Agent, Call, State};
use crate::pages::escape;

/// Dialog ids start here (Finesse's are numbers; the value means nothing).
const FIRST_DIALOG_ID: u64 = 16817;

/// A Dialogs update to publish: the verb and the Dialog as it is now.
type Step = Result<(&'static str, Call), String>;

/// An ACD call rings at a READY agent: RESERVED, the Dialog `ALERTING` (POST).
pub(crate) fn ring(a: &mut Agent, id: String, from: &str, to: &str, now: &str) -> Step {
    if a.state != State::Ready {
        return Err(format!(
            "the agent is {}: ACD routes calls only to READY agents",
            a.state.as_str()
        ));
    }
    let call = Call {
        id,
        from: from.to_string(),
        to: to.to_string(),
        extension: a.extension.clone(),
        state: "ALERTING",
        started: now.to_string(),
    };
    a.state = State::Reserved;
    a.state_change_time = now.to_string();
    a.call = Some(call.clone());
    Ok(("POST", call))
}

/// The agent answers the ringing call: TALKING, the Dialog `ACTIVE` (PUT).
pub(crate) fn answer(a: &mut Agent, now: &str) -> Step {
    let (State::Reserved, Some(call)) = (a.state, a.call.as_mut()) else {
        return Err(format!("no call rings at the agent ({})", a.state.as_str()));
    };
    call.state = "ACTIVE";
    let call = call.clone();
    a.state = State::Talking;
    a.state_change_time = now.to_string();
    Ok(("PUT", call))
}

/// The call ends, ringing or answered: the Dialog `DROPPED` is deleted (DELETE) and the agent
/// is READY again (`wrapUpOnIncoming` is OPTIONAL here and nobody asks for wrap-up: no WORK).
pub(crate) fn hang_up(a: &mut Agent, now: &str) -> Step {
    let Some(mut call) = a.call.take().filter(|_| a.on_call()) else {
        return Err(format!("the agent is on no call ({})", a.state.as_str()));
    };
    call.state = "DROPPED";
    a.state = State::Ready;
    a.state_change_time = now.to_string();
    Ok(("DELETE", call))
}

/// The `<Dialog>`, its elements in the order of Cisco's Dialog object.
pub(crate) fn dialog_xml(c: &Call) -> String {
    let (caller, agent) = match c.state {
        "ALERTING" => ("ACTIVE", "ALERTING"),
        s => (s, s),
    };
    let participant = |address: &str, kind: &str, state: &str| {
        format!(
            "<Participant><mediaAddress>{}</mediaAddress><mediaAddressType>{kind}</mediaAddressType>\
             <startTime>{t}</startTime><state>{state}</state><stateCause></stateCause>\
             <stateChangeTime>{t}</stateChangeTime></Participant>",
            escape(address),
            t = escape(&c.started),
        )
    };
    format!(
        "<Dialog><associatedDialogUri></associatedDialogUri><fromAddress>{from}</fromAddress>\
         <id>{id}</id><mediaProperties><DNIS>{to}</DNIS><callType>ACD_IN</callType>\
         <dialedNumber>{to}</dialedNumber><outboundClassification></outboundClassification>\
         </mediaProperties><mediaType>Voice</mediaType><participants>{p1}{p2}</participants>\
         <state>{state}</state><toAddress>{to}</toAddress><uri>/finesse/api/Dialog/{id}</uri></Dialog>",
        from = escape(&c.from),
        to = escape(&c.to),
        id = escape(&c.id),
        p1 = participant(&c.from, "", caller),
        p2 = participant(&c.extension, "AGENT_DEVICE", agent),
        state = c.state,
    )
}

/// Calls, for tests and embedding.
impl crate::Emulator {
    /// An ACD call from `from` to `to` rings at `login_id`, who must be READY: the agent
    /// becomes RESERVED and its sessions get the new Dialog (`ALERTING`). Returns the Dialog id.
    pub fn ring(&self, login_id: &str, from: &str, to: &str) -> Result<String, String> {
        self.call_step(login_id, |a, desk_calls, now| {
            *desk_calls += 1;
            let id = (FIRST_DIALOG_ID + *desk_calls).to_string();
            ring(a, id, from, to, now)
        })
    }

    /// `login_id` answers the ringing call: TALKING, the Dialog `ACTIVE`.
    pub fn answer(&self, login_id: &str) -> Result<String, String> {
        self.call_step(login_id, |a, _, now| answer(a, now))
    }

    /// The call of `login_id` ends (ringing or answered): the Dialog is deleted, READY again.
    pub fn hang_up(&self, login_id: &str) -> Result<String, String> {
        self.call_step(login_id, |a, _, now| hang_up(a, now))
    }

    /// Applies one step to the agent and publishes the Dialogs update, then the User's.
    fn call_step(
        &self,
        login_id: &str,
        step: impl FnOnce(&mut Agent, &mut u64, &str) -> Step,
    ) -> Result<String, String> {
        let now = crate::user_api::finesse_time();
        let (verb, call) = {
            let mut st = self.app.state();
            let desk = &mut st.desktop;
            let a = desk
                .agents
                .get_mut(login_id)
                .filter(|a| a.state != State::Logout)
                .ok_or_else(|| format!("agent {login_id} is not signed in"))?;
            step(a, &mut desk.calls, &now)?
        };
        tracing::info!(
            "call {} of agent {login_id}: {verb} {}",
            call.id,
            call.state
        );
        let update =
            crate::xmpp_stanza::dialog_update(verb, login_id, &call.id, &dialog_xml(&call));
        self.app.xmpp.publish_dialog(login_id, update);
        if let Some(user) = crate::user_api::user_notification(&self.app, login_id) {
            self.app.xmpp.publish_user(login_id, &user, None);
        }
        Ok(call.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> Agent {
        Agent {
            state: State::Ready,
            extension: "1001001".into(),
            ..Agent::default()
        }
    }

    #[test]
    fn ring_answer_hang_up_move_the_agent_as_finesse_does() {
        let mut a = ready();
        let (verb, c) = ring(&mut a, "7".into(), "5551234", "6000", "t1").unwrap();
        assert_eq!(
            (verb, c.state, a.state),
            ("POST", "ALERTING", State::Reserved)
        );
        assert_eq!(
            (c.extension.as_str(), a.state_change_time.as_str()),
            ("1001001", "t1")
        );
        // A second call does not ring at a RESERVED agent.
        assert!(ring(&mut a, "8".into(), "5551234", "6000", "t2").is_err());
        let (verb, c) = answer(&mut a, "t2").unwrap();
        assert_eq!((verb, c.state, a.state), ("PUT", "ACTIVE", State::Talking));
        assert!(answer(&mut a, "t3").is_err(), "already answered");
        let (verb, c) = hang_up(&mut a, "t3").unwrap();
        assert_eq!((verb, c.id.as_str(), c.state), ("DELETE", "7", "DROPPED"));
        assert_eq!((a.state, a.call.as_ref()), (State::Ready, None));
        assert!(hang_up(&mut a, "t4").is_err(), "no call left");
        // A ringing call may end unanswered.
        ring(&mut a, "9".into(), "5551234", "6000", "t5").unwrap();
        assert_eq!(hang_up(&mut a, "t6").unwrap().0, "DELETE");
    }

    #[test]
    fn calls_ring_only_at_ready_agents_and_lock_the_state() {
        for state in [State::Logout, State::NotReady, State::Talking] {
            let mut a = Agent { state, ..ready() };
            assert!(ring(&mut a, "1".into(), "5551234", "6000", "t").is_err());
            assert_eq!(a.state, state);
        }
        // On a call, READY/NOT_READY/LOGOUT are refused (no pendingState here).
        let mut a = ready();
        ring(&mut a, "1".into(), "5551234", "6000", "t").unwrap();
        let codes = crate::reason_codes::ReasonCodes::new(true);
        let rules = crate::agent_state::Rules {
            ucce: false,
            extensions: &[],
            stuck: &[],
            codes,
        };
        for s in ["READY", "NOT_READY", "LOGOUT"] {
            let put = crate::agent_state::Put {
                state: Some(s.into()),
                ..Default::default()
            };
            let e = crate::agent_state::apply(&mut a, &put, &rules, "t").unwrap_err();
            assert_eq!(e.error_type, "Invalid State", "{s}");
        }
        assert_eq!(a.state, State::Reserved);
    }

    #[test]
    fn the_dialog_escapes_what_it_carries() {
        let mut a = ready();
        let (_, c) = ring(&mut a, "1".into(), "<5551>&", "6000", "t").unwrap();
        let x = dialog_xml(&c);
        assert!(
            x.contains("<fromAddress>&lt;5551&gt;&amp;</fromAddress>"),
            "{x}"
        );
        let u = crate::xmpp_stanza::dialog_update("PUT", "1001", "1", &x);
        assert!(u.contains("<source>/finesse/api/Dialog/1</source>"), "{u}");
        assert!(u.starts_with("<Update><data><Dialog>"), "{u}");
        let u = crate::xmpp_stanza::dialog_update("POST", "1001", "1", &x);
        assert!(
            u.contains("<data><dialogs><Dialog>")
                && u.contains("<source>/finesse/api/User/1001/Dialogs</source>"),
            "{u}"
        );
    }
}
